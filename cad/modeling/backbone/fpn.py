"""Detectron2-layout FPN: ``fpn_lateral{2..5}`` 1x1 and ``fpn_output{2..5}`` 3x3 convs (with ``.norm`` when
FPN.NORM is set, then no conv bias), top-down nearest 2x upsampling + sum, P6 = max-pool(k=1, s=2) of P5."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Conv2d, c2_xavier_fill, get_norm
from .resnet import build_resnet


class FPN(nn.Module):
    """``forward(x [B,3,H,W]) -> {"p2": [B,C,H/4,W/4], ..., "p6": [B,C,H/64,W/64]}``, H and W /32."""

    def __init__(
        self,
        bottom_up: nn.Module,
        in_features: list[str],
        out_channels: int,
        norm: str = "",
        fuse_type: str = "sum",
        top_block: bool = True,
    ):
        super().__init__()
        shapes = bottom_up.output_shape()
        strides = [shapes[f][1] for f in in_features]
        in_channels = [shapes[f][0] for f in in_features]
        use_bias = norm == ""
        lateral_convs, output_convs = [], []
        for in_ch, stride in zip(in_channels, strides):
            lateral = Conv2d(
                in_ch, out_channels, kernel_size=1, bias=use_bias, norm=get_norm(norm, out_channels)
            )
            output = Conv2d(
                out_channels,
                out_channels,
                kernel_size=3,
                stride=1,
                padding=1,
                bias=use_bias,
                norm=get_norm(norm, out_channels),
            )
            c2_xavier_fill(lateral)
            c2_xavier_fill(output)
            stage = int(math.log2(stride))
            self.add_module(f"fpn_lateral{stage}", lateral)
            self.add_module(f"fpn_output{stage}", output)
            lateral_convs.append(lateral)
            output_convs.append(output)
        # plain lists (coarsest first), so parameters are registered only under the fpn_* names
        self.lateral_convs = lateral_convs[::-1]
        self.output_convs = output_convs[::-1]
        self.bottom_up = bottom_up
        self.in_features = list(in_features)
        if fuse_type not in ("sum", "avg"):
            raise ValueError(f"MODEL.FPN.FUSE_TYPE must be 'sum' or 'avg', got {fuse_type!r}")
        self._fuse_type = fuse_type
        self.use_top_block = top_block
        self._out_feature_strides = {f"p{int(math.log2(s))}": s for s in strides}
        if top_block:
            last = int(math.log2(strides[-1]))
            self._out_feature_strides[f"p{last + 1}"] = 2 ** (last + 1)
        self._out_features = list(self._out_feature_strides)
        self.out_channels = out_channels
        self.size_divisibility = strides[-1]

    @property
    def out_feature_strides(self) -> dict[str, int]:
        return dict(self._out_feature_strides)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.bottom_up(x)
        prev = self.lateral_convs[0](feats[self.in_features[-1]])
        results = [self.output_convs[0](prev)]
        for idx in range(1, len(self.lateral_convs)):
            lateral = self.lateral_convs[idx](feats[self.in_features[-idx - 1]])
            top_down = F.interpolate(prev, scale_factor=2.0, mode="nearest")
            prev = lateral + top_down
            if self._fuse_type == "avg":
                prev = prev / 2
            results.insert(0, self.output_convs[idx](prev))
        if self.use_top_block:
            results.append(F.max_pool2d(results[-1], kernel_size=1, stride=2, padding=0))
        return dict(zip(self._out_features, results))


def build_resnet_fpn_backbone(cfg) -> FPN:
    return _fpn_on(build_resnet(cfg), cfg)


def build_efficientnet_fpn_backbone(cfg) -> FPN:
    """FPN on an EfficientNet-Lite bottom-up (``MODEL.EFFICIENTNET``); a small CPU option."""
    from .efficientnet import build_efficientnet

    return _fpn_on(build_efficientnet(cfg), cfg)


def _fpn_on(bottom_up: nn.Module, cfg) -> FPN:
    return FPN(
        bottom_up,
        cfg.MODEL.FPN.IN_FEATURES,
        cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
