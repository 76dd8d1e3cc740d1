"""Small dense CPU backbones: ResNet or EfficientNet-Lite with FPN-style top-down fusion to the input size."""

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
# timm names of the EfficientNet-Lite variants (TensorFlow "same" padding, as the ImageNet weights expect).
EFFICIENTNET_TIMM_NAMES = {"efficientnet_lite0": "tf_efficientnet_lite0"}


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)
    )


def with_coordinates(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C + 2, H, W]: appends pixel-center row and column coordinates in (-1, 1)."""
    b, _, h, w = x.shape
    rows = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) * (2.0 / h) - 1.0
    cols = (torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) * (2.0 / w) - 1.0
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"))[None].expand(b, 2, h, w)
    return torch.cat([x, grid], dim=1)


class DenseFPN(nn.Module):
    """Top-down fusion of a 5-level pyramid (strides 2, 4, 8, 16, 32): [B, 3, H, W] -> [B, features, H, W].

    Each level is projected by a 1x1 conv to `fpn_channels` and added to the bilinearly upsampled coarser
    level, then refined by a 3x3 conv + BN + ReLU (starting from the stride-32 level). The stride-2 result
    is projected to `features` channels and, with `full_resolution`, upsampled x2 (bilinear, align_corners)
    to the input size like the DPT output; otherwise it stays at stride 2 (`output_stride` 2) and the
    network upsamples its few output channels instead (4x cheaper heads). `coords` appends pixel
    coordinates to every level (CNNs have no position embedding; the center field needs position).
    Subclasses set `self.body` (what `--backbone_weights` loads into) and `_pyramid`.
    """

    def __init__(self, channels: tuple[int, ...], features: int, fpn_channels: int, coords: bool = False,
                 full_resolution: bool = True):
        super().__init__()
        self.out_channels = features
        self.output_stride = 1 if full_resolution else 2
        self.coords = coords
        extra = 2 if coords else 0
        self.lateral = nn.ModuleList(nn.Conv2d(c + extra, fpn_channels, 1) for c in channels)
        self.smooth = nn.ModuleList(_conv_bn_relu(fpn_channels, fpn_channels) for _ in channels[:-1])
        self.out_conv = nn.Conv2d(fpn_channels, features, 1)

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self._pyramid(x)
        if self.coords:
            feats = [with_coordinates(f) for f in feats]
        p = self.lateral[-1](feats[-1])
        for level in range(len(feats) - 2, -1, -1):
            skip = self.lateral[level](feats[level])
            p = F.interpolate(p, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
            p = self.smooth[level](p)
        p = self.out_conv(p)
        if self.output_stride == 2:
            return p
        return F.interpolate(p, size=x.shape[-2:], mode="bilinear", align_corners=True)


class ResNetFPN(DenseFPN):
    """torchvision ResNet (weights=None) pyramid: stem (1/2), layer1 (1/4) ... layer4 (1/32)."""

    def __init__(self, arch: str = "resnet18", features: int = 64, fpn_channels: int = 64):
        if arch not in _RESNET_CHANNELS:
            raise ValueError(f"unknown ResNet arch {arch!r}; choose from {sorted(_RESNET_CHANNELS)}")
        super().__init__(_RESNET_CHANNELS[arch], features, fpn_channels)
        body = getattr(torchvision.models, arch)(weights=None)
        body.avgpool = nn.Identity()
        body.fc = nn.Identity()
        self.body = body

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        b = self.body
        c1 = b.relu(b.bn1(b.conv1(x)))
        c2 = b.layer1(b.maxpool(c1))
        c3 = b.layer2(c2)
        c4 = b.layer3(c3)
        c5 = b.layer4(c4)
        return [c1, c2, c3, c4, c5]


class EfficientNetFPN(DenseFPN):
    """timm EfficientNet-Lite feature pyramid (randomly initialised; 5 levels at strides 2 ... 32)."""

    def __init__(self, arch: str = "efficientnet_lite0", features: int = 64, fpn_channels: int = 32,
                 coords: bool = True, full_resolution: bool = False):
        if arch not in EFFICIENTNET_TIMM_NAMES:
            known = list(EFFICIENTNET_TIMM_NAMES)
            raise ValueError(f"unknown EfficientNet arch {arch!r}; choose from {known}")
        import timm

        body = timm.create_model(EFFICIENTNET_TIMM_NAMES[arch], pretrained=False, features_only=True)
        super().__init__(tuple(body.feature_info.channels()), features, fpn_channels, coords, full_resolution)
        self.body = body

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(x)
