"""ROI Masking (S4Net): a ternary mask per ROI that keeps features inside the box, negates them in a
surrounding ring and zeroes them elsewhere."""

from __future__ import annotations

import torch


def expand_boxes(boxes: torch.Tensor, ratio: float) -> torch.Tensor:
    """Enlarge xyxy boxes [..., 4] by `ratio` times the box width/height on every side."""
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return torch.stack(
        [
            boxes[..., 0] - ratio * w,
            boxes[..., 1] - ratio * h,
            boxes[..., 2] + ratio * w,
            boxes[..., 3] + ratio * h,
        ],
        dim=-1,
    )


def ternary_roi_masks(
    boxes: torch.Tensor, height: int, width: int, stride: float, ratio: float
) -> torch.Tensor:
    """boxes [N, 4] xyxy in image pixels -> ternary masks [N, 1, height, width] on a feature map of `stride`.

    A cell whose centre ((j + 0.5) * stride, (i + 0.5) * stride) lies inside the box gets 1, inside the box
    enlarged by `ratio` (see `expand_boxes`) but outside the box -1, and 0 elsewhere.
    """
    ys = (torch.arange(height, device=boxes.device, dtype=boxes.dtype) + 0.5) * stride
    xs = (torch.arange(width, device=boxes.device, dtype=boxes.dtype) + 0.5) * stride

    def inside(b: torch.Tensor) -> torch.Tensor:
        in_x = (xs[None, :] >= b[:, 0:1]) & (xs[None, :] < b[:, 2:3])  # [N, W]
        in_y = (ys[None, :] >= b[:, 1:2]) & (ys[None, :] < b[:, 3:4])  # [N, H]
        return in_y[:, :, None] & in_x[:, None, :]

    inner = inside(boxes)
    outer = inside(expand_boxes(boxes, ratio))
    mask = inner.to(boxes.dtype) - (outer & ~inner).to(boxes.dtype)
    return mask[:, None]


def roi_mask_features(
    features: torch.Tensor, boxes: torch.Tensor, stride: float, ratio: float
) -> torch.Tensor:
    """features [B, C, h, w], boxes [B, R, 4] -> masked features [B*R, C, h, w] (ROI-major per image)."""
    b, c, h, w = features.shape
    r = boxes.shape[1]
    masks = ternary_roi_masks(boxes.reshape(-1, 4), h, w, stride, ratio)  # [B*R, 1, h, w]
    return (features[:, None] * masks.view(b, r, 1, h, w)).reshape(b * r, c, h, w)
