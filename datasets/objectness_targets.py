"""Stage-1 training targets: object center field and boundary distance field of one image crop.

Conventions:
- Pixel coordinates are integer (row, column) indices; fields have channel 0 = row, channel 1 = column.
- The foreground distance is the L2 distance transform of the object mask (OpenCV `DIST_L2`, 3x3 mask, as
  the original code), normalised by its maximum over the *whole object*, computed before the crop.
- The background distance is computed *after* the crop and resize, normalised by its own maximum.
- The object center is the center of the mask's bounding box before the crop, `((min + max) / 2)` of the
  row and column indices, mapped into crop coordinates by `(c - crop_origin) * out_size / crop_size`
  (it may lie outside the crop).
- Images are resized bilinearly (OpenCV `INTER_LINEAR`, no antialiasing, like the reasoning stage), masks
  by default with pixel-center-aligned nearest neighbour (`INTER_NEAREST_EXACT`), which samples the same
  source location as the bilinear resize of the distance map; hence every mask pixel has a strictly
  positive interpolated foreground distance. `mask_resize="nearest"` is the original code's resize
  (torchvision 0.14 tensor `Resize(NEAREST)` = torch `interpolate(mode="nearest")`, source index
  `floor(i * in / out)`: the mask lands about half an output pixel towards the bottom-right of the image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

PRE_CROP_SIZE = 400  # image and mask are resized to 400x400 before the crop (original recipe)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)


@dataclass(frozen=True)
class CropBox:
    """A crop `[top, top + height) x [left, left + width)` in integer pixels."""

    top: int
    left: int
    height: int
    width: int


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """uint8/float image [H, W, C] or [H, W] -> [size, size, ...] bilinear (no antialiasing)."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


MASK_RESIZE_MODES = ("nearest_exact", "nearest")


def resize_mask(mask: np.ndarray, size: int, mode: str = "nearest_exact") -> np.ndarray:
    """bool mask [H, W] -> bool [size, size] by nearest neighbour.

    `nearest_exact` (default): pixel-center aligned, source `floor((i + 0.5) * in / out)`. `nearest`: the
    original code's torch `interpolate(mode="nearest")`, source `floor(i * in / out)`.
    """
    if mode == "nearest_exact":
        out = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST_EXACT)
        return out.astype(bool)
    if mode == "nearest":
        t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.uint8))[None, None].float()
        return (F.interpolate(t, size=(size, size), mode="nearest")[0, 0] > 0.5).numpy()
    raise ValueError(f"mask resize mode must be one of {MASK_RESIZE_MODES}, got {mode!r}")


def normalized_distance(mask: np.ndarray) -> np.ndarray:
    """L2 distance (OpenCV 3x3 mask) from each True pixel to the nearest False pixel, divided by its max.

    float32 [H, W]: 0 on False pixels, in (0, 1] on True pixels. The image border does not count as
    False. A mask with no True pixel gives zeros; a mask with no False pixel gives ones.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros(mask.shape, np.float32)
    if mask.all():
        return np.ones(mask.shape, np.float32)
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return (dist / dist.max()).astype(np.float32)


def bbox_center(mask: np.ndarray) -> tuple[float, float] | None:
    """Center (row, col) of the tight bounding box of a bool mask, `(min + max) / 2`; None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (rows[0] + rows[-1]) / 2.0, (cols[0] + cols[-1]) / 2.0


def center_to_crop(center: tuple[float, float], box: CropBox, out_size: int) -> tuple[float, float]:
    """Map a (row, col) point of the uncropped grid into the `out_size` x `out_size` crop grid."""
    return (
        (center[0] - box.top) * out_size / box.height,
        (center[1] - box.left) * out_size / box.width,
    )


