"""YAML configs of R-MONet runs with `key.sub=value` command-line overrides."""

from __future__ import annotations

import copy
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


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict:
    """Defaults <- YAML file <- overrides."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DataError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise DataError(f"config {p} is not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise DataError(f"config {p} must be a mapping")
        cfg = merge(cfg, data)
    for item in overrides or []:
        apply_override(cfg, item)
    check_keys(cfg)
    return cfg


# Sections whose keys are all in DEFAULTS (model keys are checked by the model's constructors).
_CHECKED = ("data", "train", "eval", "loss")


def check_keys(cfg: dict) -> None:
    """Raise DataError on a key that DEFAULTS does not know (top level, data/train/eval/loss, schedule)."""
    unknown = [k for k in cfg if k not in DEFAULTS]
    for section in _CHECKED:
        unknown += [f"{section}.{k}" for k in cfg.get(section) or {} if k not in DEFAULTS[section]]
    schedule = cfg.get("train", {}).get("schedule") or {}
    unknown += [f"train.schedule.{k}" for k in schedule if k not in DEFAULTS["train"]["schedule"]]
    if unknown:
        raise DataError(f"unknown config keys {sorted(unknown)}")
