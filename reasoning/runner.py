"""Per-image job plumbing shared by reasoning and scoring: image lists, decoding ahead of compute,
sharding, incremental JSON-lines results, resume, and the final atomic merge."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from utils.io import (
    DEFAULT_MAX_IMAGE_PIXELS,
    DataError,
    JsonlWriter,
    atomic_write_json,
    load_coco_json,
    load_image_rgb,
    load_json,
    read_jsonl_many,
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


@dataclass(frozen=True)
class ImageRecord:
    image_id: int | str
    path: Path

    @property
    def key(self) -> str:
        return str(self.image_id)


def list_images(image_dir: str | os.PathLike, annotations: str | os.PathLike | None = None,
                start_idx: int = -1, end_idx: int = -1) -> list[ImageRecord]:
    """The images of a split, sorted by file name (as the original code), optionally sliced.

    With `annotations` (COCO JSON) the list and ids come from its `images`; otherwise every image file in
    `image_dir` is used and its id is the file stem. `start_idx`/`end_idx` slice the sorted list when both
    are not -1.
    """
    image_dir = Path(image_dir)
    if annotations:
        data = load_coco_json(annotations, require_annotations=False)
        records = []
        for im in data["images"]:
            if "id" not in im or "file_name" not in im:
                raise DataError(f"COCO annotation file {annotations}: image without 'id'/'file_name'")
            records.append((im["file_name"], ImageRecord(im["id"], image_dir / im["file_name"])))
    else:
        if not image_dir.is_dir():
            raise DataError(f"image directory not found: {image_dir}")
        records = [(p.name, ImageRecord(p.stem, p)) for p in image_dir.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    records.sort(key=lambda r: r[0])
    out = [r for _, r in records]
    if start_idx != -1 and end_idx != -1:
        out = out[start_idx:end_idx]
    keys = [r.key for r in out]
    if len(set(keys)) != len(keys):
        raise DataError(f"duplicate image ids in {annotations or image_dir}")
    return out


class ImageDataset(Dataset):
    """Decodes images in DataLoader workers; a bad file yields an `error` entry instead of raising."""

    def __init__(self, records: list[ImageRecord], max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS):
        self.records = records
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        rec = self.records[i]
        try:
            image = load_image_rgb(rec.path, max_pixels=self.max_pixels)
            image = torch.from_numpy(image.copy()).permute(2, 0, 1).contiguous()
            return {"index": i, "image": image, "error": None}
        except DataError as e:
            return {"index": i, "image": None, "error": str(e)}


def _single(batch: list[dict]) -> dict:
    return batch[0]


def image_loader(records: list[ImageRecord], num_workers: int, device: torch.device,
                 max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> DataLoader:
    return DataLoader(ImageDataset(records, max_pixels), batch_size=1, shuffle=False, num_workers=num_workers,
                      collate_fn=_single, pin_memory=device.type == "cuda",
                      prefetch_factor=4 if num_workers > 0 else None)


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


class ShardedResults:
    """Results of one job, one JSON-lines file per shard in `<output_dir>/<name>_shards/`.

    Every finished image (or recorded failure) is one flushed line; a restarted job skips every image
    found in any shard file, so resuming also works with a different number of shards.
    """

    def __init__(self, output_dir: str | os.PathLike, name: str, shard_index: int = 0, num_shards: int = 1):
        self.output_dir = Path(output_dir)
        self.shard_dir = self.output_dir / f"{name}_shards"
        self.path = self.shard_dir / f"shard_{shard_index:05d}_of_{num_shards:05d}.jsonl"

    def check_settings(self, settings: dict, overwrite: bool = False, outputs: Iterable[str] = ()) -> None:
        """Tie the partial results to the settings that produce them (`<name>_shards/settings.json`).

        Results made with other settings raise DataError naming the differences, so a resumed job never mixes
        them; with `overwrite` they are deleted (with the merged `outputs`) and the job starts fresh.
        """
        path = self.shard_dir / SETTINGS_NAME
        settings = json.loads(json.dumps(settings))  # the form it takes in the file (tuples -> lists)
        if overwrite:
            if self.shard_dir.is_dir():
                shutil.rmtree(self.shard_dir)
            for name in outputs:
                (self.output_dir / name).unlink(missing_ok=True)
        elif path.is_file():
            saved = load_json(path, "settings of the partial results")
            diff = settings_difference(saved, settings)
            if diff:
                raise DataError(f"{self.output_dir} holds results made with other settings ({diff}); pass "
                                "--overwrite to discard them or choose another --output_dir")
        elif self.shard_dir.is_dir() and any(self.shard_dir.glob("*.jsonl")):
            raise DataError(f"{self.output_dir} holds results without a record of their settings; pass "
                            "--overwrite to discard them or choose another --output_dir")
        if not path.is_file():
            atomic_write_json(path, settings, indent=1)

    def records(self) -> dict[str, dict]:
        """image key -> last record, over all shard files."""
        out: dict[str, dict] = {}
        if self.shard_dir.is_dir():
            for rec in read_jsonl_many(sorted(self.shard_dir.glob("*.jsonl"))):
                out[str(rec["image_id"])] = rec
        return out

    def writer(self) -> JsonlWriter:
        """Append to this shard's file (JsonlWriter drops a line cut short by a killed writer)."""
        return JsonlWriter(self.path)

    def missing(self, images: Iterable[ImageRecord]) -> list[ImageRecord]:
        done = self.records()
        return [r for r in images if r.key not in done]

    def merge(self, images: list[ImageRecord], combine: Callable[[list[dict]], object], out_name: str,
              errors_name: str = "failed_images.json") -> tuple[Path, int, int]:
        """Combine the records in image-list order and write `out_name` atomically.

        Returns (path, number of images merged, number of failed images). Failures go to `errors_name`.
        """
        done = self.records()
        ordered = [done[r.key] for r in images if r.key in done]
        ok = [rec for rec in ordered if "error" not in rec]
        failed = [rec for rec in ordered if "error" in rec]
        path = self.output_dir / out_name
        atomic_write_json(path, combine(ok))
        if failed:
            atomic_write_json(self.output_dir / errors_name, {str(r["image_id"]): r["error"] for r in failed},
                              indent=1)
        return path, len(ok), len(failed)