def center_field(mask: np.ndarray, center: tuple[float, float]) -> np.ndarray:
    """Unit vectors `(p - c) / |p - c|` on mask pixels, zero elsewhere: float32 [2, H, W] (row, col).

    A pixel exactly at the center gets the zero vector.
    """
    h, w = mask.shape
    dr = (np.arange(h, dtype=np.float32) - np.float32(center[0]))[:, None]
    dc = (np.arange(w, dtype=np.float32) - np.float32(center[1]))[None, :]
    dr, dc = np.broadcast_to(dr, (h, w)), np.broadcast_to(dc, (h, w))
    norm = np.sqrt(dr * dr + dc * dc)
    scale = np.where(mask & (norm > 0), 1.0 / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
    return np.stack([dr * scale, dc * scale]).astype(np.float32)


def signed_distance(mask: np.ndarray, fg_distance: np.ndarray, use_bg_sdf: bool) -> np.ndarray:
    """Boundary distance field float32 [H, W] on the crop grid.

    Inside the mask: `fg_distance` (the whole-object normalised foreground distance, already cropped and
    resized). Outside: minus the background distance of this crop normalised by its own maximum with
    `use_bg_sdf`, else 0.
    """
    inside = np.where(mask, fg_distance, 0.0)
    if not use_bg_sdf:
        return inside.astype(np.float32)
    return (inside - normalized_distance(~mask)).astype(np.float32)


def sample_crop_box(
    rng: np.random.Generator,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = CROP_RATIO,
) -> CropBox:
    """Random crop with area fraction in `scale` and log-uniform aspect ratio (width/height) in `ratio`.

    Same distribution as torchvision `RandomResizedCrop.get_params` (10 attempts, then a central crop
    with the ratio clamped), drawn from a numpy Generator so that each sample is reproducible.
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return CropBox(top, left, h, w)
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return CropBox((height - h) // 2, (width - w) // 2, h, w)


def crop(array: np.ndarray, box: CropBox) -> np.ndarray:
    return array[box.top : box.top + box.height, box.left : box.left + box.width]


def crop_targets(
    mask: np.ndarray,
    box: CropBox,
    out_size: int = 128,
    use_bg_sdf: bool = True,
    fg_distance: np.ndarray | None = None,
    mask_resize: str = "nearest_exact",
) -> dict[str, np.ndarray]:
    """Targets of one crop of a full mask.

    Args:
        mask: bool [H, W], the object mask on the uncropped grid (400x400 in training).
        box: the crop on that grid.
        out_size: side of the square target grid.
        use_bg_sdf: negative background distance outside the object.
        fg_distance: `normalized_distance(mask)` when already computed.
        mask_resize: `resize_mask` mode of the cropped mask.
    Returns:
        `saliency_mask` bool [S, S], `sdf` float32 [S, S], `center_field` float32 [2, S, S] and
        `object_center` float32 [2] (row, col) in crop coordinates. An empty mask gives all-zero targets.
    """
    mask = np.asarray(mask, dtype=bool)
    center = bbox_center(mask)
    if center is None:
        return {
            "saliency_mask": np.zeros((out_size, out_size), bool),
            "sdf": np.zeros((out_size, out_size), np.float32),
            "center_field": np.zeros((2, out_size, out_size), np.float32),
            "object_center": np.zeros(2, np.float32),
        }
    if fg_distance is None:
        fg_distance = normalized_distance(mask)
    crop_mask = resize_mask(crop(mask, box), out_size, mask_resize)
    crop_fg = resize_image(np.ascontiguousarray(crop(fg_distance, box)), out_size)
    c = center_to_crop(center, box, out_size)
    return {
        "saliency_mask": crop_mask,
        "sdf": signed_distance(crop_mask, crop_fg, use_bg_sdf),
        "center_field": center_field(crop_mask, c),
        "object_center": np.asarray(c, np.float32),
    }


def bbox_has_pixels(integral: np.ndarray, top: int, left: int, bottom: int, right: int) -> bool:
    """Whether `[top, bottom) x [left, right)` holds a True pixel, from `cv2.integral` of the mask."""
    total = integral[bottom, right] - integral[top, right] - integral[bottom, left] + integral[top, left]
    return bool(total > 0)


def largest_background_square(full_mask: np.ndarray, border: int = 10,
                              mask_free: bool = True) -> CropBox | None:
    """Square crop of the background of `full_mask` (bool [H, W], union of all object masks).

    As in the original recipe: the L2 distance transform of the inverted mask, padded with a `border`-pixel
    zero border (so the image edge counts as an obstacle), is maximal at c with value r; the square is
    rows `[int(c_r - r), int(c_r + r))` and likewise for columns.
    `mask_free=True` (default, beyond the original): the square is clipped to the image and shrunk by one
    pixel per side while it still holds a mask pixel (the disc of radius r is mask-free, its bounding
    square need not be), so a returned square never touches the mask. `mask_free=False` (the original):
    the rows and columns are taken exactly as Python slicing `image[y1:y2, x1:x2]` takes them (a negative
    start counts from the end; the crop may hold object pixels and need not be square).
    None when no background square of side >= 2 exists (the original: when the slice is empty).
    """
    full_mask = np.asarray(full_mask, dtype=bool)
    h, w = full_mask.shape
    bg = np.pad((~full_mask).astype(np.uint8), border, constant_values=0)
    if not bg.any():
        return None
    dist = cv2.distanceTransform(bg, cv2.DIST_L2, 3)[border : border + h, border : border + w]
    cr, cc = np.unravel_index(int(np.argmax(dist)), dist.shape)
    r = float(dist[cr, cc])
    if not mask_free:
        rows = range(h)[int(cr - r) : int(cr + r)]
        cols = range(w)[int(cc - r) : int(cc + r)]
        if len(rows) == 0 or len(cols) == 0:
            return None
        return CropBox(rows.start, cols.start, len(rows), len(cols))
    top, bottom = max(int(cr - r), 0), min(int(cr + r), h)
    left, right = max(int(cc - r), 0), min(int(cc + r), w)
    integral = cv2.integral(full_mask.astype(np.uint8))
    while bottom - top >= 2 and right - left >= 2 and bbox_has_pixels(integral, top, left, bottom, right):
        top, left, bottom, right = top + 1, left + 1, bottom - 1, right - 1
    if bottom - top < 2 or right - left < 2:
        return None
    side = min(bottom - top, right - left)
    return CropBox(top, left, side, side)
