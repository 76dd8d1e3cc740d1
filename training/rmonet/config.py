"""YAML configs of R-MONet runs with `key.sub=value` command-line overrides."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from utils.io import DataError

DEFAULTS: dict = {
    "model": {"variant": "unet", "num_slots": 6, "z_dim": 16, "sigma_fg": 0.11, "sigma_bg": 0.09},
    "loss": {"beta": 0.5, "gamma": 0.5, "delta": 1.0, "lambda": 1.0},
    "data": {
        "dataset": "multi_dsprites",
        "source": "procedural",
        "tfrecord": None,
        "cache_dir": None,
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
    "eval": {"batch_size": 64, "num_figures": 8},
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
    return cfg
