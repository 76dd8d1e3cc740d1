"""ROI heads: cascade box stages, box predictor with DropLoss/soft targets, mask head."""

from .cascade import CascadeROIHeads
from .fast_rcnn import FastRCNNOutputLayers, droploss_weights, fast_rcnn_inference, soft_cross_entropy
from .mask_head import MaskRCNNConvUpsampleHead, mask_rcnn_loss, mask_targets


def build_roi_heads(cfg, feature_strides, in_channels):
    name = cfg.MODEL.ROI_HEADS.NAME
    if name not in ("CustomCascadeROIHeads", "CascadeROIHeads"):
        raise ValueError(f"MODEL.ROI_HEADS.NAME {name!r} is not supported; use CustomCascadeROIHeads")
    return CascadeROIHeads(cfg, feature_strides, in_channels)


__all__ = [
    "CascadeROIHeads",
    "FastRCNNOutputLayers",
    "MaskRCNNConvUpsampleHead",
    "build_roi_heads",
    "droploss_weights",
    "fast_rcnn_inference",
    "mask_rcnn_loss",
    "mask_targets",
    "soft_cross_entropy",
]
