"""Region proposal network with Detectron2 semantics (StandardRPNHead + RPN).

- Head: shared 3x3 conv + ReLU, 1x1 ``objectness_logits`` (A channels) and ``anchor_deltas`` (4A), N(0, 0.01).
- Training: anchors matched at IoU [0.3, 0.7) -> bg / ignore / fg with low-quality matches, 256 anchors per
  image at 50 % fg; losses are BCE (sum) and L1 (smooth-L1 with beta 0, sum) divided by 256 * num_images.
- Proposals: per level the top PRE_NMS_TOPK logits, decode, clip, drop empty (w or h <= MIN_SIZE), NMS per
  level (batched over levels), keep POST_NMS_TOPK per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

from ..structures import Boxes, Instances, pairwise_iou
from .anchor_generator import DefaultAnchorGenerator
from .box_regression import Box2BoxTransform
from .matcher import Matcher, subsample_labels


class StandardRPNHead(nn.Module):
    def __init__(self, in_channels: int, num_anchors: int, box_dim: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=1, padding=1)
        self.objectness_logits = nn.Conv2d(in_channels, num_anchors, kernel_size=1)
        self.anchor_deltas = nn.Conv2d(in_channels, num_anchors * box_dim, kernel_size=1)
        for layer in (self.conv, self.objectness_logits, self.anchor_deltas):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.constant_(layer.bias, 0)

    def forward(self, features: list[torch.Tensor]):
        logits, deltas = [], []
        for x in features:
            t = F.relu(self.conv(x))
            logits.append(self.objectness_logits(t))
            deltas.append(self.anchor_deltas(t))
        return logits, deltas


def l1_loss_sum(pred: torch.Tensor, target: torch.Tensor, beta: float = 0.0) -> torch.Tensor:
    """Smooth-L1 summed over all elements; beta < 1e-5 is pure L1 (Detectron2/fvcore convention)."""
    diff = (pred - target).abs()
    if beta < 1e-5:
        return diff.sum()
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta).sum()


def find_top_rpn_proposals(
    proposals: list[torch.Tensor],
    logits: list[torch.Tensor],
    image_sizes,
    nms_thresh: float,
    pre_nms_topk: int,
    post_nms_topk: int,
    min_box_size: float,
    training: bool,
) -> list[Instances]:
    """proposals: per level [N, Hi*Wi*A, 4]; logits: per level [N, Hi*Wi*A] -> per-image Instances with
    ``proposal_boxes`` and ``objectness_logits``, sorted by logit after NMS."""
    num_images = len(image_sizes)
    device = proposals[0].device
    batch_idx = torch.arange(num_images, device=device)
    topk_scores, topk_props, level_ids = [], [], []
    for level, (props_i, logits_i) in enumerate(zip(proposals, logits)):
        k = min(logits_i.shape[1], pre_nms_topk)
        scores_i, idx = logits_i.topk(k, dim=1)
        topk_props.append(props_i[batch_idx[:, None], idx])
        topk_scores.append(scores_i)
        level_ids.append(torch.full((k,), level, dtype=torch.int64, device=device))
    topk_scores = torch.cat(topk_scores, dim=1)
    topk_props = torch.cat(topk_props, dim=1)
    level_ids = torch.cat(level_ids, dim=0)
    results = []
    for n, image_size in enumerate(image_sizes):
        boxes = Boxes(topk_props[n])
        scores = topk_scores[n]
        lvl = level_ids
        valid = torch.isfinite(boxes.tensor).all(dim=1) & torch.isfinite(scores)
        if not valid.all():
            if training:
                raise FloatingPointError("Predicted boxes or scores contain Inf/NaN. Training has diverged.")
            boxes, scores, lvl = boxes[valid], scores[valid], lvl[valid]
        boxes.clip(image_size)
        keep = boxes.nonempty(threshold=min_box_size)
        if keep.sum().item() != len(boxes):
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
        keep = batched_nms(boxes.tensor.float(), scores.float(), lvl, nms_thresh)[:post_nms_topk]
        res = Instances(image_size)
        res.proposal_boxes = boxes[keep]
        res.objectness_logits = scores[keep]
        results.append(res)
    return results


class RPN(nn.Module):
    def __init__(self, cfg, feature_strides: dict[str, int], in_channels: int):
        super().__init__()
        c = cfg.MODEL.RPN
        self.in_features = list(c.IN_FEATURES)
        a = cfg.MODEL.ANCHOR_GENERATOR
        if a.NAME != "DefaultAnchorGenerator":
            raise ValueError(f"MODEL.ANCHOR_GENERATOR.NAME {a.NAME!r} is not supported")
        if c.HEAD_NAME != "StandardRPNHead" or list(c.CONV_DIMS) != [-1]:
            raise ValueError("Only StandardRPNHead with CONV_DIMS [-1] is supported")
        self.anchor_generator = DefaultAnchorGenerator(
            a.SIZES, a.ASPECT_RATIOS, [feature_strides[f] for f in self.in_features], a.OFFSET
        )
        num_anchors = self.anchor_generator.num_anchors
        if len(set(num_anchors)) != 1:
            raise ValueError("Every level must have the same number of anchors")
        self.rpn_head = StandardRPNHead(in_channels, num_anchors[0])
        self.anchor_matcher = Matcher(c.IOU_THRESHOLDS, c.IOU_LABELS, allow_low_quality_matches=True)
        self.box2box_transform = Box2BoxTransform(c.BBOX_REG_WEIGHTS)
        self.batch_size_per_image = c.BATCH_SIZE_PER_IMAGE
        self.positive_fraction = c.POSITIVE_FRACTION
        self.pre_nms_topk = {True: c.PRE_NMS_TOPK_TRAIN, False: c.PRE_NMS_TOPK_TEST}
        self.post_nms_topk = {True: c.POST_NMS_TOPK_TRAIN, False: c.POST_NMS_TOPK_TEST}
        self.nms_thresh = c.NMS_THRESH
        self.min_box_size = float(cfg.MODEL.PROPOSAL_GENERATOR.MIN_SIZE)
        self.anchor_boundary_thresh = c.BOUNDARY_THRESH
        if c.BBOX_REG_LOSS_TYPE != "smooth_l1":
            raise ValueError("MODEL.RPN.BBOX_REG_LOSS_TYPE must be smooth_l1 (beta 0 = L1)")
        self.smooth_l1_beta = c.SMOOTH_L1_BETA
        self.loss_weight = {
            "loss_rpn_cls": c.LOSS_WEIGHT,
            "loss_rpn_loc": c.BBOX_REG_LOSS_WEIGHT * c.LOSS_WEIGHT,
        }

    @torch.no_grad()
    def label_and_sample_anchors(self, anchors: list[Boxes], gt_instances: list[Instances]):
        """-> (labels per image [R] in {-1, 0, 1}, matched GT boxes per image [R, 4])."""
        anchors = Boxes.cat(anchors)
        gt_labels, matched_gt_boxes = [], []
        for inst in gt_instances:
            h, w = inst.image_size
            gt_boxes = inst.gt_boxes
            matches, labels = self.anchor_matcher(pairwise_iou(gt_boxes, anchors))
            labels = labels.to(device=gt_boxes.device)
            if self.anchor_boundary_thresh >= 0:
                t = self.anchor_boundary_thresh
                a = anchors.tensor
                inside = (a[:, 0] >= -t) & (a[:, 1] >= -t) & (a[:, 2] < w + t) & (a[:, 3] < h + t)
                labels[~inside] = -1
            pos, neg = subsample_labels(labels, self.batch_size_per_image, self.positive_fraction, 0)
            labels = torch.full_like(labels, -1)
            labels[pos] = 1
            labels[neg] = 0
            if len(gt_boxes) == 0:
                matched = torch.zeros_like(anchors.tensor)
            else:
                matched = gt_boxes.tensor[matches]
            gt_labels.append(labels)
            matched_gt_boxes.append(matched)
        return gt_labels, matched_gt_boxes

    def losses(self, anchors: list[Boxes], pred_logits, gt_labels, pred_deltas, gt_boxes) -> dict:
        num_images = len(gt_labels)
        gt_labels = torch.stack(gt_labels)
        anchors_t = Boxes.cat(anchors).tensor
        gt_deltas = torch.stack([self.box2box_transform.get_deltas(anchors_t, g) for g in gt_boxes])
        pos_mask = gt_labels == 1
        loc = l1_loss_sum(
            torch.cat(pred_deltas, dim=1)[pos_mask].float(), gt_deltas[pos_mask], self.smooth_l1_beta
        )
        valid = gt_labels >= 0
        cls = F.binary_cross_entropy_with_logits(
            torch.cat(pred_logits, dim=1)[valid].float(), gt_labels[valid].to(torch.float32), reduction="sum"
        )
        normalizer = self.batch_size_per_image * num_images
        return {
            "loss_rpn_cls": cls / normalizer * self.loss_weight["loss_rpn_cls"],
            "loss_rpn_loc": loc / normalizer * self.loss_weight["loss_rpn_loc"],
        }

    @torch.no_grad()
    def predict_proposals(self, anchors, pred_logits, pred_deltas, image_sizes) -> list[Instances]:
        proposals = []
        for anchors_i, deltas_i in zip(anchors, pred_deltas):
            n = deltas_i.shape[0]
            a = anchors_i.tensor.unsqueeze(0).expand(n, -1, -1).reshape(-1, 4)
            proposals.append(self.box2box_transform.apply_deltas(deltas_i.reshape(-1, 4), a).view(n, -1, 4))
        return find_top_rpn_proposals(
            proposals,
            pred_logits,
            image_sizes,
            self.nms_thresh,
            self.pre_nms_topk[self.training],
            self.post_nms_topk[self.training],
            self.min_box_size,
            self.training,
        )

    def forward(
        self,
        image_sizes: list[tuple[int, int]],
        features: dict[str, torch.Tensor],
        gt_instances: list[Instances] | None = None,
    ):
        """-> (proposals per image, losses dict (empty in eval))."""
        feats = [features[f] for f in self.in_features]
        anchors = self.anchor_generator(feats)
        logits, deltas = self.rpn_head(feats)
        # [N, A, Hi, Wi] -> [N, Hi*Wi*A]; [N, A*4, Hi, Wi] -> [N, Hi*Wi*A, 4]
        logits = [s.permute(0, 2, 3, 1).flatten(1) for s in logits]
        deltas = [
            x.view(x.shape[0], -1, 4, x.shape[-2], x.shape[-1]).permute(0, 3, 4, 1, 2).flatten(1, -2)
            for x in deltas
        ]
        if self.training:
            if gt_instances is None:
                raise ValueError("RPN needs gt_instances in training mode")
            gt_labels, gt_boxes = self.label_and_sample_anchors(anchors, gt_instances)
            losses = self.losses(anchors, logits, gt_labels, deltas, gt_boxes)
        else:
            losses = {}
        proposals = self.predict_proposals(anchors, logits, deltas, image_sizes)
        return proposals, losses
