"""Full-state checkpoints of R-MONet runs (model, optimizer, scheduler, iteration, config, RNG state)."""

from __future__ import annotations

from pathlib import Path

import torch

from models.rmonet.model import SceneModel
from utils.checkpoint import capture_rng_state
from utils.io import atomic_torch_save

CHECKPOINT_NAME = "checkpoint_last.pth"


def save_checkpoint(path: Path, model: SceneModel, optimizer, scheduler, iteration: int, cfg: dict) -> None:
    atomic_torch_save(
        {
            "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "lr_scheduler_state_dict": scheduler.state_dict(),
            "iter": iteration,
            "config": cfg,
            "rng_state": capture_rng_state(),
        },
        path,
    )


def load_checkpoint(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p} (train one with train_rmonet.py --config ...)")
    return torch.load(p, map_location="cpu", weights_only=False)
