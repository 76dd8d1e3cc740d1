"""ROI Masking (S4Net): a ternary mask per ROI that keeps features inside the box, negates them in a
surrounding ring and zeroes them elsewhere; and the confinement of a slot's mask to its enlarged ROI."""

from __future__ import annotations

import torch

# Logit given to pixels outside a slot's region: alpha = sigmoid(-10) = 4.5e-5, i.e. no mask there.
OUTSIDE_LOGIT = -10.0


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


def cells_inside(boxes: torch.Tensor, height: int, width: int, stride: float) -> torch.Tensor:
    """boxes [N, 4] xyxy in image pixels -> bool [N, height, width]: the cells of a stride-`stride` map whose
    centre ((j + 0.5) * stride, (i + 0.5) * stride) lies in the box (x2/y2 exclusive)."""
    ys = (torch.arange(height, device=boxes.device, dtype=boxes.dtype) + 0.5) * stride
    xs = (torch.arange(width, device=boxes.device, dtype=boxes.dtype) + 0.5) * stride
    in_x = (xs[None, :] >= boxes[:, 0:1]) & (xs[None, :] < boxes[:, 2:3])  # [N, W]
    in_y = (ys[None, :] >= boxes[:, 1:2]) & (ys[None, :] < boxes[:, 3:4])  # [N, H]
    return in_y[:, :, None] & in_x[:, None, :]


def ternary_roi_masks(
    boxes: torch.Tensor, height: int, width: int, stride: float, ratio: float
) -> torch.Tensor:
    """boxes [N, 4] xyxy in image pixels -> ternary masks [N, 1, height, width] on a feature map of `stride`.

    A cell whose centre ((j + 0.5) * stride, (i + 0.5) * stride) lies inside the box gets 1, inside the box
    enlarged by `ratio` (see `expand_boxes`) but outside the box -1, and 0 elsewhere.
    """
    inner = cells_inside(boxes, height, width, stride)
    outer = cells_inside(expand_boxes(boxes, ratio), height, width, stride)
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


def confine_logits(
    logits: torch.Tensor, boxes: torch.Tensor, ratio: float, outside: float = OUTSIDE_LOGIT
) -> torch.Tensor:
    """Segment only inside the enlarged ROI: logits [B, R, H, W] of R slots, boxes [B, R, 4] -> the logits
    with every pixel outside the slot's box enlarged by `ratio` (`expand_boxes`) set to `outside`.

    No gradient flows to the replaced pixels. A mask that reaches the edge of the enlarged ROI yields a pseudo
    box larger than the ROI, so the RPN learns to enlarge the ROI until the whole object is covered.
    """
    b, r, h, w = logits.shape
    region = cells_inside(expand_boxes(boxes.reshape(-1, 4).to(logits.dtype), ratio), h, w, 1.0)
    return torch.where(region.view(b, r, h, w), logits, torch.full_like(logits, outside))
