"""Checkpoints of the stage-1 networks, in the layout of the released unMORE files.

A checkpoint is a dict with `model_state_dict`, `optimizer_state_dict`, `iter`, `lr_scheduler_state_dict`
(plus our own extras such as `args`, `rng_state`, `model_config`). Saving is atomic.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.objectness_net import RELEASED_OBJECTNESS
from utils.artifacts import BY_NAME
from utils.checkpoint import unwrap_model
from utils.io import DataError, atomic_torch_save

log = logging.getLogger(__name__)


class _WarningsOnly(logging.LoggerAdapter):
    """This module's logger without its INFO lines: construction messages ("randomly initialised") are noise
    when weights come from a checkpoint right after."""

    def isEnabledFor(self, level: int) -> bool:
        return level >= logging.WARNING and super().isEnabledFor(level)


_QUIET = _WarningsOnly(log, {})

# What to download when a checkpoint is missing, per kind of checkpoint.
CHECKPOINT_HINTS = {
    "center_boundary_model": (
        f"the released unMORE objectness network checkpoint center_boundary_model "
        f"({BY_NAME['center_boundary_model'].url}; README.md#downloads) or train one with "
        f"train_objectness_net.py --train_center_and_boundary",
        "--objectness_resume",
    ),
    "existence_model": (
        f"the released unMORE existence network checkpoint existence_model "
        f"({BY_NAME['existence_model'].url}; README.md#downloads) or train one with "
        f"train_objectness_net.py --train_existence",
        "--binary_classifier_resume",
    ),
    "checkpoint": ("a checkpoint written by train_objectness_net.py", "--resume"),
    "evaluated": ("a checkpoint written by train_objectness_net.py (or a released one)", "--checkpoint"),
}

# Constructor arguments of the released center_boundary_model (head widths: the backbone's).
RELEASED_OBJECTNESS_CONFIG = {
    k: v for k, v in dataclasses.asdict(RELEASED_OBJECTNESS).items() if k != "head_channels"
}


def strip_module_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Remove leading `module.` (DDP) and `_orig_mod.` (torch.compile) prefixes from every key."""
    out = {}
    for name, value in state_dict.items():
        while name.startswith(("module.", "_orig_mod.")):
            name = name.split(".", 1)[1]
        out[name] = value
    return out


def _jsonable_args(args: Any) -> Any:
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    if isinstance(args, Mapping):
        return {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in args.items()}
    return args


def checkpoint_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any | None,
    iteration: int,
    **extra: Any,
) -> dict[str, Any]:
    """The checkpoint dict (DDP wrappers unwrapped); `extra` keys are stored as given.

    `args` may be an argparse.Namespace (it is stored as a dict). Our networks' `config()` is stored under
    `model_config` unless given.
    """
    bare = unwrap_model(model)
    ckpt: dict[str, Any] = {
        "model_state_dict": bare.state_dict(),
        "optimizer_state_dict": optimizer.state_dict() if optimizer is not None else None,
        "iter": int(iteration),
        "lr_scheduler_state_dict": scheduler.state_dict() if scheduler is not None else None,
    }
    if "args" in extra:
        extra["args"] = _jsonable_args(extra["args"])
    if "model_config" not in extra and hasattr(bare, "config"):
        extra["model_config"] = bare.config()
    ckpt.update(extra)
    return ckpt


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any | None,
    iteration: int,
    **extra: Any,
) -> None:
    """Atomically write `checkpoint_state(...)` (temp file + rename)."""
    atomic_torch_save(checkpoint_state(model, optimizer, scheduler, iteration, **extra), path)


class CheckpointError(DataError, RuntimeError):
    """A checkpoint that cannot be read, or whose weights are not those of the network: a one-line input error
    in every script (DataError), a RuntimeError as torch's own errors were."""


