"""Checkpoint paths, RNG state capture/restore and `--resume PATH|auto` resolution for stage-1 training."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

LATEST_NAME = "checkpoint_latest.pth"


def periodic_name(iteration: int) -> str:
    return f"checkpoint_iter_{iteration:07d}.pth"


def prune_periodic_checkpoints(output_dir: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest `keep` periodic checkpoints in `output_dir` (`keep` -1: delete none).

    Returns the deleted paths. `checkpoint_latest.pth` is never touched.
    """
    if keep < 0:
        return []
    periodic = sorted(Path(output_dir).glob("checkpoint_iter_*.pth"))
    doomed = periodic[: max(len(periodic) - keep, 0)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy, torch (CPU) and CUDA RNG states in a form `torch.load(weights_only=True)` accepts."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state` (CUDA states only when CUDA is available)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def resolve_resume(resume: str | None, output_dir: str | os.PathLike) -> Path | None:
    """`--resume` value -> checkpoint path or None.

    `auto` means `<output_dir>/checkpoint_latest.pth` when it exists (else start fresh); any other value
    must be an existing file (FileNotFoundError otherwise).
    """
    if not resume:
        return None
    if resume == "auto":
        path = Path(output_dir) / LATEST_NAME
        return path if path.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"--resume checkpoint not found: {path}")
    return path
