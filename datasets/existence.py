"""Existence-network samples: object crops (label 1) versus background squares (label 0).

With probability 1/2 a sample is
- positive candidate: a random resized crop of the image (area fraction in `crop_scale`, aspect ratio in
  [3/4, 4/3]); label 1 iff the crop holds more than one pixel of the top-1 mask, else 0. `positive_rule`
  says how pixels are counted: `"any_pixel"` (default) at the image's own resolution; `"resized_sum"` (the
  original code) as the sum of the crop's 0/1 mask resized bilinearly (no antialias) to `image_size`, so a
  sliver that covers less than one output pixel counts as empty;
- negative: the largest background square of the image's *full* VoteCut mask (union of all its VoteCut
  masks; see `datasets.objectness_targets.largest_background_square`), label 0. `negatives="mask_free"`
  (default) shrinks the square until it holds no mask pixel; `"original"` keeps the original's square
  (the disc's bounding square, which usually holds a few object pixels at its corners). When the image has
  no background square the sample falls back to a positive candidate.
Both are resized to `image_size` (bilinear). The full mask comes from `--votecut_json` (every annotation of
the image, rotate rule applied) or, cheaper for the 1.28M ImageNet images, from `--full_mask_root` (PNG
union masks `<wnid>/<name>.png`, any non-zero pixel is foreground, as the original code read them); without
either the top-1 mask is used as the full mask, which is weaker (other objects may appear in negatives).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from datasets.imagenet_votecut import (
    SkippedSample,
    align_mask,
    image_to_tensor,
    load_image_and_mask,
    mask_name,
    resolve_image_and_mask_roots,
    sample_rng,
)
from datasets.objectness_targets import crop, largest_background_square, resize_image, sample_crop_box
from datasets.votecut import load_votecut, mask_relpath
from utils.io import DataError, load_mask
from utils.masks import rle_to_mask


def load_full_mask_index(votecut_json: str | os.PathLike) -> dict[str, tuple[int, int, list]]:
    """VoteCut JSON -> {`<wnid>/<name>.png`: (height, width, [segmentation, ...])}; DataError if malformed."""
    index = {}
    for img in load_votecut(votecut_json):
        index[mask_relpath(img.file_name)] = (
            img.height,
            img.width,
            [a["segmentation"] for a in img.annotations],
        )
    return index


def union_mask(height: int, width: int, segmentations: list) -> np.ndarray:
    """Union (bool [H, W]) of COCO segmentations; H, W from the RLE `size` when present."""
    if segmentations and isinstance(segmentations[0], dict) and "size" in segmentations[0]:
        height, width = (int(v) for v in segmentations[0]["size"])
    out = np.zeros((height, width), bool)
    for seg in segmentations:
        m = rle_to_mask(seg, height, width)
        if m.shape != out.shape:
            raise DataError(f"VoteCut masks of one image differ in size: {m.shape} vs {out.shape}")
        out |= m
    return out


POSITIVE_RULES = ("any_pixel", "resized_sum")
NEGATIVE_RULES = ("mask_free", "original")


def positive_label(mask_crop: np.ndarray, image_size: int, rule: str = "any_pixel") -> float:
    """1.0 when the crop of the top-1 mask holds more than one pixel of the object under `rule`, else 0.0."""
    if rule == "any_pixel":
        return 1.0 if int(mask_crop.sum()) > 1 else 0.0
    if rule == "resized_sum":
        t = torch.from_numpy(np.ascontiguousarray(mask_crop, dtype=np.float32))[None, None]
        resized = F.interpolate(t, size=(image_size, image_size), mode="bilinear", align_corners=False)
        return 1.0 if float(resized.sum()) > 1 else 0.0
    raise ValueError(f"positive rule must be one of {POSITIVE_RULES}, got {rule!r}")


def positive_sample(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    image_size: int,
    crop_scale: tuple[float, float],
    positive_rule: str = "any_pixel",
) -> tuple[np.ndarray, float, tuple[int, int, int, int]]:
    """Random resized crop -> (crop resized to image_size, label, box (top, left, height, width))."""
    box = sample_crop_box(rng, image.shape[0], image.shape[1], scale=crop_scale)
    label = positive_label(crop(mask, box), image_size, positive_rule)
    out = resize_image(np.ascontiguousarray(crop(image, box)), image_size)
    return out, label, (box.top, box.left, box.height, box.width)


class ExistenceDataset(Dataset):
    """Existence samples: `dataset[key]` -> {`image` [3, S, S], `label` [1], `negative` bool tensor,
    `box` int64 [4] (top, left, height, width on the original image), `name`} or a `SkippedSample`.

    `key` is an int or `(index, stream_position)` as in `ImageNetVoteCutDataset`.
    """

    def __init__(
        self,
        imagenet_root: str | os.PathLike,
        mask_root: str | os.PathLike | None = None,
        votecut_json: str | os.PathLike | None = None,
        image_size: int = 128,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        seed: int = 0,
        full_mask_root: str | os.PathLike | None = None,
        negatives: str = "mask_free",
        positive_rule: str = "any_pixel",
    ):
        if negatives not in NEGATIVE_RULES:
            raise ValueError(f"negatives must be one of {NEGATIVE_RULES}, got {negatives!r}")
        if positive_rule not in POSITIVE_RULES:
            raise ValueError(f"positive rule must be one of {POSITIVE_RULES}, got {positive_rule!r}")
        self.negatives = negatives
        self.positive_rule = positive_rule
        roots = resolve_image_and_mask_roots(imagenet_root, mask_root)
        self.imagenet_root, self.mask_root, self.names = roots
        self.full_mask_root = Path(full_mask_root) if full_mask_root else None
        if self.full_mask_root is not None and not self.full_mask_root.is_dir():
            raise DataError(f"--full_mask_root not found: {self.full_mask_root}")
        self.full_masks = load_full_mask_index(votecut_json) if votecut_json and not full_mask_root else None
        self.image_size = image_size
        self.crop_scale = crop_scale
        self.seed = seed

    def __len__(self) -> int:
        return len(self.names)

    def full_mask(self, name: str, top1_mask: np.ndarray) -> np.ndarray:
        """Union of the image's VoteCut masks aligned to the image (top-1 mask without a JSON or PNG root)."""
        if self.full_mask_root is not None:
            path = self.full_mask_root / mask_name(name)
            return align_mask(load_mask(path), top1_mask.shape, path)
        if self.full_masks is None:
            return top1_mask
        entry = self.full_masks.get(mask_name(name))
        if entry is None:
            raise DataError(f"image {name} has no entry in the VoteCut JSON")
        h, w, segs = entry
        return align_mask(union_mask(h, w, segs), top1_mask.shape, f"VoteCut JSON entry of {name}")

    def __getitem__(self, key):
        index, stream_key = key if isinstance(key, tuple) else (key, key)
        name = self.names[index]
        rng = sample_rng(self.seed, stream_key)
        try:
            image, mask = load_image_and_mask(self.imagenet_root, self.mask_root, name)
            square = None
            if rng.random() < 0.5:
                square = largest_background_square(self.full_mask(name, mask),
                                                   mask_free=self.negatives == "mask_free")
            if square is not None:
                out = resize_image(np.ascontiguousarray(crop(image, square)), self.image_size)
                label, box = 0.0, (square.top, square.left, square.height, square.width)
            else:
                out, label, box = positive_sample(image, mask, rng, self.image_size, self.crop_scale,
                                                  self.positive_rule)
        except (DataError, cv2.error) as e:
            return SkippedSample(name, str(e))
        return {
            "image": image_to_tensor(out),
            "label": torch.tensor([label], dtype=torch.float32),
            "negative": torch.tensor(square is not None),
            "box": torch.tensor(box, dtype=torch.int64),
            "name": name,
        }
