"""Checkpoint paths and `--resume PATH|auto` resolution for stage-1 training."""

from __future__ import annotations

import os
from pathlib import Path

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
