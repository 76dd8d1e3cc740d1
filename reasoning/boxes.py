"""Box geometry. Boxes are `[x1, y1, x2, y2]` with exclusive ends, in image pixels unless named crop boxes
(pixels of the S x S crop grid)."""

from __future__ import annotations

import torch


def large_boxes(boxes: torch.Tensor, min_area: float) -> torch.Tensor:
    """bool [N]: boxes [N, 4] with positive sides and an area above `min_area`."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return (w * h > min_area) & (w > 0) & (h > 0)


def split_boxes(boxes: torch.Tensor, points_rc: torch.Tensor, size: int) -> torch.Tensor:
    """Split each box [N, 4] at a crop-grid point [N, 2] (row, col) into its left, right, top and bottom
    parts -> [4N, 4] float64 (four rows per box, in that order)."""
    b = boxes.to(torch.float64)
    ry = points_rc[:, 0].to(torch.float64).cpu() / size
    rx = points_rc[:, 1].to(torch.float64).cpu() / size
    x1, y1, x2, y2 = b.unbind(1)
    xs = x1 + (x2 - x1) * rx
    ys = y1 + (y2 - y1) * ry
    out = torch.stack([
        torch.stack([x1, y1, xs, y2], 1), torch.stack([xs, y1, x2, y2], 1),
        torch.stack([x1, y1, x2, ys], 1), torch.stack([x1, ys, x2, y2], 1)], dim=1)
    return out.reshape(-1, 4)


def move_edges(boxes: torch.Tensor, step: torch.Tensor, height: int, width: int, size: int) -> torch.Tensor:
    """Move each edge of boxes [N, 4] outward by `step` [N, 4] crop pixels (left, top, right, bottom;
    negative moves inward), scaled by box size / `size`, and clip to the image -> [N, 4] float64."""
    b = boxes.to(torch.float64)
    s = step.to(torch.float64)
    sx = (b[:, 2] - b[:, 0]) / size
    sy = (b[:, 3] - b[:, 1]) / size
    new = torch.stack([b[:, 0] - s[:, 0] * sx, b[:, 1] - s[:, 1] * sy,
                       b[:, 2] + s[:, 2] * sx, b[:, 3] + s[:, 3] * sy], dim=1)
    new[:, 0] = new[:, 0].clamp(min=0)
    new[:, 1] = new[:, 1].clamp(min=0)
    new[:, 2] = new[:, 2].clamp(max=width)
    new[:, 3] = new[:, 3].clamp(max=height)
    return new


def crop_to_image(crop_boxes: list[list[int]], pixel_box: list[int], size: int) -> list[list[float]]:
    """Crop boxes on the `size` x `size` grid of the crop cut at `pixel_box` -> image boxes."""
    x1, y1, x2, y2 = pixel_box
    sx, sy = (x2 - x1) / size, (y2 - y1) / size
    return [[x1 + a * sx, y1 + b * sy, x1 + c * sx, y1 + d * sy] for a, b, c, d in crop_boxes]


def enlarge_boxes(boxes: list[list[float]], height: int, width: int, ratio: float) -> list[list[int]]:
    """Scale boxes by `ratio` about their centers, clip to the image, truncate to int (as the original)."""
    out = []
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        w, h = (x2 - x1) * ratio, (y2 - y1) * ratio
        out.append([int(max(cx - w / 2, 0)), int(max(cy - h / 2, 0)),
                    int(min(cx + w / 2, width)), int(min(cy + h / 2, height))])
    return out


def mask_boxes(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tight boxes of bool masks [N, H, W] -> (boxes [N, 4] float64, zero for an empty mask; nonempty [N])."""
    _, height, width = masks.shape
    rows, cols = masks.any(2), masks.any(1)
    nonempty = rows.any(1)
    tight = torch.zeros((masks.shape[0], 4), dtype=torch.float64)
    idx = torch.arange(height)
    jdx = torch.arange(width)
    big = 10**9
    tight[:, 0] = torch.where(cols, jdx, big).amin(1).double()
    tight[:, 1] = torch.where(rows, idx, big).amin(1).double()
    tight[:, 2] = torch.where(cols, jdx + 1, -1).amax(1).double()
    tight[:, 3] = torch.where(rows, idx + 1, -1).amax(1).double()
    tight[~nonempty] = 0
    return tight, nonempty
