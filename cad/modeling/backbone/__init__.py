"""Backbones: Detectron2-layout ResNet and FPN, and an EfficientNet-Lite FPN for CPU work."""

from .fpn import FPN, build_efficientnet_fpn_backbone, build_resnet_fpn_backbone
from .resnet import ResNet, build_resnet

BACKBONES = {
    "build_resnet_fpn_backbone": build_resnet_fpn_backbone,  # the recipe
    "build_efficientnet_fpn_backbone": build_efficientnet_fpn_backbone,
}


def build_backbone(cfg):
    """MODEL.BACKBONE.NAME: one of ``BACKBONES``."""
    name = cfg.MODEL.BACKBONE.NAME
    if name not in BACKBONES:
        raise ValueError(f"MODEL.BACKBONE.NAME {name!r} is not supported; use one of {', '.join(BACKBONES)}")
    return BACKBONES[name](cfg)


__all__ = ["BACKBONES", "FPN", "ResNet", "build_backbone", "build_resnet", "build_resnet_fpn_backbone"]
