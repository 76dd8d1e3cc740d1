"""Small dense CPU backbones: a torchvision ResNet with FPN-style top-down fusion to the input resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

# Output channels of (stem, layer1, layer2, layer3, layer4).
_RESNET_CHANNELS = {
    "resnet18": (64, 64, 128, 256, 512),
    "resnet34": (64, 64, 128, 256, 512),
    "resnet50": (64, 256, 512, 1024, 2048),
}


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)
    )


class ResNetFPN(nn.Module):
    """torchvision ResNet (weights=None) + top-down fusion: [B, 3, H, W] -> [B, features, H, W].

    Each of the stem (1/2), layer1 (1/4), layer2 (1/8), layer3 (1/16) outputs is projected by a 1x1 conv to
    `fpn_channels` and added to the bilinearly upsampled coarser level, then refined by a 3x3 conv + BN +
    ReLU (starting from layer4 at 1/32). The 1/2-resolution result is projected to `features` channels and
    upsampled x2 (bilinear, align_corners) to the input resolution, like the DPT output.
    """

    def __init__(self, arch: str = "resnet18", features: int = 64, fpn_channels: int = 64):
        super().__init__()
        if arch not in _RESNET_CHANNELS:
            raise ValueError(f"unknown ResNet arch {arch!r}; choose from {sorted(_RESNET_CHANNELS)}")
        body = getattr(torchvision.models, arch)(weights=None)
        body.avgpool = nn.Identity()
        body.fc = nn.Identity()
        self.body = body
        self.out_channels = features
        chans = _RESNET_CHANNELS[arch]
        self.lateral = nn.ModuleList(nn.Conv2d(c, fpn_channels, 1) for c in chans)
        self.smooth = nn.ModuleList(_conv_bn_relu(fpn_channels, fpn_channels) for _ in chans[:-1])
        self.out_conv = nn.Conv2d(fpn_channels, features, 1)

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        b = self.body
        c1 = b.relu(b.bn1(b.conv1(x)))
        c2 = b.layer1(b.maxpool(c1))
        c3 = b.layer2(c2)
        c4 = b.layer3(c3)
        c5 = b.layer4(c4)
        return [c1, c2, c3, c4, c5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self._pyramid(x)
        p = self.lateral[-1](feats[-1])
        for level in range(len(feats) - 2, -1, -1):
            skip = self.lateral[level](feats[level])
            p = F.interpolate(p, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
            p = self.smooth[level](p)
        p = self.out_conv(p)
        return F.interpolate(p, size=x.shape[-2:], mode="bilinear", align_corners=True)
