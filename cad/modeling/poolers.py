"""Multi-level RoIAlign pooler with Detectron2's ROIAlignV2 semantics (aligned=True, adaptive sampling).

torchvision's ``MultiScaleRoIAlign`` always uses aligned=False and infers scales from the first batch; this
pooler calls ``torchvision.ops.roi_align(spatial_scale=1/stride, sampling_ratio, aligned=True)`` per level and
assigns each box of area A to level floor(4 + log2(sqrt(A) / 224 + 1e-8)) clamped to [min, max] level.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import roi_align

from ..structures import Boxes


def assign_boxes_to_levels(
    box_lists: list[Boxes],
    min_level: int,
    max_level: int,
    canonical_box_size: int = 224,
    canonical_level: int = 4,
) -> torch.Tensor:
    """-> [M] int64 level index relative to ``min_level`` for the concatenated boxes."""
    sizes = torch.sqrt(torch.cat([b.area() for b in box_lists]))
    levels = torch.floor(canonical_level + torch.log2(sizes / canonical_box_size + 1e-8))
    return (torch.clamp(levels, min=min_level, max=max_level) - min_level).to(torch.int64)


def convert_boxes_to_pooler_format(box_lists: list[Boxes]) -> torch.Tensor:
    """-> [M, 5] rows (batch index, x1, y1, x2, y2)."""
    rows = []
    for i, b in enumerate(box_lists):
        t = b.tensor
        rows.append(torch.cat([torch.full((len(t), 1), i, dtype=t.dtype, device=t.device), t], dim=1))
    return torch.cat(rows, dim=0)


class ROIPooler(nn.Module):
    """``forward(features list of [B,C,Hl,Wl] (finest first), boxes list of Boxes) -> [M, C, R, R]``."""

    def __init__(
        self,
        output_size: int,
        scales: list[float],
        sampling_ratio: int = 0,
        aligned: bool = True,
        canonical_box_size: int = 224,
        canonical_level: int = 4,
    ):
        super().__init__()
        self.output_size = (int(output_size), int(output_size))
        self.scales = [float(s) for s in scales]
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = aligned
        min_level = -math.log2(self.scales[0])
        max_level = -math.log2(self.scales[-1])
        if not (math.isclose(min_level, round(min_level)) and math.isclose(max_level, round(max_level))):
            raise ValueError(f"Pooler scales must be powers of 1/2, got {scales}")
        self.min_level, self.max_level = int(round(min_level)), int(round(max_level))
        if len(scales) != self.max_level - self.min_level + 1:
            raise ValueError(f"Pooler scales must be consecutive levels, got {scales}")
        self.canonical_box_size = canonical_box_size
        self.canonical_level = canonical_level

    def _pool(self, x: torch.Tensor, rois: torch.Tensor, scale: float) -> torch.Tensor:
        return roi_align(
            x,
            rois.to(dtype=x.dtype),
            self.output_size,
            spatial_scale=scale,
            sampling_ratio=self.sampling_ratio,
            aligned=self.aligned,
        )

    def forward(self, x: list[torch.Tensor], box_lists: list[Boxes]) -> torch.Tensor:
        if len(x) != len(self.scales):
            raise ValueError(f"Pooler got {len(x)} feature maps for {len(self.scales)} scales")
        rois = convert_boxes_to_pooler_format(box_lists)
        c = x[0].shape[1]
        if len(rois) == 0:
            return x[0].new_zeros((0, c) + self.output_size)
        if len(self.scales) == 1:
            return self._pool(x[0], rois, self.scales[0])
        levels = assign_boxes_to_levels(
            box_lists, self.min_level, self.max_level, self.canonical_box_size, self.canonical_level
        )
        out = x[0].new_zeros((len(rois), c) + self.output_size)
        for lvl, (feat, scale) in enumerate(zip(x, self.scales)):
            inds = torch.nonzero(levels == lvl, as_tuple=True)[0]
            if inds.numel():
                out.index_put_((inds,), self._pool(feat, rois[inds], scale).to(out.dtype))
        return out
