"""Typed config of an R-MONet run: defaults <- YAML file <- `key.sub=value` overrides.

Each section is a dataclass declaring every key once, with its default and help: `model` in
`models.rmonet.config`, `loss` in `losses.rmonet`, `data` in `datasets.multi_object`, `train` and `eval`
here. A key that no section declares, or an R-MONet-only key changed on a MONet baseline, raises a DataError
naming it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from datasets.multi_object import DataConfig
from losses.rmonet import LossConfig
from models.rmonet.config import MONET_VARIANTS, RMONET_ONLY, ModelConfig
from training.checkpointing import RESUME_HELP
from utils.config import apply_override, from_mapping, load_yaml, option, to_dict
from utils.io import DataError
from utils.runtime_config import runtime_option


@dataclass
class ScheduleConfig:
    """`train.schedule`: linear warm-up, then cosine annealing with warm restarts (appendix B)."""

    unit: Literal["epoch", "iter"] = option("epoch", "unit of warmup and cycle")
    warmup: float = option(10, "warm-up length", min=0)
    cycle: float = option(200, "cosine decay interval", gt=0)
    reset_decay: float = option(0.05, "factor of the peak learning rate at every restart", gt=0)


@dataclass
class TrainConfig:
    batch_size: int = option(64, "global batch (split across torchrun processes)", min=1)
    lr: float = option(1.0e-4, "Adam learning rate", gt=0)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    max_epochs: float | None = option(210, "training length in epochs (if max_iters is None)", gt=0)
    max_iters: int | None = option(None, "training length in iterations (wins over max_epochs)", min=1)
    max_minutes: float | None = option(
        None, "time budget on budget_clock (also alone: train until it ends)", gt=0)
    budget_clock: Literal["wall", "process"] = option(
        "wall", "clock of max_minutes and images/s: wall, or this process's CPU time (all threads)"
    )
    precision: Literal["fp32", "bf16", "fp16"] = option("fp32", "bf16/fp16: autocast on CUDA")
    grad_clip: float | None = option(None, "max gradient norm; None: no clipping", gt=0)
    log_every: int = option(50, "iterations between train_log.jsonl records", min=1)
    ckpt_every: int = option(1000, "iterations between checkpoints", min=1)
    eval_every: int = option(5000, "iterations between test evaluations (0: only at the end)", min=0)
    eval_images: int = option(320, "test scenes of the evaluations during training", min=1)
    seed: int = runtime_option("seed", "of initialisation and data order")


@dataclass
class EvalConfig:
    batch_size: int = option(64, "evaluation batch")
    num_figures: int = option(8, "scenes in the decomposition figure", min=0)
    ari_slots: Literal["all", "foreground"] = option(
        "all", "ARI argmax over all K masks (MONet's convention) or over the K-1 foreground masks"
    )
    box_score_thresh: float = option(
        0.5, "boxes reported for box AP: the RPN's score threshold", min=0, max=1)


@dataclass
class RMONetConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output_dir: str = runtime_option("output_dir", "checkpoints, logs and figures",
                                     default="outputs/rmonet/run")


# Config keys that are Python keywords, by field name.
_KEYWORD_KEYS = {"lambda_": "lambda"}
# Model keys whose defaults differ from what checkpoints saved before the key existed were trained with: a
# checkpoint's config must name them (or an override must).
SAVED_REQUIRED = ("confine_masks", "alpha_bias_init", "input_norm", "backbone_norm", "background_slot")


def build_config(
    data: dict[str, Any], overrides: list[str] | None = None, what: str = "config", saved: bool = False
) -> RMONetConfig:
    """The config of mapping `data` (a YAML file, or with `saved` a checkpoint's config) with `key.sub=value`
    overrides."""
    data = copy.deepcopy(data)
    for item in overrides or []:
        apply_override(data, item)
    model = data.get("model") or {}
    if saved and isinstance(model, dict):
        rmonet = model.get("variant") not in MONET_VARIANTS
        for key in SAVED_REQUIRED:
            if key not in model and (rmonet or key not in RMONET_ONLY):
                raise DataError(
                    f"{what}: model.{key} missing (a checkpoint from before that key existed: give the value "
                    f"it was trained with, e.g. --set model.{key}=...)"
                )
    loss = data.get("loss")
    if isinstance(loss, dict):
        for name, key in _KEYWORD_KEYS.items():
            if name in loss:
                raise DataError(f"{what}: unknown config key loss.{name} (did you mean loss.{key}?)")
            if key in loss:
                loss[name] = loss.pop(key)
    cfg = from_mapping(RMONetConfig, data, what)
    model, default = cfg.model, ModelConfig()
    if model.variant in MONET_VARIANTS:  # the baselines have no detection branch
        for name in RMONET_ONLY:
            if getattr(model, name) != getattr(default, name):
                raise DataError(f"{what} (model.variant {model.variant}): unknown config key model.{name}")
    return cfg


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RMONetConfig:
    """Defaults <- YAML file `path` (None: none) <- overrides."""
    data = load_yaml(path) if path is not None else {}
    return build_config(data, overrides, f"config {path}" if path is not None else "config")


def config_dict(cfg: RMONetConfig) -> dict[str, Any]:
    """Plain nested dict with the YAML key names (config.json, checkpoints)."""
    out = to_dict(cfg)
    for name, key in _KEYWORD_KEYS.items():
        out["loss"][key] = out["loss"].pop(name)
    return out


@dataclass(frozen=True)
class RMONetRunConfig:
    """The command line of train_rmonet.py: the YAML config, `--set` overrides and run control."""

    config_file: str | None = option(None, "YAML config (configs/rmonet/<dataset>_<variant>.yaml)",
                                     aliases=("--config",), metavar="FILE")
    resume: str | None = option(None, RESUME_HELP, nargs="?", const="auto", metavar="auto|PATH")
    eval_only: bool = option(False, "evaluate the --resume checkpoint on the test split and exit")
    eval: str | None = option(None, "the earlier spelling of --eval_only --resume CKPT", metavar="CKPT")
    eval_dir: str | None = option(
        None, "where --eval_only writes metrics.json and figures (default: CKPT dir/eval)")
    device: str | None = runtime_option("device", "default: cuda if available")
    output_dir: str | None = runtime_option("output_dir", "overrides the config's output_dir")
    overrides: list[str] = option(
        [], "config override, e.g. --set train.max_iters=1000 --set data.source=tfrecord", flags=("--set",),
        action="append", nargs=None, metavar="KEY=VALUE")
