"""Robust file I/O: atomic writes, incremental JSON-lines results, images and JSON with clear errors."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError


class DataError(ValueError):
    """Bad input data; the message names the file and the problem."""


def _current_umask() -> int:
    """The process umask (read from /proc without changing it; else set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_HOST = socket.gethostname().replace("~", "-")
STALE_FOREIGN_TEMP_SECONDS = 24 * 3600


def _temp_prefix(target_name: str) -> str:
    return f".{target_name}~{_HOST}~{os.getpid()}~"


def _is_stale_temp(path: Path) -> bool:
    """Whether `path` is a temp file `.<target>~<host>~<pid>~<random>.tmp` of an atomic write whose writer
    is gone: a dead pid on this host, or (another host's) older than a day."""
    name = path.name
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    parts = name.split("~")
    if len(parts) < 4 or not parts[-2].isdigit():
        return False
    host, pid = parts[-3], int(parts[-2])
    if host == _HOST:
        return not _pid_alive(pid)
    try:
        return time.time() - path.stat().st_mtime > STALE_FOREIGN_TEMP_SECONDS
    except FileNotFoundError:
        return False


def remove_stale_temp_files(directory: str | os.PathLike, target_name: str | None = None) -> int:
    """Delete temp files that a killed atomic write left in `directory` (of `target_name` only, if given);
    temp files of a writer that is still running are kept. Returns the number removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    prefix = f".{target_name}~" if target_name else "."
    removed = 0
    for p in directory.iterdir():
        if p.name.startswith(prefix) and _is_stale_temp(p):
            try:
                p.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _atomic_replace(path: str | os.PathLike, write_fn) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp creates 0600; final files honour the umask
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    """Write `obj` as JSON to `path` via a temp file and rename: readers never see a partial file."""
    _atomic_replace(path, lambda f: f.write(json.dumps(obj, indent=indent).encode()))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    _atomic_replace(path, lambda f: f.write(data))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save` through a temp file and rename, so a crash never leaves a truncated checkpoint."""
    _atomic_replace(path, lambda f: torch.save(obj, f))


def load_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Load JSON, raising DataError naming the file when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}"
        raise DataError(f"{what} {path} is not valid JSON: {e.msg} at {where}") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{what} {path} is not UTF-8 text: {e}") from e



class JsonlWriter:
    """Append-only JSON-lines file, flushed and fsynced per record, so finished work survives a crash."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_last_line(self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, record: Any) -> None:
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _drop_partial_last_line(path: Path) -> None:
    """Truncate a record cut short by a killed writer, so appended records start on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return
        f.truncate(data.rfind(b"\n") + 1)


def read_jsonl(path: str | os.PathLike) -> Iterator[Any]:
    """Yield the records of a JSON-lines file; a truncated last line (killed writer) is ignored."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                return
            raise DataError(f"{path}: line {i + 1} is not valid JSON: {e.msg}") from e


def read_jsonl_many(paths: Iterable[str | os.PathLike]) -> Iterator[Any]:
    for p in paths:
        yield from read_jsonl(p)


# Images with more pixels are refused from their header (a counted skip in long loops): one 8000x6000 image
# would otherwise take tens of GB in the per-pixel stages. Raise with --max_image_pixels (reasoning, scoring)
# or the environment variable UNMORE_MAX_IMAGE_PIXELS (every loader).
DEFAULT_MAX_IMAGE_PIXELS = int(os.environ.get("UNMORE_MAX_IMAGE_PIXELS", 4096 * 4096))


class ImageTooLarge(DataError):
    """An image above the pixel limit; raised from its header, before any pixel is decoded."""


def check_image_size(path: str | os.PathLike, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(f"image {path} is {width}x{height} ({width * height:,} pixels), above the limit "
                            f"of {max_pixels:,} pixels (raise it with --max_image_pixels or "
                            "UNMORE_MAX_IMAGE_PIXELS)")


def load_image_rgb(path: str | os.PathLike, exif_transpose: bool = False,
                   max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Load any image as uint8 RGB [H, W, 3].

    An image with more than `max_pixels` pixels (None: no limit) raises `ImageTooLarge` after reading only
    its header.

    Grayscale, palette, RGBA (alpha dropped), CMYK and 16-bit images are converted; a missing or
    undecodable file raises DataError naming the file. `exif_transpose` applies the EXIF orientation tag
    (as Detectron2's image reader does); by default the stored pixel order is kept.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    try:
        with Image.open(path) as opened:
            check_image_size(path, opened.width, opened.height, max_pixels)
            opened.load()
            im = ImageOps.exif_transpose(opened) if exif_transpose else opened
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                scale = 255.0 / 65535.0 if arr.max(initial=0) > 255 else 1.0
                arr = np.clip(arr * scale, 0, 255).astype(np.uint8)
                return np.repeat(arr[..., None], 3, axis=2)
            if im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                arr = np.clip(arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
                return np.repeat(arr[..., None], 3, axis=2)
            return np.ascontiguousarray(np.asarray(im.convert("RGB")))
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"image {path} is too large to decode: {e}") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot decode image {path}: {e}") from e


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """Load a mask PNG as bool [H, W] (any non-zero pixel is foreground)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mask not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot decode mask {path}: {e}") from e
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
    return arr > 0


def save_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write a uint8 array ([H, W] or [H, W, 3]) as PNG."""
    import io

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
