"""Mask head (Detectron2 ``MaskRCNNConvUpsampleHead`` layout): 4 x [3x3 conv + ReLU] ``mask_fcn{1..4}``,
``deconv`` 2x2/2 + ReLU, 1x1 ``predictor`` -> [N, K, 28, 28] logits; aligned binary targets; weighted BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from ...structures import Instances
from ..layers import Conv2d, c2_msra_fill, get_norm


class MaskRCNNConvUpsampleHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, conv_dims: list[int], norm: str = ""):
        super().__init__()
        c = in_channels
        for k, d in enumerate(conv_dims[:-1]):
            conv = Conv2d(
                c,
                d,
                kernel_size=3,
                stride=1,
                padding=1,
                bias=not norm,
                norm=get_norm(norm, d),
                activation=nn.ReLU(),
            )
            self.add_module(f"mask_fcn{k + 1}", conv)
            c2_msra_fill(conv)
            c = d
        self.num_conv = len(conv_dims) - 1
        self.deconv = nn.ConvTranspose2d(c, conv_dims[-1], kernel_size=2, stride=2, padding=0)
        c2_msra_fill(self.deconv)
        self.predictor = nn.Conv2d(conv_dims[-1], num_classes, kernel_size=1)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.constant_(self.predictor.bias, 0)

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, 14, 14] -> logits [N, K, 28, 28]."""
        for k in range(self.num_conv):
            x = getattr(self, f"mask_fcn{k + 1}")(x)
        x = F.relu(self.deconv(x))
        return self.predictor(x)


def mask_targets(
    gt_masks: torch.Tensor, gt_index: torch.Tensor, boxes: torch.Tensor, side: int
) -> torch.Tensor:
    """Binary [N, side, side] targets: aligned RoIAlign (sampling 0, scale 1) of GT bitmask ``gt_index[n]``
    [G, H, W] inside ``boxes[n]``, thresholded at >= 0.5 (Detectron2 ``BitMasks.crop_and_resize``)."""
    if len(boxes) == 0:
        return torch.zeros((0, side, side), dtype=torch.bool, device=boxes.device)
    rois = torch.cat([gt_index.to(boxes.dtype)[:, None], boxes], dim=1).float()
    masks = gt_masks.to(device=boxes.device, dtype=torch.float32)[:, None]
    out = roi_align(masks, rois, (side, side), spatial_scale=1.0, sampling_ratio=0, aligned=True)
    return out.squeeze(1) >= 0.5


def mask_rcnn_loss(
    pred_logits: torch.Tensor,
    instances: list[Instances],
    gt_masks: list[torch.Tensor],
    use_soft_targets: bool,
) -> torch.Tensor:
    """BCE-with-logits over [N, 28, 28] (mean over N * 28 * 28); each instance's term is multiplied by its
    pseudo-label score when ``use_soft_targets``.

    instances: per image the fg proposals (``proposal_boxes``, ``gt_classes``, ``gt_index``, ``gt_scores``),
    concatenated in the order of ``pred_logits``; gt_masks: per image the GT bitmasks [G, H, W].
    """
    side = pred_logits.size(2)
    targets, classes, scores = [], [], []
    for inst, masks in zip(instances, gt_masks):
        if len(inst) == 0:
            continue
        targets.append(mask_targets(masks, inst.gt_index, inst.proposal_boxes.tensor, side))
        classes.append(inst.gt_classes.long())
        if use_soft_targets:
            scores.append(inst.gt_scores.float() if inst.has("gt_scores") else torch.ones(len(inst)))
    if not targets:
        return pred_logits.sum() * 0
    targets = torch.cat(targets).float()
    if pred_logits.size(1) == 1:
        logits = pred_logits[:, 0]
    else:
        logits = pred_logits[torch.arange(len(pred_logits), device=pred_logits.device), torch.cat(classes)]
    loss = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none")
    if use_soft_targets:
        loss = loss * torch.cat(scores).to(loss.device)[:, None, None].detach()
    return loss.mean()


def mask_rcnn_inference(pred_logits: torch.Tensor, pred_instances: list[Instances]) -> None:
    """Sets ``pred_masks`` [Ri, 1, 28, 28] probabilities (sigmoid) on each image's instances."""
    if pred_logits.size(1) == 1:
        probs = pred_logits.float().sigmoid()
    else:
        classes = torch.cat([i.pred_classes for i in pred_instances])
        idx = torch.arange(len(pred_logits), device=pred_logits.device)
        probs = pred_logits[idx, classes][:, None].float().sigmoid()
    for p, inst in zip(probs.split([len(i) for i in pred_instances]), pred_instances):
        inst.pred_masks = p
