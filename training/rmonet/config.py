"""YAML configs of R-MONet runs with `key.sub=value` command-line overrides."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
from pathlib import Path

import yaml

from utils.io import DataError

DEFAULTS: dict = {
    # Model widths, `rpn` and `pseudo_boxes` come from the YAML files (the model checks their keys).
    "model": {
        "variant": "unet",
        "num_slots": 6,
        "z_dim": 16,
        "sigma_fg": 0.11,
        "sigma_bg": 0.09,
        "roi_expand_ratio": 0.3,  # ROI Masking expand ratio sigma, on every side of the box
        "confine_masks": True,  # R-MONet: alpha_k only inside the enlarged ROI k (False: ablation)
        "alpha_bias_init": -2.0,  # R-MONet: initial alpha-logit bias (alpha ~ 0.12); None: PyTorch's init
        "background_slot": None,  # None: the method's own (R-MONet last, MONet first); "first"/"last"
        "input_norm": None,  # None or [mean, std] for the attention network's input
        "backbone_norm": "batch",  # ResNet-18 normalisation: batch (paper) or group
    },
    "loss": {"beta": 0.5, "gamma": 0.5, "delta": 1.0, "lambda": 1.0},
    "data": {
        "dataset": "multi_dsprites",
        "source": "procedural",
        "tfrecord": None,
        "cache_dir": None,
        "convert_workers": 0,
        "image_size": 64,
        "num_train": 60000,
        "num_test": 1600,
        "seed": 0,
        "num_workers": 2,
    },
    "train": {
        "batch_size": 64,
        "lr": 1.0e-4,
        "schedule": {"unit": "epoch", "warmup": 10, "cycle": 200, "reset_decay": 0.05},
        "max_epochs": 210,
        "max_iters": None,
        "max_minutes": None,
        # clock of max_minutes and images/s: "wall" (time.time) or "process" (this process's CPU time,
        # all threads: a budget that other jobs on the machine cannot shrink)
        "budget_clock": "wall",
        "precision": "fp32",
        "grad_clip": None,
        "log_every": 50,
        "ckpt_every": 1000,
        "eval_every": 5000,
        "eval_images": 320,
        "seed": 0,
    },
    # ari_slots: "all" (argmax over all K masks, MONet's convention) or "foreground" (over the K-1 foreground
    # masks only); box_score_thresh: detections reported for box AP (the RPN's 0.5).
    "eval": {"batch_size": 64, "num_figures": 8, "ari_slots": "all", "box_score_thresh": 0.5},
    "output_dir": "outputs/rmonet/run",
}


def merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (update or {}).items():
        out[k] = (
            merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
        )
    return out


def apply_override(cfg: dict, item: str) -> None:
    """`a.b.c=value` (value parsed as YAML) -> cfg["a"]["b"]["c"] = value."""
    if "=" not in item:
        raise ValueError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    node = cfg
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = _parse_value(raw)


def _parse_value(raw: str):
    """YAML scalar/list/mapping; also numbers YAML 1.1 leaves as strings (e.g. `1e-3`)."""
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _leaf_keys(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _leaf_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def _model_keys(variant: str) -> dict[str, set[str] | None]:
    """Keys of the `model:` section the model of `variant` implements: key -> sub-keys (None for a value)."""
    from models.rmonet.model import MONET_VARIANTS, MONetBaseline, RMONet, SceneModel
    from models.rmonet.pseudo_boxes import PseudoBoxConfig
    from models.rmonet.rpn import RPNConfig

    internal = {"self", "in_channels", "image_size", "loss_weights", "common"}
    keys: dict[str, set[str] | None] = {"variant": None}
    keys.update({k: None for k in inspect.signature(SceneModel.__init__).parameters if k not in internal})
    cls = MONetBaseline if variant in MONET_VARIANTS else RMONet
    keys.update({k: None for k in inspect.signature(cls.__init__).parameters if k not in internal})
    if cls is RMONet:  # the MONet baselines have no detection branch
        keys["rpn"] = {f.name for f in dataclasses.fields(RPNConfig)}
        keys["pseudo_boxes"] = {f.name for f in dataclasses.fields(PseudoBoxConfig)}
    return keys


def _unknown(key: str, known: list[str], what: str) -> DataError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return DataError(f"{what}: unknown config key {key}{hint}")


def check_config(cfg: dict, what: str = "config") -> None:
    """Raise DataError naming the first key that no part of the code reads (a typo such as
    `train.max_iter`, or an R-MONet detection key on a MONet baseline): such a key would be silently
    ignored."""
    known = _leaf_keys({k: v for k, v in DEFAULTS.items() if k != "model"})
    for key in _leaf_keys({k: v for k, v in cfg.items() if k != "model"}):
        if key not in known:
            raise _unknown(key, known, what)
    model = cfg.get("model")
    if not isinstance(model, dict):
        raise DataError(f"{what}: 'model' must be a mapping")
    allowed = _model_keys(str(model.get("variant")))
    names = [f"model.{k}" for k in allowed]
    names += [f"model.{k}.{s}" for k, sub in allowed.items() for s in sub or ()]
    for k, v in model.items():
        if k not in allowed:
            if k in DEFAULTS["model"] and v == DEFAULTS["model"][k]:  # an R-MONet key left at its default
                continue
            raise _unknown(f"model.{k}", names, what + f" (model.variant {model.get('variant')})")
        if allowed[k] is not None:
            if not isinstance(v, dict):
                raise DataError(f"{what}: model.{k} must be a mapping")
            for sub in v:
                if sub not in allowed[k]:
                    raise _unknown(f"model.{k}.{sub}", names, what)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict:
    """Defaults <- YAML file <- overrides; a key no part of the code reads raises DataError."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DataError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(e, "problem", None) or " ".join(str(e).split())
            raise DataError(f"config {p} is not valid YAML: {problem}{where}") from e
        if not isinstance(data, dict):
            raise DataError(f"config {p} must be a mapping")
        cfg = merge(cfg, data)
    for item in overrides or []:
        apply_override(cfg, item)
    check_config(cfg, f"config {path}" if path is not None else "config")
    return cfg
