"""Field analysis in crop space, one function per step of the paper; all batched.

Shapes: center fields [N, 2, S, S] (channel 0 row, 1 column), sdf maps [N, S, S], masks bool [N, S, S].
Center reasoning: `union_masks`, `split_evidence` (anti-center map inside the eroded mask), `component_boxes`.
Boundary reasoning: `edge_movements`, `boundary_update`. Box geometry is in `reasoning.boxes`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from reasoning.boxes import move_edges
from reasoning.crops import CROP_SIZE


def field_norm(center_fields: torch.Tensor) -> torch.Tensor:
    """|center field| [N, S, S] (float32)."""
    c = center_fields.float()
    return torch.sqrt(c[:, 0] * c[:, 0] + c[:, 1] * c[:, 1])


def union_masks(center_fields: torch.Tensor, sdf_maps: torch.Tensor) -> torch.Tensor:
    """Object mask of each crop: (|center field| > 0.5) OR (sigmoid(sdf) > 0.5) -> bool [N, S, S]."""
    center = field_norm(center_fields) > 0.5
    return center | (torch.sigmoid(sdf_maps.float()) > 0.5)


def erode(masks: torch.Tensor, kernel_size: int = 9, rounds: int = 3) -> torch.Tensor:
    """Binary erosion with a square all-ones kernel, `rounds` times; outside the crop counts as background."""
    # `rounds` erosions by a k x k square equal one erosion by a (rounds*(k-1)+1) square: a pixel stays iff
    # the square around it holds no background pixel. The background count of every square comes from
    # running sums along rows, then columns (integers, exact in float32; several times faster on a CPU
    # than a max-pool with this large a window).
    size = rounds * (kernel_size - 1) + 1
    pad = size // 2
    count = F.pad((~masks).to(torch.float32), (pad, pad, pad, pad), value=1.0)
    for dim, lead in ((1, (0, 0, 1, 0)), (2, (1, 0))):
        sums = F.pad(count.cumsum(dim), lead)  # a leading 0: window sum = sums[i + size] - sums[i]
        n = sums.shape[dim] - size
        count = sums.narrow(dim, size, n) - sums.narrow(dim, 0, n)
    return count < 0.5


def anti_center_kernel(kernel_size: int = 5) -> torch.Tensor:
    """[1, 2, k, k] float64: the tap at offset o from the middle is the unit vector -o/|o| (zero at o = 0)."""
    c = kernel_size // 2
    off = torch.arange(kernel_size, dtype=torch.float64) - c
    oy, ox = torch.meshgrid(off, off, indexing="ij")
    norm = torch.sqrt(oy**2 + ox**2).clamp(min=1e-12)
    return torch.stack([-oy / norm, -ox / norm])[None]


def anti_center_map(center_fields: torch.Tensor, kernel_size: int = 5) -> torch.Tensor:
    """Correlate the center field with `anti_center_kernel` and divide by k*k-1 -> [N, S, S].

    Computed in float64 on CUDA (as the original) and in float32 on CPU, where float64 convolution is
    several times slower (difference < 1e-5, far below the 0.009 split threshold).

    About -1 at an object's center (field vectors point away from it), positive where vectors from two
    sides point at each other (the seam between two adjacent objects).
    """
    dtype = torch.float64 if center_fields.device.type == "cuda" else torch.float32
    kernel = anti_center_kernel(kernel_size).to(center_fields.device, dtype)
    out = F.conv2d(center_fields.to(dtype), kernel, padding=kernel_size // 2)[:, 0]
    return out / (kernel_size**2 - 1)


def split_evidence(center_fields: torch.Tensor, union: torch.Tensor, border: int = 10,
                   erode_kernel: int = 9, erode_rounds: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked anti-center map maximum and its location.

    The anti-center map is kept inside the eroded union mask and zeroed in a `border`-pixel frame.
    Returns (max value [N] float64, argmax [N, 2] long as (row, col); first maximum in raster order).
    """
    score = anti_center_map(center_fields) * erode(union, erode_kernel, erode_rounds)
    if border > 0:
        score[:, :border] = 0
        score[:, -border:] = 0
        score[:, :, :border] = 0
        score[:, :, -border:] = 0
    flat = score.flatten(1)
    if flat.shape[0] == 0:
        return flat.new_zeros(0), torch.zeros((0, 2), dtype=torch.long, device=flat.device)
    values, idx = flat.max(dim=1)
    width = score.shape[-1]
    return values, torch.stack([idx // width, idx % width], dim=1)


def edge_movements(sdf_maps: torch.Tensor) -> torch.Tensor:
    """Signed distance (crop pixels) from each crop edge to the object boundary -> [N, 4] (l, t, r, b).

    sdf is turned into pixel distances with one step size for the soft foreground (sigmoid(sdf)) and one
    for the soft background: step = 1 / (weighted mean of |grad sdf|), with forward-difference gradients
    whose last row and column are dropped. An edge's value is the maximum movement along it: positive
    means the object continues past the edge (expand), negative means an empty margin (shrink).
    """
    s = sdf_maps.float()
    core = s[:, :-1, :-1]
    dy = s[:, 1:, :-1] - core
    dx = s[:, :-1, 1:] - core
    grad = torch.sqrt(dy * dy + dx * dx)
    fg = torch.sigmoid(core)
    bg = 1 - fg
    avg_fg = (fg * grad).sum((1, 2)) / (fg.sum((1, 2)) + 1e-8)
    avg_bg = (bg * grad).sum((1, 2)) / (bg.sum((1, 2)) + 1e-8)
    step = (1 / (avg_fg + 1e-10))[:, None, None] * fg + (1 / (avg_bg + 1e-10))[:, None, None] * bg
    move = step * core
    return torch.stack([move[:, :, 0].amax(1), move[:, 0, :].amax(1),
                        move[:, :, -1].amax(1), move[:, -1, :].amax(1)], dim=1)


def boundary_update(boxes: torch.Tensor, movements: torch.Tensor, on_edge: torch.Tensor, height: int,
                    width: int, max_shrink: float, delta_ratio: float,
                    size: int = CROP_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """One boundary-reasoning step for boxes [N, 4] float64 with edge movements [N, 4] (crop pixels).

    Converged: no edge expands (edges on the image border never count as expanding) and no edge shrinks by
    more than `max_shrink`. Other boxes move every edge by m * (1 + r) when expanding (m > 0) and
    m * (1 - r) when shrinking, scaled by box size / `size`, then are clipped to the image.
    Returns (converged bool [N], new boxes [N, 4] float64; converged boxes unchanged).
    """
    m = movements.to(torch.float64).cpu()
    judged = torch.where((m > 0) & on_edge.cpu(), torch.zeros_like(m), m)
    converged = (judged.amax(1) <= 0) & (judged.amin(1) >= -max_shrink)
    moved = move_edges(boxes, m + m.abs() * delta_ratio, height, width, size)
    return converged, torch.where(converged[:, None], boxes.to(torch.float64), moved)


def component_boxes(mask: np.ndarray) -> list[list[int]]:
    """8-connected components of a bool [S, S] mask -> boxes [x1, y1, x2, y2] (exclusive ends)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))
    return [[sl[1].start, sl[0].start, sl[1].stop, sl[0].stop] for sl in ndimage.find_objects(labels) if sl]
