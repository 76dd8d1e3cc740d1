"""Region proposal network of R-MONet on torchvision's detection primitives.

Proposal generation and target sampling are split because the RPN's targets (pseudo boxes) are computed
from the masks that the proposals themselves produce within the same forward pass. The loss terms of the
sampled anchors are in `losses.rmonet.rpn_losses`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead, concat_box_prediction_layers
from torchvision.ops import boxes as box_ops

from utils.config import option


@dataclass
class RPNConfig:
    """`model.rpn`: anchors, proposal filtering and target assignment of the RPN (appendix B)."""

    anchor_sizes: list[int] = option(
        [16, 32, 64, 128, 256], "anchor side per FPN level p2..p6 (pixels)", min=1)
    aspect_ratios: list[float] = option([0.5, 1.0, 2.0], "anchor aspect ratios on every level", gt=0)
    nms_thresh_per_level: float = option(0.3, "NMS IoU of the proposals within each FPN level", min=0, max=1)
    nms_thresh_output: float = option(0.3, "NMS IoU of the proposals across levels", min=0, max=1)
    pre_nms_top_n: int = option(100, "best anchors kept per level before NMS", min=1)
    post_nms_top_n: int = option(20, "proposals kept after the per-level NMS", min=1)
    fg_iou_thresh: float = option(0.7, "IoU with a pseudo box from which an anchor is positive", min=0, max=1)
    bg_iou_thresh: float = option(
        0.3, "IoU with every pseudo box below which an anchor is negative", min=0, max=1)
    batch_size_per_image: int = option(256, "anchors sampled per image for the loss", min=1)
    positive_fraction: float = option(
        0.5, "largest fraction of positives among the sampled anchors", min=0, max=1)
    score_thresh: float = option(
        0.5, "proposals scoring at least this come first in the ROI list", min=0, max=1)


@dataclass
class Proposals:
    boxes: torch.Tensor  # [B, R, 4] xyxy image pixels, R = number of ROIs (K-1), sorted by score
    scores: torch.Tensor  # [B, R] objectness probabilities (0 for padding boxes)
    objectness: torch.Tensor  # [B*A, 1] logits of every anchor (for the loss)
    deltas: torch.Tensor  # [B*A, 4] box deltas of every anchor (for the loss)
    anchors: list[torch.Tensor]  # per image [A, 4]


@dataclass
class RPNTargets:
    """The S sampled anchors of a batch, P of them positive (the RPN loss terms come from these)."""

    logits: torch.Tensor  # [S] objectness logits
    labels: torch.Tensor  # [S] 1.0 positive, 0.0 negative
    deltas: torch.Tensor  # [P, 4] predicted box deltas of the positive anchors
    target_deltas: torch.Tensor  # [P, 4] regression targets of the positive anchors
    num_images: int  # B


class RMONetRPN(RegionProposalNetwork):
    """RPN over FPN levels p2..p6 (one anchor size per level) that returns the top-R ROIs with scores."""

    def __init__(self, in_channels: int, cfg: RPNConfig):
        sizes = tuple((s,) for s in cfg.anchor_sizes)
        anchor_gen = AnchorGenerator(sizes=sizes, aspect_ratios=(tuple(cfg.aspect_ratios),) * len(sizes))
        head = RPNHead(in_channels, len(cfg.aspect_ratios))
        top_n = {"training": cfg.pre_nms_top_n, "testing": cfg.pre_nms_top_n}
        post_n = {"training": cfg.post_nms_top_n, "testing": cfg.post_nms_top_n}
        super().__init__(
            anchor_gen,
            head,
            cfg.fg_iou_thresh,
            cfg.bg_iou_thresh,
            cfg.batch_size_per_image,
            cfg.positive_fraction,
            top_n,
            post_n,
            cfg.nms_thresh_per_level,
            score_thresh=0.0,
        )
        self.cfg = cfg

    def propose(self, images: torch.Tensor, features: list[torch.Tensor], num_rois: int) -> Proposals:
        """images [B,C,H,W], features: FPN levels -> the `num_rois` best boxes per image.

        Per level: top `pre_nms_top_n` anchors, NMS `nms_thresh_per_level`; then the best `post_nms_top_n`,
        NMS `nms_thresh_output` across levels, and the top `num_rois` by score. Boxes scoring at least
        `score_thresh` come first; when fewer than `num_rois` survive, lower-scoring proposals (and, if
        still short, whole-image boxes with score 0) fill the remaining slots so every slot has a ROI.
        """
        b, _, h, w = images.shape
        image_list = ImageList(images, [(h, w)] * b)
        objectness, deltas = self.head(features)
        anchors = self.anchor_generator(image_list, features)
        num_per_level = [o[0].numel() for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = self.box_coder.decode(deltas.detach(), anchors).view(b, -1, 4)
        boxes, scores = self.filter_proposals(proposals, objectness, image_list.image_sizes, num_per_level)
        out_boxes, out_scores = [], []
        for bx, sc in zip(boxes, scores):
            keep = box_ops.nms(bx, sc, self.cfg.nms_thresh_output)
            bx, sc = bx[keep], sc[keep]
            order = torch.argsort((sc < self.cfg.score_thresh).float() * 2.0 - sc, stable=True)
            bx, sc = bx[order][:num_rois], sc[order][:num_rois]
            if bx.shape[0] < num_rois:
                pad = num_rois - bx.shape[0]
                full = torch.tensor([0.0, 0.0, float(w), float(h)], device=bx.device).expand(pad, 4)
                bx = torch.cat([bx, full], 0)
                sc = torch.cat([sc, sc.new_zeros(pad)], 0)
            out_boxes.append(bx)
            out_scores.append(sc)
        return Proposals(torch.stack(out_boxes), torch.stack(out_scores), objectness, deltas, anchors)

    def sample_targets(self, props: Proposals, target_boxes: list[torch.Tensor]) -> RPNTargets:
        """Match the anchors to per-image target boxes [n_i, 4] (may be empty) and draw the anchors the loss
        sees with torchvision's balanced sampler (positives first)."""
        targets = [{"boxes": t.to(props.deltas.device, torch.float32).reshape(-1, 4)} for t in target_boxes]
        labels, matched = self.assign_targets_to_anchors(props.anchors, targets)
        regression = self.box_coder.encode(matched, props.anchors)
        pos, neg = self.fg_bg_sampler(labels)
        pos = torch.where(torch.cat(pos, dim=0))[0]
        neg = torch.where(torch.cat(neg, dim=0))[0]
        sampled = torch.cat([pos, neg], dim=0)
        return RPNTargets(
            logits=props.objectness.flatten()[sampled],
            labels=torch.cat(labels, dim=0)[sampled],
            deltas=props.deltas[pos],
            target_deltas=torch.cat(regression, dim=0)[pos],
            num_images=len(target_boxes),
        )
