"""Checkpoints of R-MONet runs: `models.checkpoint.checkpoint_state` with the run's `config` (plain dict) and
`rng_state`, written by the engine's PeriodicCheckpointer."""

from __future__ import annotations

from pathlib import Path

import torch

CHECKPOINT_NAME = "checkpoint_last.pth"


def load_checkpoint(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p} (train one with train_rmonet.py --config ...)")
    return torch.load(p, map_location="cpu", weights_only=False)
