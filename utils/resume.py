"""What a resumable job records to refuse mixing results: its settings file and the identity of its inputs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from utils.io import DataError

SETTINGS_NAME = "settings.json"


def file_identity(path: str | os.PathLike | None) -> dict | None:
    """Identity of an input file (size and SHA-256 of its first and last MiB; the path is not part of it),
    cheap even for GB-sized checkpoints. None for no file; DataError when the file is missing."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file not found: {p}")
    size = p.stat().st_size
    h = hashlib.sha256()
    with open(p, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(size - (1 << 20))
        h.update(f.read(1 << 20))
    return {"size": size, "sha256_head_tail": h.hexdigest()}


def settings_difference(saved: dict, current: dict) -> str:
    """`key: saved -> current` for every differing key ('' when equal)."""
    keys = sorted(set(saved) | set(current))
    return ", ".join(f"{k}: {saved.get(k, '<unset>')!r} -> {current.get(k, '<unset>')!r}"
                     for k in keys if saved.get(k, "<unset>") != current.get(k, "<unset>"))
