"""Multi-object reasoning: existence filter, center reasoning, boundary reasoning, NMS.

`Reasoner.discover(image, image_id)` runs the whole search for one image with any `Predictor`; its cost
(crops, seconds) is measured around it by `reasoning.stats.CountingPredictor`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torchvision.ops import box_iou, nms

from reasoning.boxes import crop_to_image, enlarge_boxes, large_boxes, split_boxes
from reasoning.crops import on_edge_flags, pixel_boxes
from reasoning.fields import boundary_update, component_boxes, edge_movements, split_evidence, union_masks
from reasoning.predict import EXISTENCE, FIELDS, SDF, Predictor
from reasoning.proposals import generate_proposals
from reasoning.runner import EXECUTION
from utils.config import DEVIATIONS_GROUP, option

THRESHOLDS = "reasoning thresholds (defaults of the original code)"
CC_BOX_COORDS = ("image", "crop")
NMS_SCORES = ("boundary", "constant")

# pixel box -> (max sdf, edge movements [4]) of its crop
PredictionCache = dict[tuple[int, int, int, int], tuple[float, torch.Tensor]]
# pixel box -> existence score of its crop
ExistenceCache = dict[tuple[int, int, int, int], float]


@dataclass
class ReasoningConfig:
    """Every setting of object reasoning: the original code's thresholds and the deviations from it."""

    class_score_thres: float = option(0.1, "existence score to keep a box", group=THRESHOLDS, min=0, max=1)
    center_score_max_thres: float = option(0.009, "anti-center max to split", group=THRESHOLDS, min=0)
    analyze_cc: bool = option(False, "add one box per connected component", group=THRESHOLDS)
    max_sdf_thres: float = option(0.5, "drop boxes whose max sdf is not above", group=THRESHOLDS)
    max_shrink_threshold: float = option(16, "converged: shrink <= this (crop px)", group=THRESHOLDS, min=0)
    delta_ratio: float = option(0.5, "step: expand x(1+r), shrink x(1-r)", group=THRESHOLDS, gt=0, lt=1)
    n_round: int = option(50, "boundary reasoning rounds", group=THRESHOLDS, min=0)
    proposal_area_thres: float = option(50, "drop boxes with area <= this", group=THRESHOLDS, min=0)
    nms_iou: float = option(0.5, "IoU of the final NMS", cli=False, min=0, max=1)
    cc_enlarge_ratio: float = option(1.5, "connected-component boxes are enlarged by this", cli=False, gt=0)
    reuse_predictions: bool = option(
        True, "Predict each pixel box at most once per image and never a converged box again. Not a "
        "deviation (kept by --original_behaviour): a prediction depends only on its pixel box, so the boxes "
        "are the same (tested) with far fewer crops. --no-reuse_predictions predicts every box, converged or "
        "not, again each round, as the original code does (to count its evaluations).",
        group=EXECUTION)
    merge_duplicates: bool = option(
        False, "Drop a moving box whose IoU with a converged box or an earlier moving box exceeds "
        "--merge_iou (saves crops but can lose objects: a dropped box may have converged elsewhere than the "
        "one kept).",
        original=False, group=DEVIATIONS_GROUP)
    merge_iou: float = option(
        0.9, "IoU above which boxes are duplicates", group=DEVIATIONS_GROUP, min=0, max=1)
    cc_box_coords: str = option(
        "image", "Coordinates of the connected-component boxes.", original="crop", group=DEVIATIONS_GROUP,
        choices=CC_BOX_COORDS,
        why="the original leaves connected-component boxes in 128x128 crop coordinates (a bug: they land "
            "near the image's top-left corner).")
    nms_score: str = option(
        "boundary", "Ranking score of the final NMS.", original="constant", group=DEVIATIONS_GROUP,
        choices=NMS_SCORES,
        why="with a constant score the final NMS keeps whichever duplicate comes first; ranking by max "
            "sdf keeps the box the boundary field is surest of.")
    record_trace: bool = option(False, "keep the boxes of every boundary round (for the GIF)", cli=False)

    def __post_init__(self) -> None:
        if self.cc_box_coords not in CC_BOX_COORDS:
            raise ValueError(f"cc_box_coords must be one of {CC_BOX_COORDS}, got {self.cc_box_coords!r}")
        if self.nms_score not in NMS_SCORES:
            raise ValueError(f"nms_score must be one of {NMS_SCORES}, got {self.nms_score!r}")