def load_strict(net: nn.Module, state: Mapping[str, Any], source: str, assign: bool = False) -> None:
    """`net.load_state_dict(state, strict=True)`; weights of another network raise CheckpointError naming
    `source` with the count and first of the missing, unexpected and mis-shaped tensors."""
    own = unwrap_model(net).state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shaped = [k for k in own if k in state and hasattr(state[k], "shape")
              and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shaped:
        parts = [f"{len(v)} {what} (e.g. {v[0]})" for what, v in
                 (("missing", missing), ("unexpected", unexpected), ("of another shape", shaped)) if v]
        raise CheckpointError(f"{source}: not weights of this network: {'; '.join(parts)} tensors")
    unwrap_model(net).load_state_dict(state, strict=True, assign=assign)


def load_checkpoint(path: str | os.PathLike, what: str = "checkpoint", map_location: Any = "cpu") -> dict:
    """Read a checkpoint dict; a missing file raises FileNotFoundError saying what to download.

    Files are memory-mapped when possible, so parts that are not used (e.g. the optimizer state of a
    released checkpoint, twice the size of the weights) are never read from disk.
    """
    path = Path(path)
    if not path.is_file():
        hint, flag = CHECKPOINT_HINTS.get(what, CHECKPOINT_HINTS["checkpoint"])
        raise FileNotFoundError(
            f"{what} checkpoint not found: {path}. Download {hint}, and pass its path with {flag}."
        )
    for kwargs in ({"weights_only": True, "mmap": True}, {"weights_only": True}, {"weights_only": False}):
        try:
            return torch.load(path, map_location=map_location, **kwargs)
        except Exception as e:  # noqa: BLE001 - legacy (non-zip) files cannot be mapped; pickled objects
            error = e
    name = what if what == "checkpoint" else f"{what} checkpoint"
    raise CheckpointError(f"cannot read {name} {path}: {str(error).splitlines()[0]}") from error


def model_state_from_checkpoint(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """The model weights of a checkpoint dict (released layout, or a bare state dict), prefixes stripped."""
    state = ckpt.get("model_state_dict", ckpt.get("state_dict", ckpt))
    if not isinstance(state, Mapping) or not state:
        raise DataError("checkpoint holds no model_state_dict")
    return strip_module_prefix(state)


def load_model_weights(
    model: nn.Module, path: str | os.PathLike, what: str = "center_boundary_model", map_location: Any = "cpu"
) -> dict:
    """Load a checkpoint's weights into `model` with strict=True; returns the checkpoint dict.

    Accepts the released layout (`model_state_dict`), our own checkpoints and bare state dicts; `module.`
    prefixes are stripped. A missing file raises FileNotFoundError naming what to download and the flag.
    """
    ckpt = load_checkpoint(path, what, map_location)
    load_strict(model, model_state_from_checkpoint(ckpt), f"{what} checkpoint {path}")
    return ckpt


def objectness_config_from_checkpoint(ckpt: Mapping[str, Any]) -> dict:
    """Constructor arguments of the network stored in `ckpt` (our `model_config`/`args`, else released)."""
    cfg = dict(RELEASED_OBJECTNESS_CONFIG)
    saved = ckpt.get("model_config") or _jsonable_args(ckpt.get("args")) or {}
    if isinstance(saved, Mapping):
        for key in ("backbone_type", "use_bg_sdf", "head_channels"):
            if saved.get(key) is not None:
                cfg[key] = saved[key]
        if "sdf_activation" in saved:  # None in a training command line means a linear output
            cfg["sdf_activation"] = saved["sdf_activation"] or "none"
    state = model_state_from_checkpoint(ckpt)
    first = state.get("center_field_prediction_head.0.weight")
    third = state.get("center_field_prediction_head.4.weight")
    if first is not None and third is not None:  # head widths are read off the weights themselves
        cfg["head_channels"] = [int(first.shape[0]), int(third.shape[0])]
    return cfg


def crop_size_from_checkpoint(ckpt: Mapping[str, Any], default: int = 128) -> int:
    """Side of the crops the network was trained on (the one reader of it): our `crop_size` (older runs:
    `args.image_size`), else `default` (the released checkpoints were trained on 128x128 crops)."""
    if ckpt.get("crop_size"):
        return int(ckpt["crop_size"])
    args = _jsonable_args(ckpt.get("args")) or {}
    return int(args.get("crop_size") or args.get("image_size") or default)


def _build_with_state(factory, state: Mapping[str, Any], source: str = "checkpoint") -> nn.Module:
    """`factory()` on the meta device (no random init of large backbones), then take over `state` strictly.

    Falls back to a normal construction if the network has non-persistent buffers besides the input
    normalisation (they would stay on the meta device).
    """
    with torch.device("meta"):
        net = factory()
    load_strict(net, state, source, assign=True)
    from models.objectness_net import InputNormalisation

    if isinstance(getattr(net, "normalise", None), InputNormalisation):  # rebuilt outside the meta context
        net.normalise = InputNormalisation(*net.normalise.values)
    if any(t.is_meta for t in net.buffers()) or any(p.is_meta for p in net.parameters()):
        net = factory()
        load_strict(net, state, source)
    return net


def build_objectness_net_from_checkpoint(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    what: str = "center_boundary_model",
    overrides: Mapping[str, Any] | None = None,
    ckpt: Mapping[str, Any] | None = None,
) -> nn.Module:
    """ObjectnessNet rebuilt from a checkpoint (released or ours), weights loaded strictly, in eval mode.

    The architecture comes from the checkpoint's saved `model_config`/`args` (backbone_type, sdf_activation,
    use_bg_sdf; head widths from the weights), else the released defaults (dpt_large, tanh, bg sdf);
    `overrides` (e.g. from command-line flags; None values are not overrides) take precedence. `ckpt` is the
    checkpoint already read from `path`, if the caller has it (the file is not read again).
    """
    from models.objectness_net import ObjectnessNet

    if ckpt is None:
        ckpt = load_checkpoint(path, what, "cpu")
    cfg = objectness_config_from_checkpoint(ckpt)
    cfg.update({k: v for k, v in (overrides or {}).items() if v is not None})
    net = _build_with_state(lambda: ObjectnessNet(**cfg, logger=_QUIET), model_state_from_checkpoint(ckpt),
                            f"{what} checkpoint {path}")
    log.info("%s: %s network loaded from %s (iter %s)", what, cfg["backbone_type"], path, ckpt.get("iter"))
    return net.to(device).eval()


def build_existence_net_from_checkpoint(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    what: str = "existence_model",
    ckpt: Mapping[str, Any] | None = None,
) -> nn.Module:
    """ExistenceNet rebuilt from a checkpoint (released resnet50 or ours), loaded strictly, in eval mode.

    `ckpt` is the checkpoint already read from `path`, if the caller has it (the file is not read again).
    """
    from models.objectness_net import ExistenceNet

    if ckpt is None:
        ckpt = load_checkpoint(path, what, "cpu")
    state = model_state_from_checkpoint(ckpt)
    arch = (ckpt.get("model_config") or {}).get("arch")
    if arch is None:  # released file or bare state dict: tell the ResNet depth from the layer names
        if "classifier_backbone.conv_stem.weight" in state:
            arch = "efficientnet_lite0"
        elif "classifier_backbone.layer1.0.conv3.weight" in state:
            arch = "resnet50"
        elif "classifier_backbone.layer3.5.conv1.weight" in state:
            arch = "resnet34"
        else:
            arch = "resnet18"
    source = f"{what} checkpoint {path}"
    net = _build_with_state(lambda: ExistenceNet(arch=arch, logger=_QUIET), state, source)
    log.info("%s: %s existence network loaded from %s (iter %s)", what, arch, path, ckpt.get("iter"))
    return net.to(device).eval()
