"""Segmentation heads of the spatial attention network: Lite, UNet and ROI Align.

Each head maps backbone features and R ROIs per image to alpha logits [B, R, H, W] at input resolution
(alpha_k = sigmoid(logit)). With `boxes=None` (the MONet baselines) no ROI masking happens and R = 1.
With `confine=True` (the paper: segmentation only inside the region) the Lite and UNet logits are set to
`OUTSIDE_LOGIT` outside each ROI enlarged by `expand_ratio`; the ROI Align head produces logits only inside
the box by construction. `confine=False` leaves the Lite and UNet masks free outside the ROI (ablation).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import MultiScaleRoIAlign

from .backbone import STAGE_STRIDES
from .roi_masking import OUTSIDE_LOGIT, confine_logits, roi_mask_features

FPN_STRIDES = {"p2": 4, "p3": 8, "p4": 16, "p5": 32}


def conv_block(cin: int, cout: int, groups: int = 8) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.GroupNorm(min(groups, cout), cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.GroupNorm(min(groups, cout), cout),
        nn.ReLU(inplace=True),
    )


def _masked(feat: torch.Tensor, boxes: torch.Tensor | None, stride: int, ratio: float) -> torch.Tensor:
    return feat if boxes is None else roi_mask_features(feat, boxes, stride, ratio)


def _confined(logits: torch.Tensor, boxes: torch.Tensor | None, confine: bool, ratio: float) -> torch.Tensor:
    return logits if boxes is None or not confine else confine_logits(logits, boxes, ratio)


def _repeat_rois(feat: torch.Tensor, r: int) -> torch.Tensor:
    return feat if r == 1 else feat.repeat_interleave(r, dim=0)


class MaskRCNNConvHead(nn.Module):
    """Mask R-CNN-style head: 4 conv3x3 + ReLU, a 2x transposed conv, a 1x1 conv to one logit map."""

    def __init__(self, cin: int, channels: int):
        super().__init__()
        layers = []
        for i in range(4):
            layers += [nn.Conv2d(cin if i == 0 else channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        self.convs = nn.Sequential(*layers)
        self.up = nn.ConvTranspose2d(channels, channels, 2, stride=2)
        self.out = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.up(self.convs(x))))


class LiteHead(nn.Module):
    """R-MONet(Lite): ROI masking on the conv3-level FPN map (stride 8), Mask R-CNN-like conv head."""

    def __init__(self, fpn_channels: int, channels: int, expand_ratio: float, confine: bool):
        super().__init__()
        self.head = MaskRCNNConvHead(fpn_channels, channels)
        self.expand_ratio = expand_ratio
        self.confine = confine

    def forward(self, feats: dict, boxes: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        b = feats["p3"].shape[0]
        x = _masked(feats["p3"], boxes, FPN_STRIDES["p3"], self.expand_ratio)
        logits = F.interpolate(self.head(x), size=size, mode="bilinear", align_corners=False)
        return _confined(logits.view(b, -1, *size), boxes, self.confine, self.expand_ratio)


class UNetHead(nn.Module):
    """R-MONet(UNet): conv5 compressed by an MLP, UNet decoder with skips to conv4 (unmasked) and ROI-masked
    conv3, conv2 and conv1 down to full resolution.

    conv2..conv5 are the FPN outputs, conv1 the ResNet stem.
    """

    def __init__(self, fpn_channels: int, channels: int, expand_ratio: float, confine: bool):
        super().__init__()
        c = channels
        self.mlp = nn.Sequential(
            nn.Conv2d(fpn_channels, fpn_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(fpn_channels, c, 1),
            nn.ReLU(inplace=True),
        )
        self.dec4 = conv_block(c + fpn_channels, c)
        self.dec3 = conv_block(c + fpn_channels, c)
        self.dec2 = conv_block(c + fpn_channels, c)
        self.dec1 = conv_block(c + 64, c)
        self.dec0 = conv_block(c, c // 2)
        self.out = nn.Conv2d(c // 2, 1, 1)
        self.expand_ratio = expand_ratio
        self.confine = confine

    @staticmethod
    def _up(x: torch.Tensor, ref: torch.Tensor | tuple[int, int]) -> torch.Tensor:
        size = ref if isinstance(ref, tuple) else ref.shape[-2:]
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def forward(self, feats: dict, boxes: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        b = feats["p5"].shape[0]
        r = 1 if boxes is None else boxes.shape[1]
        x = self.mlp(feats["p5"])
        x = self.dec4(torch.cat([self._up(x, feats["p4"]), feats["p4"]], 1))  # shared by the ROIs of an image
        x = _repeat_rois(x, r)
        for name, dec, stride in (
            ("p3", self.dec3, 8),
            ("p2", self.dec2, 4),
            ("c1", self.dec1, STAGE_STRIDES["c1"]),
        ):
            skip = _masked(feats[name], boxes, stride, self.expand_ratio)
            x = dec(torch.cat([self._up(x, skip), skip], 1))
        x = self.dec0(self._up(x, tuple(size)))
        return _confined(self.out(x).view(b, r, *size), boxes, self.confine, self.expand_ratio)


class ROIAlignHead(nn.Module):
    """R-MONet(ROI Align): multi-scale ROI Align (14x14) on p2..p5, Mask R-CNN head (28x28 logits) pasted back
    into the image inside each box; outside the box the logit is `outside_logit` (alpha ~ 0)."""

    def __init__(
        self, fpn_channels: int, channels: int, resolution: int = 14, outside_logit: float = OUTSIDE_LOGIT
    ):
        super().__init__()
        self.pool = MultiScaleRoIAlign(["p2", "p3", "p4", "p5"], output_size=resolution, sampling_ratio=2)
        self.head = MaskRCNNConvHead(fpn_channels, channels)
        self.outside_logit = outside_logit

    def forward(self, feats: dict, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, r = boxes.shape[:2]
        h, w = size
        pooled = self.pool({k: feats[k] for k in ("p2", "p3", "p4", "p5")}, list(boxes), [(h, w)] * b)
        logits = self.head(pooled)  # [B*R, 1, 28, 28]
        return paste_logits(logits, boxes.reshape(-1, 4), size, self.outside_logit).view(b, r, h, w)


def paste_logits(
    logits: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], outside: float
) -> torch.Tensor:
    """Resample box-aligned logits [N, 1, m, m] into the image [N, 1, H, W] (differentiable, bilinear);
    pixels outside the box get `outside`."""
    h, w = size
    ys = torch.arange(h, device=boxes.device, dtype=logits.dtype) + 0.5
    xs = torch.arange(w, device=boxes.device, dtype=logits.dtype) + 0.5
    bw = (boxes[:, 2] - boxes[:, 0]).clamp_min(1e-3)
    bh = (boxes[:, 3] - boxes[:, 1]).clamp_min(1e-3)
    gx = (xs[None, :] - boxes[:, 0:1]) / bw[:, None] * 2.0 - 1.0  # [N, W]
    gy = (ys[None, :] - boxes[:, 1:2]) / bh[:, None] * 2.0 - 1.0  # [N, H]
    grid = torch.stack([gx[:, None, :].expand(-1, h, -1), gy[:, :, None].expand(-1, -1, w)], dim=-1)
    shifted = F.grid_sample(
        logits - outside, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return shifted + outside
