"""Backbones: Detectron2-layout ResNet and FPN."""

from .fpn import FPN, build_resnet_fpn_backbone
from .resnet import ResNet, build_resnet


def build_backbone(cfg):
    """MODEL.BACKBONE.NAME: ``build_resnet_fpn_backbone`` (the recipe)."""
    name = cfg.MODEL.BACKBONE.NAME
    if name != "build_resnet_fpn_backbone":
        raise ValueError(f"MODEL.BACKBONE.NAME {name!r} is not supported; use build_resnet_fpn_backbone")
    return build_resnet_fpn_backbone(cfg)


__all__ = ["FPN", "ResNet", "build_backbone", "build_resnet", "build_resnet_fpn_backbone"]
