"""ResNet-18 + FPN backbone of the spatial attention network (torchvision building blocks, random init).

Not the stage-1 `models.backbones.resnet_fpn.ResNetFPN`: both use torchvision's ResNet-18 trunk, but that one
fuses all five stages bilinearly (3x3 conv + BN + ReLU per level) into one dense map at input resolution,
while this one is torchvision's FPN (nearest top-down, 3x3 output conv per level, max-pooled p6) returning
the pyramid c1..c5, p2..p6 that the RPN and the ROI heads need.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
from torchvision.models import resnet18
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

# Strides of the ResNet stages conv1..conv5 and of the FPN levels P2..P6.
STAGE_STRIDES = {"c1": 2, "c2": 4, "c3": 8, "c4": 16, "c5": 32}
FPN_LEVELS = ("p2", "p3", "p4", "p5", "p6")
NORMS = {"batch": nn.BatchNorm2d, "group": lambda channels: nn.GroupNorm(32, channels)}


class ResNet18FPN(nn.Module):
    """x [B, in_channels, H, W] -> dict with ResNet stages c1..c5 and FPN levels p2..p6.

    c1 [B,64,H/2,W/2], c2 [B,64,H/4], c3 [B,128,H/8], c4 [B,256,H/16], c5 [B,512,H/32];
    p2..p5 [B,fpn_channels,H/4..H/32], p6 = max-pool of p5 (the level for the 256-pixel anchors).
    `in_channels` is 3 for R-MONet and 4 (image + log scope) for MONet's recurrent attention.
    `norm`: "batch" (torchvision's ResNet-18, as in the paper) or "group" (GroupNorm, 32 groups: statistics
    that do not depend on the batch, for small-batch runs).
    """

    def __init__(self, in_channels: int, fpn_channels: int, weights_path: str | None, norm: str):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"model.backbone_norm must be one of {sorted(NORMS)}, got {norm!r}")
        if weights_path and norm != "batch":
            raise ValueError(
                "model.backbone_weights (ImageNet BatchNorm weights) need model.backbone_norm=batch"
            )
        net = resnet18(weights=None, norm_layer=NORMS[norm])
        if weights_path:
            load_resnet18_weights(net, weights_path)
        if in_channels != 3:
            old = net.conv1
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            with torch.no_grad():
                net.conv1.weight[:, :3] = old.weight
                net.conv1.weight[:, 3:] = old.weight.mean(dim=1, keepdim=True)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.maxpool = net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.fpn = FeaturePyramidNetwork([64, 128, 256, 512], fpn_channels, extra_blocks=LastLevelMaxPool())
        self.fpn_channels = fpn_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c1 = self.stem(x)
        c2 = self.layer1(self.maxpool(c1))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        pyr = self.fpn(OrderedDict([("p2", c2), ("p3", c3), ("p4", c4), ("p5", c5)]))
        out = {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": c5}
        for name, feat in zip(FPN_LEVELS, pyr.values()):
            out[name] = feat
        return out


def load_resnet18_weights(net: nn.Module, path: str) -> None:
    """Load a local torchvision ResNet-18 state dict (e.g. resnet18-f37072fd.pth; any file format that
    `models.backbones.weights.read_weight_file` reads) strictly; the fc layer is ignored."""
    from models.backbones.weights import read_weight_file  # imports timm: only when weights are given

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"backbone weights {p} not found. Download the torchvision ResNet-18 ImageNet weights "
            "(https://download.pytorch.org/models/resnet18-f37072fd.pth) and pass their local path, "
            "or leave model.backbone_weights empty for random initialisation."
        )
    state = {k: v for k, v in read_weight_file(p).items() if not k.startswith("fc.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(
            f"{p} is not a ResNet-18 state dict (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
