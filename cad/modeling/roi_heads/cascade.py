"""Cascade ROI heads of the CutLER/unMORE recipe (``CustomCascadeROIHeads``), Detectron2 semantics.

Training: stage 0 takes RPN proposals + appended GT, matches at IoU 0.5 and samples 512 per image (25 % fg,
order [fg, bg]); stages 1, 2 take the previous stage's decoded boxes (detached, clipped, empty ones removed),
matched at 0.6 / 0.7 without sampling or GT. Pooled features pass a gradient-scale 1/num_stages op. Each
stage's classification loss uses DropLoss weights from its own regressed boxes. The mask head trains on the
stage-0 fg proposals. Inference: average the softmax of all stages, last stage's boxes, score > thresh,
NMS, top-k, then the mask head on the final boxes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...structures import Boxes, Instances, pairwise_iou
from ..box_regression import Box2BoxTransform
from ..layers import ScaleGradient
from ..matcher import Matcher, subsample_labels
from ..poolers import ROIPooler
from .box_head import FastRCNNConvFCHead
from .fast_rcnn import FastRCNNOutputLayers, droploss_weights, fast_rcnn_inference, matched_gt_quirk_set
from .mask_head import MaskRCNNConvUpsampleHead, mask_rcnn_inference, mask_rcnn_loss

_GT_LOGIT = math.log((1.0 - 1e-10) / (1 - (1.0 - 1e-10)))


def _pooler(resolution: int, scales: list[float], sampling_ratio: int, pooler_type: str) -> ROIPooler:
    if pooler_type not in ("ROIAlignV2", "ROIAlign"):
        raise ValueError(f"POOLER_TYPE {pooler_type!r} is not supported; use ROIAlignV2 or ROIAlign")
    return ROIPooler(resolution, scales, sampling_ratio, aligned=pooler_type == "ROIAlignV2")


class CascadeROIHeads(nn.Module):
    """Parameters: ``box_head.{k}.fc{1,2}``, ``box_predictor.{k}.{cls_score,bbox_pred}``, ``mask_head.*``."""

    def __init__(self, cfg, feature_strides: dict[str, int], in_channels: int):
        super().__init__()
        rh, bh, ch = cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD, cfg.MODEL.ROI_BOX_CASCADE_HEAD
        self.in_features = list(rh.IN_FEATURES)
        scales = [1.0 / feature_strides[f] for f in self.in_features]
        self.num_classes = rh.NUM_CLASSES
        self.batch_size_per_image = rh.BATCH_SIZE_PER_IMAGE
        self.positive_fraction = rh.POSITIVE_FRACTION
        self.proposal_append_gt = rh.PROPOSAL_APPEND_GT
        ious, reg_weights = list(ch.IOUS), list(ch.BBOX_REG_WEIGHTS)
        if len(ious) != len(reg_weights):
            raise ValueError("ROI_BOX_CASCADE_HEAD.IOUS and BBOX_REG_WEIGHTS must have the same length")
        if not bh.CLS_AGNOSTIC_BBOX_REG:
            raise ValueError("Cascade heads need MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG True")
        if list(rh.IOU_THRESHOLDS) != [ious[0]]:
            raise ValueError("MODEL.ROI_HEADS.IOU_THRESHOLDS must equal [ROI_BOX_CASCADE_HEAD.IOUS[0]]")
        self.num_cascade_stages = len(ious)
        self.box_pooler = _pooler(bh.POOLER_RESOLUTION, scales, bh.POOLER_SAMPLING_RATIO, bh.POOLER_TYPE)
        self.box_head = nn.ModuleList()
        self.box_predictor = nn.ModuleList()
        self.proposal_matchers = []
        for iou, w in zip(ious, reg_weights):
            head = FastRCNNConvFCHead(
                in_channels, bh.POOLER_RESOLUTION, bh.NUM_CONV, bh.CONV_DIM, bh.NUM_FC, bh.FC_DIM, bh.NORM
            )
            self.box_head.append(head)
            self.box_predictor.append(
                FastRCNNOutputLayers(
                    head.output_size,
                    self.num_classes,
                    Box2BoxTransform(w),
                    cls_agnostic_bbox_reg=True,
                    smooth_l1_beta=bh.SMOOTH_L1_BETA,
                    box_reg_loss_weight=bh.BBOX_REG_LOSS_WEIGHT,
                    test_score_thresh=rh.SCORE_THRESH_TEST,
                    test_nms_thresh=rh.NMS_THRESH_TEST,
                    test_topk_per_image=cfg.TEST.DETECTIONS_PER_IMAGE,
                    use_soft_targets=rh.USE_SOFT_TARGETS,
                )
            )
            self.proposal_matchers.append(Matcher([iou], [0, 1], allow_low_quality_matches=False))
        self.use_droploss = rh.USE_DROPLOSS
        self.droploss_iou_thresh = rh.DROPLOSS_IOU_THRESH
        self.droploss_quirk = rh.DROPLOSS_MATCHED_GT_QUIRK
        self.use_soft_targets = rh.USE_SOFT_TARGETS
        self.mask_on = cfg.MODEL.MASK_ON
        self.no_segm = cfg.TEST.NO_SEGM
        if self.mask_on:
            mh = cfg.MODEL.ROI_MASK_HEAD
            self.mask_pooler = _pooler(mh.POOLER_RESOLUTION, scales, mh.POOLER_SAMPLING_RATIO, mh.POOLER_TYPE)
            num_mask = 1 if mh.CLS_AGNOSTIC_MASK else self.num_classes
            self.mask_head = MaskRCNNConvUpsampleHead(
                in_channels, num_mask, [mh.CONV_DIM] * (mh.NUM_CONV + 1), mh.NORM
            )

    # --- proposal labelling ---------------------------------------------------------------------------
    @torch.no_grad()
    def label_and_sample_proposals(
        self, proposals: list[Instances], targets: list[Instances]
    ) -> list[Instances]:
        """Stage 0: append GT boxes at the end, match at IOUS[0], sample [fg, bg], copy matched GT fields."""
        out = []
        for props, tgt in zip(proposals, targets):
            if self.proposal_append_gt and len(tgt):
                gt = Instances(props.image_size)
                gt.proposal_boxes = tgt.gt_boxes
                gt.objectness_logits = torch.full((len(tgt),), _GT_LOGIT, device=tgt.gt_boxes.device)
                props = Instances.cat([props, gt])
            matched_idxs, matched_labels = self.proposal_matchers[0](
                pairwise_iou(tgt.gt_boxes, props.proposal_boxes)
            )
            has_gt = len(tgt) > 0
            if has_gt:
                gt_classes = tgt.gt_classes[matched_idxs]
                gt_classes[matched_labels == 0] = self.num_classes
                gt_classes[matched_labels == -1] = -1
            else:
                gt_classes = torch.zeros_like(matched_idxs) + self.num_classes
            fg, bg = subsample_labels(
                gt_classes, self.batch_size_per_image, self.positive_fraction, self.num_classes
            )
            sampled = torch.cat([fg, bg])
            props = props[sampled]
            props.gt_classes = gt_classes[sampled]
            self._set_gt_fields(props, tgt, matched_idxs[sampled], has_gt)
            out.append(props)
        return out

    @staticmethod
    def _set_gt_fields(props: Instances, tgt: Instances, idx: torch.Tensor, has_gt: bool) -> None:
        if has_gt:
            props.gt_boxes = tgt.gt_boxes[idx]
            props.gt_scores = tgt.gt_scores[idx]
        else:
            props.gt_boxes = Boxes(tgt.gt_boxes.tensor.new_zeros((len(props), 4)))
            props.gt_scores = torch.zeros(len(props), device=idx.device)
        props.gt_index = idx

    @torch.no_grad()
    def _match_and_label_boxes(self, proposals: list[Instances], stage: int, targets: list[Instances]):
        for props, tgt in zip(proposals, targets):
            matched_idxs, labels = self.proposal_matchers[stage](
                pairwise_iou(tgt.gt_boxes, props.proposal_boxes)
            )
            if len(tgt) > 0:
                gt_classes = tgt.gt_classes[matched_idxs]
                gt_classes[labels == 0] = self.num_classes
            else:
                gt_classes = torch.zeros_like(matched_idxs) + self.num_classes
            props.gt_classes = gt_classes
            self._set_gt_fields(props, tgt, matched_idxs, len(tgt) > 0)
        return proposals

    @staticmethod
    def _create_proposals_from_boxes(
        boxes: list[torch.Tensor], image_sizes, training: bool
    ) -> list[Instances]:
        out = []
        for b, size in zip(boxes, image_sizes):
            b = Boxes(b.detach())
            b.clip(size)
            if training:
                b = b[b.nonempty()]
            p = Instances(size)
            p.proposal_boxes = b
            out.append(p)
        return out

    # --- stages -----------------------------------------------------------------------------------------
    def _run_stage(self, features: list[torch.Tensor], proposals: list[Instances], stage: int):
        x = self.box_pooler(features, [p.proposal_boxes for p in proposals])
        if self.training:
            x = ScaleGradient.apply(x, 1.0 / self.num_cascade_stages)
        return self.box_predictor[stage](self.box_head[stage](x))

    def _droploss_weights(self, stage: int, predictor, predictions, proposals, targets, single_object):
        if not self.use_droploss:
            return None
        pred_boxes = predictor.predict_boxes(predictions, proposals)
        if self.droploss_quirk:
            if stage == 0 and any(len(t) == 0 for t in targets):
                return None  # the original falls back to the unweighted loss for the whole batch
            gt_sets = [matched_gt_quirk_set(p) for p in proposals]
        else:
            gt_sets = [t.gt_boxes.tensor for t in targets]
        w = droploss_weights(pred_boxes, gt_sets, self.droploss_iou_thresh).to(predictions[0].device)
        keep_all = [
            bool(s) or (len(t) == 0 and not self.droploss_quirk) for s, t in zip(single_object, targets)
        ]
        if any(keep_all):
            per_image = torch.cat(
                [torch.full((len(p),), float(k), device=w.device) for p, k in zip(proposals, keep_all)]
            )
            w = torch.maximum(w, per_image)
        return w

    def _forward_box(self, features, proposals, targets=None, single_object=None):
        feats = [features[f] for f in self.in_features]
        head_outputs = []
        image_sizes = [p.image_size for p in proposals]
        prev_boxes = None
        for k in range(self.num_cascade_stages):
            if k > 0:
                proposals = self._create_proposals_from_boxes(prev_boxes, image_sizes, self.training)
                if self.training:
                    proposals = self._match_and_label_boxes(proposals, k, targets)
            predictions = self._run_stage(feats, proposals, k)
            prev_boxes = self.box_predictor[k].predict_boxes(predictions, proposals)
            head_outputs.append((self.box_predictor[k], predictions, proposals))
        if self.training:
            losses = {}
            single_object = single_object or [False] * len(targets)
            for stage, (predictor, predictions, props) in enumerate(head_outputs):
                w = self._droploss_weights(stage, predictor, predictions, props, targets, single_object)
                stage_losses = predictor.losses(predictions, props, weights=w)
                losses.update({f"{name}_stage{stage}": v for name, v in stage_losses.items()})
            return losses
        scores_per_stage = [pred.predict_probs(p, props) for pred, p, props in head_outputs]
        scores = [sum(per_image) * (1.0 / self.num_cascade_stages) for per_image in zip(*scores_per_stage)]
        predictor, predictions, props = head_outputs[-1]
        boxes = predictor.predict_boxes(predictions, props)
        return fast_rcnn_inference(
            boxes,
            scores,
            image_sizes,
            predictor.test_score_thresh,
            predictor.test_nms_thresh,
            predictor.test_topk_per_image,
        )

    def _forward_mask(self, features, instances: list[Instances], targets: list[Instances] | None = None):
        feats = [features[f] for f in self.in_features]
        if self.training:
            fg = [p[(p.gt_classes != -1) & (p.gt_classes != self.num_classes)] for p in instances]
            x = self.mask_pooler(feats, [p.proposal_boxes for p in fg])
            logits = self.mask_head.layers(x)
            return {
                "loss_mask": mask_rcnn_loss(logits, fg, [t.gt_masks for t in targets], self.use_soft_targets)
            }
        x = self.mask_pooler(feats, [i.pred_boxes for i in instances])
        mask_rcnn_inference(self.mask_head.layers(x), instances)
        return instances

    def forward(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
        single_object: list[bool] | None = None,
    ):
        """Training -> dict of losses; eval -> list of Instances (pred_boxes, scores, pred_classes and, with
        masks on, pred_masks [Ri, 1, 28, 28] probabilities)."""
        if self.training:
            if targets is None:
                raise ValueError("ROI heads need targets in training mode")
            proposals = self.label_and_sample_proposals(proposals, targets)
            losses = self._forward_box(features, proposals, targets, single_object)
            if self.mask_on:
                losses.update(self._forward_mask(features, proposals, targets))
            return losses
        instances = self._forward_box(features, proposals)
        if self.mask_on and not self.no_segm:
            instances = self._forward_mask(features, instances)
        return instances
