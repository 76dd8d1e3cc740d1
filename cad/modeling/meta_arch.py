"""GeneralizedRCNN: normalise and pad the batch, backbone -> RPN -> cascade ROI heads, post-process."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..structures import Boxes, Instances
from .backbone import build_backbone
from .postprocessing import detector_postprocess
from .roi_heads import build_roi_heads
from .rpn import RPN


def pad_batch(
    images: list[torch.Tensor], size_divisibility: int
) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Zero-pad [C,Hi,Wi] images at the bottom/right to a common size that is a multiple of
    ``size_divisibility`` -> ([B,C,H,W], original (Hi, Wi) list)."""
    sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
    max_h = max(s[0] for s in sizes)
    max_w = max(s[1] for s in sizes)
    if size_divisibility > 1:
        d = size_divisibility
        max_h = (max_h + d - 1) // d * d
        max_w = (max_w + d - 1) // d * d
    if len(images) == 1:
        h, w = sizes[0]
        return F.pad(images[0], (0, max_w - w, 0, max_h - h), value=0.0).unsqueeze(0), sizes
    batch = images[0].new_zeros((len(images), images[0].shape[0], max_h, max_w))
    for b, im in zip(batch, images):
        b[:, : im.shape[-2], : im.shape[-1]].copy_(im)
    return batch, sizes


class GeneralizedRCNN(nn.Module):
    """Cascade Mask R-CNN. Modules ``backbone``, ``proposal_generator``, ``roi_heads``; pixel statistics are
    non-persistent buffers (not in the state dict, as in Detectron2)."""

    def __init__(self, cfg):
        super().__init__()
        if cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN":
            raise ValueError(f"MODEL.META_ARCHITECTURE {cfg.MODEL.META_ARCHITECTURE!r} is not supported")
        if cfg.MODEL.PROPOSAL_GENERATOR.NAME != "RPN":
            raise ValueError("MODEL.PROPOSAL_GENERATOR.NAME must be RPN")
        if cfg.MODEL.KEYPOINT_ON or cfg.MODEL.LOAD_PROPOSALS:
            raise ValueError("Keypoints and precomputed proposals are not supported")
        self.backbone = build_backbone(cfg)
        strides = self.backbone.out_feature_strides
        ch = self.backbone.out_channels
        self.proposal_generator = RPN(cfg, strides, ch)
        self.roi_heads = build_roi_heads(cfg, strides, ch)
        mean, std = cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD
        if len(mean) != len(std):
            raise ValueError("MODEL.PIXEL_MEAN and PIXEL_STD must have the same length")
        self.register_buffer("pixel_mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)
        self.input_format = cfg.INPUT.FORMAT

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: list[dict]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        images = [
            (x["image"].to(self.device, non_blocking=True).float() - self.pixel_mean) / self.pixel_std
            for x in batched_inputs
        ]
        return pad_batch(images, self.backbone.size_divisibility)

    def _prepare_targets(self, batched_inputs: list[dict]) -> list[Instances]:
        out = []
        for x in batched_inputs:
            if "instances" not in x:
                raise ValueError(
                    "Training inputs need an 'instances' entry with gt_boxes/gt_classes[/gt_masks]"
                )
            inst = x["instances"]
            h, w = inst.image_size
            n = len(inst) if len(inst.get_fields()) else 0
            t = Instances((h, w))
            boxes = inst.gt_boxes if inst.has("gt_boxes") else torch.zeros(0, 4)
            boxes = boxes.tensor if isinstance(boxes, Boxes) else torch.as_tensor(boxes)
            t.gt_boxes = Boxes(boxes.to(self.device, torch.float32).reshape(-1, 4))
            classes = inst.gt_classes if inst.has("gt_classes") else torch.zeros(n, dtype=torch.long)
            t.gt_classes = classes.to(self.device, torch.long)
            num_classes = self.roi_heads.num_classes
            if len(t.gt_classes) and (t.gt_classes.min() < 0 or t.gt_classes.max() >= num_classes):
                raise ValueError(
                    f"gt_classes must lie in [0, {num_classes}) (MODEL.ROI_HEADS.NUM_CLASSES); "
                    f"class-agnostic data uses class 0 for every object, got {t.gt_classes.unique().tolist()}"
                )
            scores = inst.gt_scores if inst.has("gt_scores") else torch.ones(n)
            t.gt_scores = torch.as_tensor(scores).to(self.device, torch.float32)
            if self.roi_heads.mask_on:
                if not inst.has("gt_masks"):
                    raise ValueError("MODEL.MASK_ON needs instances.gt_masks (bool [N, H, W])")
                t.gt_masks = torch.as_tensor(inst.gt_masks).to(self.device).bool()
            out.append(t)
        return out

    def forward(self, batched_inputs: list[dict]):
        if not self.training:
            return self.inference(batched_inputs)
        images, image_sizes = self.preprocess_image(batched_inputs)
        targets = self._prepare_targets(batched_inputs)
        features = self.backbone(images)
        proposals, losses = self.proposal_generator(image_sizes, features, targets)
        single_object = [bool(x.get("is_single_object", False)) for x in batched_inputs]
        losses.update(self.roi_heads(features, proposals, targets, single_object))
        return losses

    def inference(self, batched_inputs: list[dict], do_postprocess: bool = True) -> list:
        images, image_sizes = self.preprocess_image(batched_inputs)
        features = self.backbone(images)
        proposals, _ = self.proposal_generator(image_sizes, features, None)
        results = self.roi_heads(features, proposals)
        if not do_postprocess:
            return results
        out = []
        for res, x, size in zip(results, batched_inputs, image_sizes):
            h = int(x.get("height", size[0]))
            w = int(x.get("width", size[1]))
            out.append({"instances": detector_postprocess(res, h, w)})
        return out
