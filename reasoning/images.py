"""The images of a job: listing a split (ids, order, slice) and decoding them ahead of compute."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from coco_tools.checker import load_coco_json
from utils.io import DEFAULT_MAX_IMAGE_PIXELS, DataError, load_image_rgb

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
        # only the image list is read: annotations of images not listed are dropped with a counted warning
        data = load_coco_json(annotations, require_annotations=False, drop=("missing_image",))
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
    """Items {index, image uint8 [3, H, W] or None, error str or None}, in `records` order."""
    return DataLoader(ImageDataset(records, max_pixels), batch_size=1, shuffle=False, num_workers=num_workers,
                      collate_fn=_single, pin_memory=device.type == "cuda",
                      prefetch_factor=4 if num_workers > 0 else None)
