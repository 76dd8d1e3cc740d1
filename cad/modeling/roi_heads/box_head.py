"""Detectron2 ``FastRCNNConvFCHead`` (here: NUM_CONV 0, NUM_FC 2): flatten -> fc1 -> ReLU -> fc2 -> ReLU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Conv2d, c2_msra_fill, c2_xavier_fill, get_norm


class FastRCNNConvFCHead(nn.Module):
    """[R, C, P, P] pooled features -> [R, FC_DIM] (keys ``conv{i}``, ``fc{i}`` as in Detectron2)."""

    def __init__(
        self,
        in_channels: int,
        resolution: int,
        num_conv: int = 0,
        conv_dim: int = 256,
        num_fc: int = 2,
        fc_dim: int = 1024,
        norm: str = "",
    ):
        super().__init__()
        self.convs, self.fcs = [], []
        c = in_channels
        for k in range(num_conv):
            conv = Conv2d(
                c,
                conv_dim,
                kernel_size=3,
                padding=1,
                bias=not norm,
                norm=get_norm(norm, conv_dim),
                activation=nn.ReLU(),
            )
            c2_msra_fill(conv)
            self.add_module(f"conv{k + 1}", conv)
            self.convs.append(conv)
            c = conv_dim
        size = c * resolution * resolution
        for k in range(num_fc):
            fc = nn.Linear(size, fc_dim)
            c2_xavier_fill(fc)
            self.add_module(f"fc{k + 1}", fc)
            self.fcs.append(fc)
            size = fc_dim
        self.output_size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        if self.fcs:
            x = torch.flatten(x, start_dim=1)
            for fc in self.fcs:
                x = F.relu(fc(x))
        return x
