"""Detectron2-semantics input transforms: ResizeShortestEdge (PIL bilinear on uint8, rounded sizes) and flips.

Boxes are ``[N, 4]`` xyxy in pixels; masks are bool ``[N, H, W]``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def shortest_edge_size(h: int, w: int, short: int, max_size: int) -> tuple[int, int]:
    """Output (new_h, new_w) of ResizeShortestEdge: short side -> ``short``, long side capped at ``max_size``,
    both rounded to the nearest integer (Detectron2's rule)."""
    scale = short / min(h, w)
    new_h, new_w = (short, scale * w) if h < w else (scale * h, short)
    if max(new_h, new_w) > max_size:
        s = max_size / max(new_h, new_w)
        new_h, new_w = new_h * s, new_w * s
    return int(new_h + 0.5), int(new_w + 0.5)


def resize_image(image: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """uint8 [H, W, 3] -> [new_h, new_w, 3] with PIL bilinear (antialiased when shrinking)."""
    if image.shape[:2] == (new_h, new_w):
        return image
    return np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))


def resize_masks(masks: torch.Tensor, new_h: int, new_w: int) -> torch.Tensor:
    """bool [N, H, W] -> [N, new_h, new_w] with PIL NEAREST, as Detectron2's ResizeTransform resizes a decoded
    RLE mask (`Image.fromarray(uint8 mask).resize(..., NEAREST)`), so its rounding is PIL's exactly."""
    if masks.shape[-2:] == (new_h, new_w):
        return masks
    if masks.shape[0] == 0:
        return masks.new_zeros((0, new_h, new_w))
    src = masks.to("cpu", torch.uint8).numpy()
    out = np.stack([np.asarray(Image.fromarray(m).resize((new_w, new_h), Image.NEAREST)) for m in src])
    return torch.from_numpy(out > 0).to(masks.device)


def resize_boxes(boxes: torch.Tensor, h: int, w: int, new_h: int, new_w: int) -> torch.Tensor:
    scale = boxes.new_tensor([new_w / w, new_h / h, new_w / w, new_h / h])
    return boxes * scale


def hflip_boxes(boxes: torch.Tensor, width: int) -> torch.Tensor:
    out = boxes.clone()
    out[:, 0] = width - boxes[:, 2]
    out[:, 2] = width - boxes[:, 0]
    return out


def vflip_boxes(boxes: torch.Tensor, height: int) -> torch.Tensor:
    out = boxes.clone()
    out[:, 1] = height - boxes[:, 3]
    out[:, 3] = height - boxes[:, 1]
    return out


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    out = boxes.clone()
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """bool [N, H, W] -> tight xyxy boxes [N, 4] (x2 = last column + 1); empty masks give zeros."""
    n, h, w = masks.shape
    if n == 0:
        return torch.zeros((0, 4), dtype=torch.float32, device=masks.device)
    rows = masks.any(dim=2)
    cols = masks.any(dim=1)
    ar_h = torch.arange(h, device=masks.device)
    ar_w = torch.arange(w, device=masks.device)
    big = max(h, w) + 1
    y1 = torch.where(rows, ar_h, big).amin(dim=1)
    y2 = torch.where(rows, ar_h, -1).amax(dim=1) + 1
    x1 = torch.where(cols, ar_w, big).amin(dim=1)
    x2 = torch.where(cols, ar_w, -1).amax(dim=1) + 1
    boxes = torch.stack([x1, y1, x2, y2], dim=1).float()
    return torch.where(rows.any(dim=1, keepdim=True), boxes, torch.zeros_like(boxes))
