"""Detectron2-layout ResNet: ``stem.conv1`` (+``.norm``) and stages ``res2..res5`` of blocks with
``conv1..conv3`` and ``shortcut``. STRIDE_IN_1X1=False puts the stride on the 3x3 conv (torchvision v1.5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Conv2d, FrozenBatchNorm2d, c2_msra_fill, get_norm

_BLOCKS_PER_DEPTH = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


def _freeze(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad = False
    return FrozenBatchNorm2d.convert_frozen_batchnorm(module)


class BasicStem(nn.Module):
    """7x7/2 conv + norm + ReLU, then 3x3/2 max-pool: stride 4."""

    def __init__(self, in_channels: int = 3, out_channels: int = 64, norm: str = "BN"):
        super().__init__()
        self.conv1 = Conv2d(
            in_channels,
            out_channels,
            kernel_size=7,
            stride=2,
            padding=3,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        c2_msra_fill(self.conv1)
        self.out_channels = out_channels
        self.stride = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu_(self.conv1(x))
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34)."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, norm: str = "BN"):
        super().__init__()
        self.shortcut = None
        if in_channels != out_channels:
            self.shortcut = Conv2d(
                in_channels,
                out_channels,
                kernel_size=1,
                stride=stride,
                bias=False,
                norm=get_norm(norm, out_channels),
            )
        self.conv1 = Conv2d(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=stride,
            padding=1,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        self.conv2 = Conv2d(
            out_channels,
            out_channels,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        for layer in (self.conv1, self.conv2, self.shortcut):
            if layer is not None:
                c2_msra_fill(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = self.conv2(out)
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out + shortcut)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 -> 1x1 bottleneck; the stride sits on conv1 if ``stride_in_1x1`` else on conv2."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bottleneck_channels: int,
        stride: int = 1,
        num_groups: int = 1,
        norm: str = "BN",
        stride_in_1x1: bool = False,
        dilation: int = 1,
    ):
        super().__init__()
        self.shortcut = None
        if in_channels != out_channels:
            self.shortcut = Conv2d(
                in_channels,
                out_channels,
                kernel_size=1,
                stride=stride,
                bias=False,
                norm=get_norm(norm, out_channels),
            )
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv2d(
            in_channels,
            bottleneck_channels,
            kernel_size=1,
            stride=stride_1x1,
            bias=False,
            norm=get_norm(norm, bottleneck_channels),
        )
        self.conv2 = Conv2d(
            bottleneck_channels,
            bottleneck_channels,
            kernel_size=3,
            stride=stride_3x3,
            padding=dilation,
            bias=False,
            groups=num_groups,
            dilation=dilation,
            norm=get_norm(norm, bottleneck_channels),
        )
        self.conv3 = Conv2d(
            bottleneck_channels, out_channels, kernel_size=1, bias=False, norm=get_norm(norm, out_channels)
        )
        for layer in (self.conv1, self.conv2, self.conv3, self.shortcut):
            if layer is not None:
                c2_msra_fill(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out + shortcut)


class ResNet(nn.Module):
    """Returns ``{"res2": [B,C2,H/4,W/4], ..., "res5": [B,C5,H/32,W/32]}`` (the requested out_features)."""

    def __init__(
        self,
        depth: int = 50,
        norm: str = "BN",
        out_features=("res2", "res3", "res4", "res5"),
        freeze_at: int = 0,
        stem_out_channels: int = 64,
        res2_out_channels: int = 256,
        num_groups: int = 1,
        width_per_group: int = 64,
        stride_in_1x1: bool = False,
        res5_dilation: int = 1,
        in_channels: int = 3,
    ):
        super().__init__()
        if depth not in _BLOCKS_PER_DEPTH:
            raise ValueError(f"MODEL.RESNETS.DEPTH must be one of {sorted(_BLOCKS_PER_DEPTH)}, got {depth}")
        if depth in (18, 34) and res2_out_channels != 64:
            raise ValueError("MODEL.RESNETS.RES2_OUT_CHANNELS must be 64 for ResNet-18/34")
        if res5_dilation not in (1, 2):
            raise ValueError(f"MODEL.RESNETS.RES5_DILATION must be 1 or 2, got {res5_dilation}")
        self.stem = BasicStem(in_channels, stem_out_channels, norm)
        self._out_features = list(out_features)
        num_stages = max({"res2": 1, "res3": 2, "res4": 3, "res5": 4}[f] for f in out_features)
        self._out_feature_channels: dict[str, int] = {}
        self._out_feature_strides: dict[str, int] = {}
        self.stage_names: list[str] = []
        in_ch, out_ch = stem_out_channels, res2_out_channels
        bottleneck = num_groups * width_per_group
        stride = self.stem.stride
        for idx in range(num_stages):
            name = f"res{idx + 2}"
            dilation = res5_dilation if idx == 3 else 1
            first_stride = 1 if idx == 0 or (idx == 3 and dilation == 2) else 2
            blocks = []
            for b in range(_BLOCKS_PER_DEPTH[depth][idx]):
                s = first_stride if b == 0 else 1
                if depth in (18, 34):
                    blocks.append(BasicBlock(in_ch, out_ch, stride=s, norm=norm))
                else:
                    blocks.append(
                        BottleneckBlock(
                            in_ch,
                            out_ch,
                            bottleneck_channels=bottleneck,
                            stride=s,
                            num_groups=num_groups,
                            norm=norm,
                            stride_in_1x1=stride_in_1x1,
                            dilation=dilation,
                        )
                    )
                in_ch = out_ch
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_names.append(name)
            stride *= first_stride
            self._out_feature_channels[name] = out_ch
            self._out_feature_strides[name] = stride
            out_ch *= 2
            bottleneck *= 2
        self.freeze(freeze_at)

    def freeze(self, freeze_at: int = 0) -> ResNet:
        """Freeze the stem (freeze_at >= 1) and the first ``freeze_at - 1`` stages (FrozenBN, no grads)."""
        if freeze_at >= 1:
            self.stem = _freeze(self.stem)
        for idx, name in enumerate(self.stage_names, start=2):
            if freeze_at >= idx:
                self.add_module(name, _freeze(getattr(self, name)))
        return self

    def output_shape(self) -> dict[str, tuple[int, int]]:
        """name -> (channels, stride)."""
        return {f: (self._out_feature_channels[f], self._out_feature_strides[f]) for f in self._out_features}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = {}
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs


def build_resnet(cfg) -> ResNet:
    r = cfg.MODEL.RESNETS
    return ResNet(
        depth=r.DEPTH,
        norm=r.NORM,
        out_features=r.OUT_FEATURES,
        freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
        stem_out_channels=r.STEM_OUT_CHANNELS,
        res2_out_channels=r.RES2_OUT_CHANNELS,
        num_groups=r.NUM_GROUPS,
        width_per_group=r.WIDTH_PER_GROUP,
        stride_in_1x1=r.STRIDE_IN_1X1,
        res5_dilation=r.RES5_DILATION,
        in_channels=len(cfg.MODEL.PIXEL_MEAN),
    )