@dataclass
class Discovery:
    boxes: torch.Tensor                      # [K, 4] float64 x1 y1 x2 y2, NMS order
    scores: torch.Tensor                     # [K] boundary score (max sdf) of each box
    stats: dict = field(default_factory=dict)  # number of boxes (distinct grid proposals) after each step
    trace: list = field(default_factory=list)  # per round: (live boxes [L, 4], converged boxes [C, 4])


def no_boxes() -> torch.Tensor:
    return torch.zeros((0, 4), dtype=torch.float64)


class Reasoner:
    def __init__(self, predictor: Predictor, config: ReasoningConfig | None = None):
        self.predictor = predictor
        self.cfg = config or ReasoningConfig()

    # -- steps -----------------------------------------------------------------------------------------
    def existence_filter(self, image: torch.Tensor, boxes: torch.Tensor, image_id: int | str | None,
                         seen: ExistenceCache | None = None) -> torch.Tensor:
        """Boxes [N, 4] -> the boxes [M, 4] whose crop the existence network scores >= class_score_thres.

        With `seen` (pixel box -> score, filled here) each distinct pixel box is scored once per image.
        """
        if boxes.shape[0] == 0:
            return boxes
        if seen is None:
            ex = self.predictor.predict(image, boxes, {EXISTENCE}, image_id)["existence"].cpu()
            return boxes[ex >= self.cfg.class_score_thres]
        _, height, width = image.shape
        keys = list(map(tuple, pixel_boxes(boxes, height, width).tolist()))
        missing = list(dict.fromkeys(k for k in keys if k not in seen))
        if missing:
            ex = self.predictor.predict(image, torch.tensor(missing, dtype=torch.float64), {EXISTENCE},
                                        image_id)["existence"].cpu()
            seen.update(zip(missing, ex.tolist()))
        keep = torch.tensor([seen[k] >= self.cfg.class_score_thres for k in keys], dtype=torch.bool)
        return boxes[keep]

    def center_reasoning(self, image: torch.Tensor, boxes: torch.Tensor, image_id: int | str | None,
                         cache: PredictionCache | None = None, with_new: bool = True,
                         failed: set | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Boxes [N, 4] -> (boxes that hold one object [P, 4], new boxes [Q, 4] from splits and connected
        components).

        `cache` (the image's, before boundary reasoning) receives the boundary-reasoning quantities of the
        passing boxes; with it each distinct pixel box is predicted once, and with `with_new=False` (the
        second center round, which drops new boxes) a box already in it is known to pass without a crop;
        `failed` (with `cache`) collects the pixel boxes that fail, known without a crop in that round too.
        """
        cfg = self.cfg
        _, height, width = image.shape
        if boxes.shape[0] == 0:
            return boxes, boxes.new_zeros((0, 4))
        pix = pixel_boxes(boxes, height, width)
        if cache is None:
            pred_boxes, inverse = boxes, None
        else:  # everything below depends on the pixel box only: predict each distinct one once
            unique, inverse = torch.unique(pix, dim=0, return_inverse=True)
            if not with_new:  # only the verdict is needed: the passing boxes are already in the cache
                keys = list(map(tuple, unique.tolist()))
                passed = torch.tensor([k in cache for k in keys], dtype=torch.bool)
                known = passed | torch.tensor([failed is not None and k in failed for k in keys],
                                              dtype=torch.bool)
                if not bool(known.all()):
                    passed[~known] = ~self._center_fail(image, unique[~known], image_id, cache)[0]
                return boxes[passed[inverse]], boxes.new_zeros((0, 4))
            pred_boxes = unique.to(torch.float64)
        fail_u, argmax_u, union_u, size = self._center_fail(image, pred_boxes, image_id, cache, with_new)
        fail = fail_u if inverse is None else fail_u[inverse]
        if failed is not None and inverse is not None:
            failed.update(map(tuple, unique[fail_u].tolist()))
        passing = boxes[~fail]
        if not with_new:
            return passing, boxes.new_zeros((0, 4))
        rows = torch.arange(boxes.shape[0]) if inverse is None else inverse
        new = [split_boxes(boxes[fail], argmax_u[rows[fail].to(argmax_u.device)], size)]
        if cfg.analyze_cc and passing.shape[0] > 0:
            masks = union_u[rows[~fail].to(union_u.device)].cpu().numpy()
            new.append(self._component_boxes(passing, masks, height, width, size))
        return passing, torch.cat(new, dim=0)

    def _center_fail(self, image: torch.Tensor, boxes: torch.Tensor, image_id: int | str | None,
                     cache: PredictionCache | None, with_maps: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, int]:
        """Predict boxes [N, 4] -> (fails the singularity check bool [N] on the CPU, split point [N, 2],
        union masks bool [N, S, S], S); the last three only `with_maps`. The passing boxes' boundary
        quantities go to `cache`."""
        _, height, width = image.shape
        pred = self.predictor.predict(image, boxes, {FIELDS}, image_id)
        size = pred["sdf_maps"].shape[-1]
        union = union_masks(pred["center_fields"], pred["sdf_maps"])
        max_val, argmax = split_evidence(pred["center_fields"], union)
        fail = (max_val > self.cfg.center_score_max_thres).cpu()
        if cache is not None and not bool(fail.all()):
            self._fill_cache(cache, pixel_boxes(boxes[~fail], height, width),
                             pred["sdf_maps"][~fail.to(union.device)])
        if not with_maps:
            return fail, None, None, size
        return fail, argmax, union, size

    def _component_boxes(self, boxes: torch.Tensor, masks: np.ndarray, height: int, width: int,
                         size: int) -> torch.Tensor:
        """Boxes [N, 4], their masks bool [N, S, S] -> one enlarged box per connected component of each mask
        with two or more components [Q, 4] float64."""
        found = []
        for box, mask in zip(boxes.tolist(), masks):
            comps = component_boxes(mask)
            if len(comps) < 2:
                continue
            if self.cfg.cc_box_coords == "image":
                pixel_box = pixel_boxes(torch.tensor([box]), height, width)[0].tolist()
                comps = crop_to_image(comps, pixel_box, size)
            found.extend(comps)
        if not found:
            return no_boxes()
        enlarged = enlarge_boxes(found, height, width, self.cfg.cc_enlarge_ratio)
        return torch.tensor(enlarged, dtype=torch.float64)

    @staticmethod
    def _fill_cache(cache: PredictionCache, pix: torch.Tensor, sdf_maps: torch.Tensor) -> None:
        """Store max sdf and edge movements of sdf maps [N, S, S] under their pixel boxes [N, 4]."""
        moves = edge_movements(sdf_maps).cpu()
        max_sdf = sdf_maps.float().amax((1, 2)).cpu()
        for key, mx, mv in zip(map(tuple, pix.tolist()), max_sdf.tolist(), moves):
            cache[key] = (mx, mv)

    def boundary_reasoning(self, image: torch.Tensor, boxes: torch.Tensor, image_id: int | str | None,
                           cache: PredictionCache,
                           trace: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Boxes [N, 4] -> (converged boxes [C, 4] float64 in input order, their max sdf [C])."""
        cfg = self.cfg
        _, height, width = image.shape
        live = boxes.to(torch.float64)
        live_idx = torch.arange(live.shape[0])  # origin index: results keep the input order
        conv_boxes = no_boxes()
        conv_scores = torch.zeros(0, dtype=torch.float64)
        conv_idx = torch.zeros(0, dtype=torch.long)
        for _ in range(cfg.n_round):
            if not cfg.reuse_predictions and conv_boxes.shape[0] > 0:
                # original behaviour: every box, converged or not, is predicted and judged again
                order = torch.argsort(torch.cat([conv_idx, live_idx]))
                live = torch.cat([conv_boxes, live], dim=0)[order]
                live_idx = torch.cat([conv_idx, live_idx])[order]
                conv_boxes, conv_scores, conv_idx = conv_boxes[:0], conv_scores[:0], conv_idx[:0]
            ok = large_boxes(live, cfg.proposal_area_thres)
            live, live_idx = live[ok], live_idx[ok]
            if live.shape[0] == 0:
                break
            pix = pixel_boxes(live, height, width)
            max_sdf, moves = self._boundary_fields(image, pix, image_id, cache)
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
        return conv_boxes[order], conv_scores[order]

    def _boundary_fields(self, image: torch.Tensor, pix: torch.Tensor, image_id: int | str | None,
                         cache: PredictionCache) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel boxes [N, 4] -> (max sdf [N] float64, edge movements [N, 4]), predicting only what the
        cache lacks (with reuse_predictions; otherwise every box again)."""
        keys = list(map(tuple, pix.tolist()))
        if self.cfg.reuse_predictions:
            missing = list(dict.fromkeys(k for k in keys if k not in cache))
        else:
            cache.clear()
            missing = keys
        if missing:
            sdf = self.predictor.predict(image, torch.tensor(missing, dtype=torch.float64), {SDF},
                                         image_id)["sdf_maps"]
            self._fill_cache(cache, torch.tensor(missing), sdf)
        max_sdf = torch.tensor([cache[k][0] for k in keys], dtype=torch.float64)
        return max_sdf, torch.stack([cache[k][1] for k in keys])

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

    def final_nms(self, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Indices of the boxes [K, 4] kept by the final NMS (ranked by max sdf or, originally, constant)."""
        rank = scores if self.cfg.nms_score == "boundary" else torch.ones_like(scores)
        return nms(boxes.float(), rank.float(), self.cfg.nms_iou)

    # -- whole image ---------------------------------------------------------------------------------
    def discover(self, image: torch.Tensor, image_id: int | str | None = None) -> Discovery:
        """image [3, H, W] float in [0, 1] on the predictor's device -> Discovery."""
        cfg = self.cfg
        _, height, width = image.shape
        result = Discovery(no_boxes(), torch.zeros(0, dtype=torch.float64))
        stats = result.stats
        trace: list | None = [] if cfg.record_trace else None
        proposals = torch.from_numpy(generate_proposals(height, width))
        # distinct crops: grid boxes clipped at the image border repeat
        stats["proposals"] = int(torch.unique(pixel_boxes(proposals, height, width), dim=0).shape[0])
        cache: PredictionCache = {}
        scores: ExistenceCache | None = {} if cfg.reuse_predictions else None
        boxes = self.existence_filter(image, proposals, image_id, scores)
        stats["after_existence"] = int(boxes.shape[0])
        if boxes.shape[0] > 0:
            seed = cache if cfg.reuse_predictions else None
            failed: set = set()
            passing, new = self.center_reasoning(image, boxes, image_id, seed, failed=failed)
            # boxes of area <= proposal_area_thres would be dropped before the first boundary round
            new = new[large_boxes(new, cfg.proposal_area_thres)]
            new = self.existence_filter(image, new, image_id, scores)
            passing2, _ = self.center_reasoning(image, new, image_id, seed, with_new=False, failed=failed)
            boxes = torch.cat([passing, passing2], dim=0)
            stats["after_center"] = int(boxes.shape[0])
            if boxes.shape[0] > 0:
                conv, conv_scores = self.boundary_reasoning(image, boxes, image_id, cache, trace)
                stats["converged"] = int(conv.shape[0])
                if conv.shape[0] > 0:
                    idx = self.final_nms(conv, conv_scores)
                    result.boxes, result.scores = conv[idx], conv_scores[idx]
        result.trace = trace or []
        return result
