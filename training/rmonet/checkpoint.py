"""Checkpoints of R-MONet runs: `models.checkpoint.checkpoint_state` with the run's `config` (plain dict) and
`rng_state`, written by the engine's PeriodicCheckpointer."""

from __future__ import annotations

from pathlib import Path

import torch

from models.checkpoint import CheckpointError

CHECKPOINT_NAME = "checkpoint_last.pth"


def load_checkpoint(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p} (train one with train_rmonet.py --config ...)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - not a checkpoint, or truncated: the same input error
        raise CheckpointError(f"cannot read checkpoint {p}: {str(e).splitlines()[0]}") from None
    if not isinstance(ckpt, dict) or "model_state_dict" not in ckpt:
        raise CheckpointError(f"{p} is not an R-MONet checkpoint (no model_state_dict)")
    return ckpt
