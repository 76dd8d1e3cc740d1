"""Multi-object reasoning: existence filter, center reasoning, boundary reasoning, NMS.

`Reasoner.discover(image, image_id)` runs the whole search for one image with any `Predictor`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torchvision.ops import box_iou, nms

from reasoning.crops import on_edge_flags, pixel_boxes
from reasoning.fields import (
    boundary_update,
    component_boxes,
    edge_movements,
    enlarge_boxes,
    split_boxes,
    split_evidence,
    union_masks,
)
from reasoning.predict import EXISTENCE, FIELDS, Predictor
from reasoning.proposals import generate_proposals


@dataclass
class ReasoningConfig:
    """Thresholds (defaults of the original code) and the deviation flags (see `reasoning.cli`)."""

    class_score_thres: float = 0.1
    center_score_max_thres: float = 0.009
    analyze_cc: bool = False
    max_sdf_thres: float = 0.5
    max_shrink_threshold: float = 16.0
    delta_ratio: float = 0.5
    n_round: int = 50
    proposal_area_thres: float = 50.0
    nms_iou: float = 0.5
    cc_enlarge_ratio: float = 1.5
    # deviations (original values: False, False, "crop", "constant" reproduce the original code)
    reuse_predictions: bool = True   # never re-predict a pixel box already seen in boundary reasoning
    merge_duplicates: bool = False   # drop live boxes that nearly equal another box (can lose objects)
    merge_iou: float = 0.9
    cc_box_coords: str = "image"     # "image" (fixed) or "crop" (original bug)
    nms_score: str = "boundary"      # "boundary" (max sdf) or "constant" (original)
    record_trace: bool = False


@dataclass
class Discovery:
    boxes: torch.Tensor                      # [K, 4] float64 x1 y1 x2 y2, NMS order
    scores: torch.Tensor                     # [K] boundary score (max sdf) of each box
    stats: dict = field(default_factory=dict)
    trace: list = field(default_factory=list)  # per round: (live boxes [L, 4], converged boxes [C, 4])


class Reasoner:
    def __init__(self, predictor: Predictor, config: ReasoningConfig | None = None):
        self.predictor = predictor
        self.cfg = config or ReasoningConfig()
        if self.cfg.cc_box_coords not in ("image", "crop"):
            raise ValueError("cc_box_coords must be 'image' or 'crop'")
        if self.cfg.nms_score not in ("boundary", "constant"):
            raise ValueError("nms_score must be 'boundary' or 'constant'")

    # -- steps -----------------------------------------------------------------------------------------
    def existence_filter(self, image, boxes, image_id):
        if boxes.shape[0] == 0:
            return boxes
        ex = self.predictor.predict(image, boxes, {EXISTENCE}, image_id)["existence"].cpu()
        return boxes[ex >= self.cfg.class_score_thres]

    def center_reasoning(self, image, boxes, image_id, cache: dict | None = None, with_new: bool = True):
        """-> (boxes that hold one object, new boxes from splits and connected components).

        `cache` receives the boundary-reasoning quantities of the passing boxes; `with_new=False` skips
        building the new boxes (the second center round drops them anyway).
        """
        cfg = self.cfg
        _, height, width = image.shape
        if boxes.shape[0] == 0:
            return boxes, boxes.new_zeros((0, 4))
        pred = self.predictor.predict(image, boxes, {FIELDS}, image_id)
        size = pred["sdf_maps"].shape[-1]
        union = union_masks(pred["center_fields"], pred["sdf_maps"])
        max_val, argmax = split_evidence(pred["center_fields"], union)
        fail = (max_val > cfg.center_score_max_thres).cpu()
        passing = boxes[~fail]
        if cache is not None and passing.shape[0] > 0:
            pass_sdf = pred["sdf_maps"][~fail.to(union.device)]
            self._fill_cache(cache, pixel_boxes(passing, height, width), pass_sdf)
        if not with_new:
            return passing, boxes.new_zeros((0, 4))
        new = [split_boxes(boxes[fail], argmax[fail.to(argmax.device)], size)]
        if cfg.analyze_cc and passing.shape[0] > 0:
            masks = union[~fail.to(union.device)].cpu().numpy()
            cc = []
            for box, mask in zip(passing.tolist(), masks):
                comps = component_boxes(mask)
                if len(comps) < 2:
                    continue
                if cfg.cc_box_coords == "image":
                    pix = pixel_boxes(torch.tensor([box]), height, width)[0].tolist()
                    sx, sy = (pix[2] - pix[0]) / size, (pix[3] - pix[1]) / size
                    comps = [[pix[0] + a * sx, pix[1] + b * sy, pix[0] + c * sx, pix[1] + d * sy]
                             for a, b, c, d in comps]
                cc.extend(comps)
            if cc:
                enlarged = enlarge_boxes(cc, height, width, cfg.cc_enlarge_ratio)
                new.append(torch.tensor(enlarged, dtype=torch.float64))
        return passing, torch.cat(new, dim=0)

    def _fill_cache(self, cache: dict, pix: torch.Tensor, sdf_maps: torch.Tensor) -> None:
        moves = edge_movements(sdf_maps).cpu()
        max_sdf = sdf_maps.float().amax((1, 2)).cpu()
        for key, mx, mv in zip(map(tuple, pix.tolist()), max_sdf.tolist(), moves):
            cache[key] = (mx, mv)

    def boundary_reasoning(self, image, boxes, image_id, cache: dict, trace: list | None = None):
        """-> (converged boxes [C, 4], their max sdf [C])."""
        cfg = self.cfg
        _, height, width = image.shape
        live = boxes.to(torch.float64)
        live_idx = torch.arange(live.shape[0])  # origin index: results keep the input order
        conv_boxes = torch.zeros((0, 4), dtype=torch.float64)
        conv_scores = torch.zeros(0, dtype=torch.float64)
        conv_idx = torch.zeros(0, dtype=torch.long)
        for _ in range(cfg.n_round):
            if not cfg.reuse_predictions and conv_boxes.shape[0] > 0:
                # original behaviour: every box, converged or not, is predicted and judged again
                order = torch.argsort(torch.cat([conv_idx, live_idx]))
                live = torch.cat([conv_boxes, live], dim=0)[order]
                live_idx = torch.cat([conv_idx, live_idx])[order]
                conv_boxes, conv_scores, conv_idx = conv_boxes[:0], conv_scores[:0], conv_idx[:0]
            w = live[:, 2] - live[:, 0]
            h = live[:, 3] - live[:, 1]
            ok = (w * h > cfg.proposal_area_thres) & (w > 0) & (h > 0)
            live, live_idx = live[ok], live_idx[ok]
            if live.shape[0] == 0:
                break
            pix = pixel_boxes(live, height, width)
            keys = list(map(tuple, pix.tolist()))
            if cfg.reuse_predictions:
                missing = list(dict.fromkeys(k for k in keys if k not in cache))
            else:
                cache.clear()
                missing = keys
            if missing:
                sdf = self.predictor.predict(image, torch.tensor(missing, dtype=torch.float64), {FIELDS},
                                             image_id)["sdf_maps"]
                self._fill_cache(cache, torch.tensor(missing), sdf)
            max_sdf = torch.tensor([cache[k][0] for k in keys], dtype=torch.float64)
            moves = torch.stack([cache[k][1] for k in keys])
            keep = max_sdf > cfg.max_sdf_thres
            live, live_idx, pix = live[keep], live_idx[keep], pix[keep]
            moves, max_sdf = moves[keep], max_sdf[keep]
            converged, moved = boundary_update(live, moves, on_edge_flags(pix, height, width), height, width,
                                               cfg.max_shrink_threshold, cfg.delta_ratio)
            conv_boxes = torch.cat([conv_boxes, live[converged]], dim=0)
            conv_scores = torch.cat([conv_scores, max_sdf[converged]], dim=0)
            conv_idx = torch.cat([conv_idx, live_idx[converged]], dim=0)
            live, live_idx = moved[~converged], live_idx[~converged]
            if cfg.merge_duplicates and live.shape[0] > 0:
                keep = self._merge_keep(live, conv_boxes)
                live, live_idx = live[keep], live_idx[keep]
            if trace is not None:
                trace.append((live.clone(), conv_boxes.clone()))
            if live.shape[0] == 0 and cfg.reuse_predictions:
                break
        order = torch.argsort(conv_idx)
        conv_boxes, conv_scores = conv_boxes[order], conv_scores[order]
        return conv_boxes, conv_scores

    def _merge_keep(self, live: torch.Tensor, converged: torch.Tensor) -> torch.Tensor:
        """Mask [L] of live boxes to keep: a live box is dropped when its IoU exceeds `merge_iou` with a
        converged box or with an earlier kept live box (greedy, in order)."""
        thr = self.cfg.merge_iou
        keep = torch.zeros(live.shape[0], dtype=torch.bool)
        order_score = -torch.arange(live.shape[0], dtype=torch.float32)
        keep[nms(live.float(), order_score, thr)] = True
        if converged.shape[0] > 0:
            keep &= box_iou(live, converged).amax(1) <= thr
        return keep

    # -- whole image ---------------------------------------------------------------------------------
    def discover(self, image: torch.Tensor, image_id=None) -> Discovery:
        """image [3, H, W] float in [0, 1] on the predictor's device -> Discovery."""
        cfg = self.cfg
        _, height, width = image.shape
        before = dict(self.predictor.counts)
        timer = self.predictor.timer
        net_before = sum(timer.seconds.values())
        t0 = time.perf_counter()
        stats: dict = {}
        empty = Discovery(torch.zeros((0, 4), dtype=torch.float64), torch.zeros(0, dtype=torch.float64))

        proposals = torch.from_numpy(generate_proposals(height, width))
        stats["proposals"] = int(proposals.shape[0])
        boxes = self.existence_filter(image, proposals, image_id)
        stats["after_existence"] = int(boxes.shape[0])
        cache: dict = {}
        trace: list | None = [] if cfg.record_trace else None
        result = empty
        if boxes.shape[0] > 0:
            seed = cache if cfg.reuse_predictions else None
            passing, new = self.center_reasoning(image, boxes, image_id, seed)
            new = self.existence_filter(image, new, image_id)
            passing2, _ = self.center_reasoning(image, new, image_id, seed, with_new=False)
            boxes = torch.cat([passing, passing2], dim=0)
            stats["after_center"] = int(boxes.shape[0])
            if boxes.shape[0] > 0:
                conv, conv_scores = self.boundary_reasoning(image, boxes, image_id, cache, trace)
                stats["converged"] = int(conv.shape[0])
                if conv.shape[0] > 0:
                    score = conv_scores if cfg.nms_score == "boundary" else torch.ones_like(conv_scores)
                    idx = nms(conv.float(), score.float(), cfg.nms_iou)
                    result = Discovery(conv[idx], conv_scores[idx], stats)
        result.trace = trace or []
        result.stats = stats
        counts = {k: v - before.get(k, 0) for k, v in self.predictor.counts.items()}
        stats["evaluations"] = counts
        stats["network_evaluations"] = int(sum(counts.values()))
        total = time.perf_counter() - t0
        stats["seconds"] = total
        stats["seconds_predict"] = sum(timer.seconds.values()) - net_before
        return result
