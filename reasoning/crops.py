"""Cutting box crops out of an image and resizing them to the networks' input size.

A box `[x1, y1, x2, y2]` (float image pixels) is first rounded outward to whole pixels
(`floor(x1), floor(y1), ceil(x2), ceil(y2)`), exactly as the original code slices `image[:, y1:y2, x1:x2]`;
everything a network sees therefore depends only on this *pixel box*.

Two resize paths, both the non-antialiased bilinear resize of the original code (it pinned torch 1.13.1 /
torchvision 0.14.1, whose tensor `Resize` does not antialias):
- `crop_resize_batched` (default): all boxes at once on the device with `torchvision.ops.roi_align(
  aligned=True, sampling_ratio=1)` on the pixel-edge coordinates. One bilinear sample per output pixel at
  `x1 + (j + 0.5) * w / S - 0.5`, i.e. `F.interpolate(crop, (S, S), mode="bilinear", align_corners=False,
  antialias=False)` of the sliced crop. It is exact when the crop is at least S pixels in each direction;
  for smaller crops (up-sampling) the outermost half output pixel reads the image pixel just outside the
  crop instead of repeating the crop's edge pixel.
- `crop_resize_loop`: the original's own procedure, one box at a time: slice `image[:, y1:y2, x1:x2]` and
  resize it alone with bilinear `F.interpolate(align_corners=False, antialias=False)`. Exactly the
  original's crops; kept for `--original_behaviour` and as the benchmark baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

CROP_SIZE = 128


def pixel_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[N, 4] float boxes -> [N, 4] int64 pixel boxes (outward rounding, clipped, at least one pixel)."""
    b = boxes.to(torch.float64)
    x1 = torch.floor(b[:, 0]).clamp(0, width - 1)
    y1 = torch.floor(b[:, 1]).clamp(0, height - 1)
    x2 = torch.maximum(torch.ceil(b[:, 2]).clamp(max=width), x1 + 1)
    y2 = torch.maximum(torch.ceil(b[:, 3]).clamp(max=height), y1 + 1)
    return torch.stack([x1, y1, x2, y2], dim=1).to(torch.int64)


def on_edge_flags(pix: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[N, 4] bool: pixel box edge lies on the image border (left, top, right, bottom)."""
    return torch.stack([pix[:, 0] == 0, pix[:, 1] == 0, pix[:, 2] == width, pix[:, 3] == height], dim=1)


def crop_resize_batched(image: torch.Tensor, pix: torch.Tensor, size: int = CROP_SIZE) -> torch.Tensor:
    """image [C, H, W] float, pix [N, 4] pixel boxes -> crops [N, C, size, size] (roi_align, one launch)."""
    if pix.numel() == 0:
        return image.new_zeros((0, image.shape[0], size, size))
    rois = torch.cat([pix.new_zeros((pix.shape[0], 1)), pix], dim=1).to(image.dtype).to(image.device)
    return roi_align(image[None], rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=1,
                     aligned=True)


def crop_resize_loop(image: torch.Tensor, pix: torch.Tensor, size: int = CROP_SIZE) -> torch.Tensor:
    """The original's path: slice each crop and resize it alone (bilinear, no antialias), one at a time."""
    out = [F.interpolate(image[None, :, y1:y2, x1:x2], size=(size, size), mode="bilinear",
                         align_corners=False, antialias=False)[0]
           for x1, y1, x2, y2 in pix.tolist()]
    if not out:
        return image.new_zeros((0, image.shape[0], size, size))
    return torch.stack(out, dim=0)
