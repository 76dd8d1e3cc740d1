"""`--resume PATH|auto` resolution for stage-1 training (writing: training.engine.PeriodicCheckpointer)."""

from __future__ import annotations

import os
from pathlib import Path

LATEST_NAME = "checkpoint_latest.pth"


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
