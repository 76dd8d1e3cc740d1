"""Box predictor of one cascade stage (Detectron2 ``FastRCNNOutputLayers`` layout, background LAST) with the
CutLER/unMORE losses, DropLoss weights and Detectron2's ``fast_rcnn_inference``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

from ...structures import Boxes, Instances, pairwise_iou
from ..box_regression import Box2BoxTransform


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row cross-entropy with probability targets: -sum_c t_c log softmax(logits)_c -> [R]."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1)


def classification_targets(
    gt_classes: torch.Tensor, gt_scores: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Soft targets for K = 1: fg rows [s, 1 - s], bg rows (class == num_classes) [0, 1]. -> [R, 2]"""
    if num_classes != 1:
        raise ValueError("Soft targets are defined for one foreground class (class-agnostic detection)")
    fg = gt_scores.detach().float().clone()
    fg[gt_classes == num_classes] = 0.0
    return torch.stack((fg, 1.0 - fg), dim=1)


def max_iou_with_gt(pred_boxes: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
    """[R] max IoU of each (fp32) predicted box with any of the given GT boxes (0 when there is none)."""
    if len(gt_boxes) == 0 or len(pred_boxes) == 0:
        return pred_boxes.new_zeros(len(pred_boxes))
    return pairwise_iou(Boxes(pred_boxes.float()), Boxes(gt_boxes.float())).max(dim=1).values


def droploss_weights(
    pred_boxes: list[torch.Tensor], gt_sets: list[torch.Tensor], iou_thresh: float
) -> torch.Tensor:
    """DropLoss: weight 0 for a proposal whose regressed box has max IoU <= ``iou_thresh`` with every box of
    its image's GT set, else 1. Inputs per image; output [R] (detached, float32)."""
    w = [(max_iou_with_gt(p, g) > iou_thresh).float() for p, g in zip(pred_boxes, gt_sets)]
    return torch.cat(w).detach() if w else torch.zeros(0)


def matched_gt_quirk_set(proposals: Instances, k_max: int = 100) -> torch.Tensor:
    """The original code's DropLoss GT set: K = number of distinct matched-GT boxes among the first
    ``k_max`` proposals, G = matched-GT boxes of the first K proposals (duplicates possible)."""
    matched = proposals.gt_boxes.tensor
    k = torch.unique(matched[:k_max], dim=0).shape[0] if len(matched) else 0
    return matched[:k]


class FastRCNNOutputLayers(nn.Module):
    """``cls_score`` Linear(in, K+1), columns [fg classes..., bg]; ``bbox_pred`` Linear(in, 4) (agnostic).

    Losses (R = all proposals of the stage in the batch):
      loss_cls     = (1/R) sum_p w_p CE_p; CE hard or soft ([s, 1-s] fg, [0, 1] bg); w = DropLoss weights
      loss_box_reg = (1/R) sum_{p fg} s_p |delta_pred - delta_gt|_1  (s = 1 without soft targets)
    """

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        box2box_transform: Box2BoxTransform,
        cls_agnostic_bbox_reg: bool = True,
        smooth_l1_beta: float = 0.0,
        box_reg_loss_weight: float = 1.0,
        test_score_thresh: float = 0.0,
        test_nms_thresh: float = 0.5,
        test_topk_per_image: int = 100,
        use_soft_targets: bool = False,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.cls_score = nn.Linear(input_size, num_classes + 1)
        num_bbox_reg_classes = 1 if cls_agnostic_bbox_reg else num_classes
        self.bbox_pred = nn.Linear(input_size, num_bbox_reg_classes * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.constant_(self.cls_score.bias, 0)
        nn.init.constant_(self.bbox_pred.bias, 0)
        self.box2box_transform = box2box_transform
        self.smooth_l1_beta = smooth_l1_beta
        self.box_reg_loss_weight = box_reg_loss_weight
        self.test_score_thresh = test_score_thresh
        self.test_nms_thresh = test_nms_thresh
        self.test_topk_per_image = test_topk_per_image
        self.use_soft_targets = use_soft_targets

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [R, C] or [R, C, h, w] -> (class logits [R, K+1], deltas [R, 4])."""
        if x.dim() > 2:
            x = torch.flatten(x, start_dim=1)
        return self.cls_score(x), self.bbox_pred(x)

    def losses(self, predictions, proposals: list[Instances], weights: torch.Tensor | None = None) -> dict:
        """Proposals carry ``proposal_boxes``, ``gt_classes`` (bg = K), ``gt_boxes``, ``gt_scores``."""
        scores, deltas = predictions
        gt_classes = torch.cat([p.gt_classes for p in proposals]) if proposals else scores.new_zeros(0).long()
        proposal_boxes = (
            torch.cat([p.proposal_boxes.tensor for p in proposals]) if proposals else deltas.new_zeros(0, 4)
        )
        gt_boxes = (
            torch.cat([(p.gt_boxes if p.has("gt_boxes") else p.proposal_boxes).tensor for p in proposals])
            if proposals
            else deltas.new_zeros(0, 4)
        )
        gt_scores = None
        if self.use_soft_targets:
            gt_scores = torch.cat(
                [
                    p.gt_scores if p.has("gt_scores") else torch.ones_like(p.gt_classes, dtype=torch.float32)
                    for p in proposals
                ]
            ).float()
        r = gt_classes.numel()
        if r == 0:
            zero = scores.sum() * 0.0 + deltas.sum() * 0.0
            return {"loss_cls": zero, "loss_box_reg": zero}
        if self.use_soft_targets:
            ce = soft_cross_entropy(scores, classification_targets(gt_classes, gt_scores, self.num_classes))
        else:
            ce = F.cross_entropy(scores.float(), gt_classes, reduction="none")
        if weights is not None:
            ce = ce * weights.to(ce.dtype)
        loss_cls = ce.sum() / r
        return {
            "loss_cls": loss_cls,
            "loss_box_reg": self.box_reg_loss(proposal_boxes, gt_boxes, deltas, gt_classes, gt_scores),
        }

    def box_reg_loss(self, proposal_boxes, gt_boxes, pred_deltas, gt_classes, gt_scores=None) -> torch.Tensor:
        fg = torch.nonzero((gt_classes >= 0) & (gt_classes < self.num_classes), as_tuple=True)[0]
        if pred_deltas.shape[1] == 4:
            fg_deltas = pred_deltas[fg]
        else:
            fg_deltas = pred_deltas.view(-1, self.num_classes, 4)[fg, gt_classes[fg]]
        target = self.box2box_transform.get_deltas(proposal_boxes[fg], gt_boxes[fg])
        diff = (fg_deltas.float() - target).abs()
        if self.smooth_l1_beta >= 1e-5:
            b = self.smooth_l1_beta
            diff = torch.where(diff < b, 0.5 * diff * diff / b, diff - 0.5 * b)
        per_box = diff.sum(dim=1)
        if gt_scores is not None:
            per_box = per_box * gt_scores[fg].detach()
        return per_box.sum() * self.box_reg_loss_weight / max(gt_classes.numel(), 1.0)

    def predict_boxes(self, predictions, proposals: list[Instances]) -> list[torch.Tensor]:
        """Decoded boxes (fp32, unclipped) per image [Ri, 4]."""
        if not len(proposals):
            return []
        _, deltas = predictions
        boxes = torch.cat([p.proposal_boxes.tensor for p in proposals], dim=0)
        return list(self.box2box_transform.apply_deltas(deltas, boxes).split([len(p) for p in proposals]))

    def predict_probs(self, predictions, proposals: list[Instances]) -> list[torch.Tensor]:
        """Softmax probabilities per image [Ri, K+1] (fp32)."""
        scores, _ = predictions
        return list(F.softmax(scores.float(), dim=-1).split([len(p) for p in proposals], dim=0))


def fast_rcnn_inference_single_image(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_shape: tuple[int, int],
    score_thresh: float,
    nms_thresh: float,
    topk_per_image: int,
) -> Instances:
    """boxes [R, 4k], scores [R, K+1] -> Instances(pred_boxes, scores, pred_classes), Detectron2 semantics:
    drop non-finite rows, clip, keep score > thresh (strict), class-wise NMS, top-k by score."""
    valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
    if not valid.all():
        boxes, scores = boxes[valid], scores[valid]
    scores = scores[:, :-1]
    num_reg = boxes.shape[1] // 4
    b = Boxes(boxes.reshape(-1, 4))
    b.clip(image_shape)
    boxes = b.tensor.view(-1, num_reg, 4)
    filter_mask = scores > score_thresh
    filter_inds = filter_mask.nonzero()
    boxes = boxes[filter_inds[:, 0], 0] if num_reg == 1 else boxes[filter_mask]
    scores = scores[filter_mask]
    keep = batched_nms(boxes.float(), scores.float(), filter_inds[:, 1], nms_thresh)
    if topk_per_image >= 0:
        keep = keep[:topk_per_image]
    result = Instances(image_shape)
    result.pred_boxes = Boxes(boxes[keep])
    result.scores = scores[keep]
    result.pred_classes = filter_inds[keep][:, 1]
    return result


def fast_rcnn_inference(
    boxes, scores, image_shapes, score_thresh, nms_thresh, topk_per_image
) -> list[Instances]:
    return [
        fast_rcnn_inference_single_image(b, s, shape, score_thresh, nms_thresh, topk_per_image)
        for b, s, shape in zip(boxes, scores, image_shapes)
    ]
