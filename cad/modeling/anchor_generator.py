"""Detectron2's DefaultAnchorGenerator: unrounded base anchors, fixed strides, offset-shifted grid.

For size s and aspect ratio a (= h / w): w = sqrt(s^2 / a), h = a w, base anchor (-w/2, -h/2, w/2, h/2).
Per level the anchors are ordered (H, W, A) with A = sizes x ratios (ratios inner), centred at
((j + offset) * stride, (i + offset) * stride).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..structures import Boxes


def generate_cell_anchors(sizes, aspect_ratios) -> torch.Tensor:
    """[len(sizes) * len(aspect_ratios), 4] float32 anchors centred at 0 (not rounded)."""
    anchors = []
    for size in sizes:
        area = float(size) ** 2.0
        for ar in aspect_ratios:
            w = math.sqrt(area / ar)
            h = ar * w
            anchors.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(anchors, dtype=torch.float32)


class DefaultAnchorGenerator(nn.Module):
    """``forward(features list of [B,C,Hi,Wi]) -> list of Boxes [Hi*Wi*A, 4]`` (same for every image)."""

    def __init__(self, sizes, aspect_ratios, strides, offset: float = 0.0):
        super().__init__()
        n = len(strides)
        if len(sizes) == 1:
            sizes = list(sizes) * n
        if len(aspect_ratios) == 1:
            aspect_ratios = list(aspect_ratios) * n
        if len(sizes) != n or len(aspect_ratios) != n:
            raise ValueError(
                f"ANCHOR_GENERATOR: {len(sizes)} size lists / {len(aspect_ratios)} ratio lists "
                f"for {n} feature levels"
            )
        if not 0.0 <= offset < 1.0:
            raise ValueError(f"ANCHOR_GENERATOR.OFFSET must be in [0, 1), got {offset}")
        self.strides = [int(s) for s in strides]
        self.offset = float(offset)
        self.num_features = n
        for i, (s, a) in enumerate(zip(sizes, aspect_ratios)):
            self.register_buffer(f"cell_anchors_{i}", generate_cell_anchors(s, a), persistent=False)

    @property
    def cell_anchors(self) -> list[torch.Tensor]:
        return [getattr(self, f"cell_anchors_{i}") for i in range(self.num_features)]

    @property
    def num_anchors(self) -> list[int]:
        return [len(c) for c in self.cell_anchors]

    def _grid_anchors(self, grid_sizes) -> list[torch.Tensor]:
        out = []
        for (h, w), stride, base in zip(grid_sizes, self.strides, self.cell_anchors):
            dev = base.device
            shifts_x = torch.arange(
                self.offset * stride, w * stride, step=stride, dtype=torch.float32, device=dev
            )
            shifts_y = torch.arange(
                self.offset * stride, h * stride, step=stride, dtype=torch.float32, device=dev
            )
            sy, sx = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
            sx, sy = sx.reshape(-1), sy.reshape(-1)
            shifts = torch.stack((sx, sy, sx, sy), dim=1)
            out.append((shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4))
        return out

    def forward(self, features: list[torch.Tensor]) -> list[Boxes]:
        grid_sizes = [f.shape[-2:] for f in features]
        return [Boxes(a) for a in self._grid_anchors(grid_sizes)]
