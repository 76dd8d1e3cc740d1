"""Class-agnostic COCO AP/AR for boxes and masks, computed by pycocotools' COCOeval.

Every ground-truth and result category is mapped to a single category 1, then COCOeval runs unchanged;
the summary numbers are COCOeval's, multiplied by 100. A value of -1.0 means "undefined" exactly as in
COCOeval (e.g. APs when the ground truth has no small objects); it is not multiplied.

Accepted results:
- a COCO results list (`image_id`, `bbox` xywh and/or `segmentation`, `score`; `category_id` ignored);
- a COCO dataset dict (its `annotations` are used as results, e.g. pseudo labels);
- the discovery format `{image_id: [[x1, y1, x2, y2], ...]}` (boxes only, so only the bbox task runs);
  a fifth number per box, when present, is its score.
A result without `score` takes its `weight` (VoteCut), else `DEFAULT_SCORE` (1.0), with one counted
warning; ties keep input order.

Image ids in results are matched to the ground truth by value or by their string form ("397133" -> 397133).
Results whose image is not in the ground truth, and boxes with negative or non-finite width/height, are
dropped with one counted warning each (or raise with `strict_image_ids=True`); a result mask whose RLE is
corrupt or of another size than its image raises.

The ground truth is validated with `coco_tools.checker.check_coco` (the checks of
`tools/check_coco_json.py`): defects that change the scores (negative or non-numeric boxes, corrupt or
wrong-size RLEs, bad polygons, non-positive image sizes, duplicate image ids, bad `iscrowd`) raise
DataError; defects the evaluator repairs (missing/duplicate annotation ids, unknown categories, annotations
of unknown images, boxes slightly outside their image) do not.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from coco_tools.checker import check_coco, check_segmentation, summarize_defects
from coco_tools.class_agnostic import to_class_agnostic
from coco_tools.common import compressed_rle, image_id_resolver
from utils.io import DataError, load_json

DEFAULT_SCORE = 1.0
STANDARD_MAX_DETS = (1, 10, 100)
TASKS = ("bbox", "segm")

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- ground truth
# check_coco defect kinds the evaluator repairs or that do not change the scores
REPAIRED_GT_DEFECTS = frozenset({"annotation_id", "duplicate_annotation_id", "missing_category",
                                 "duplicate_category_id", "missing_image", "bbox_outside", "empty_box"})


def validate_gt(gt: dict, source: str = "ground truth") -> None:
    """Raise DataError when the ground truth has defects that would make the scores wrong."""
    anns = gt.get("annotations", [])
    data = {"images": gt.get("images"), "annotations": anns if isinstance(anns, list) else None,
            "categories": gt.get("categories") if isinstance(gt.get("categories"), list) else []}
    defects = [d for d in check_coco(data) if d.kind not in REPAIRED_GT_DEFECTS]
    if defects:
        raise DataError(f"{source}: {len(defects)} defects the evaluator cannot score correctly "
                        f"({summarize_defects(defects)}), e.g. {defects[0]}; list them all with "
                        "tools/check_coco_json.py")



def _load_gt(gt: dict | str | os.PathLike) -> dict:
    if isinstance(gt, str | os.PathLike):
        source = str(gt)
        gt = load_json(gt, "ground-truth annotation file")
    else:
        source = "ground truth"
    if not isinstance(gt, dict) or not isinstance(gt.get("images"), list):
        raise DataError(f"{source}: not a COCO dataset (no 'images' list)")
    validate_gt(gt, source)
    return to_class_agnostic(gt, source=source, strict=True)


# ----------------------------------------------------------------------------- results
def _discovery_to_results(data: dict, source: str) -> list[dict]:
    results = []
    for image_id, boxes in data.items():
        if not isinstance(boxes, list):
            raise DataError(f"{source}: value for image {image_id!r} is not a list of boxes")
        for k, box in enumerate(boxes):
            if not isinstance(box, list | tuple) or len(box) not in (4, 5):
                raise DataError(f"{source}: image {image_id!r} box {k} is not [x1, y1, x2, y2(, score)]")
            try:
                x1, y1, x2, y2 = (float(v) for v in box[:4])
                score = float(box[4]) if len(box) == 5 else DEFAULT_SCORE
            except (TypeError, ValueError):
                raise DataError(f"{source}: image {image_id!r} box {k} {box!r} is not numbers") from None
            results.append({"image_id": image_id, "category_id": 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})
    return results


def load_results(results: list | dict | str | os.PathLike) -> list[dict]:
    """Results in any accepted form (see module docstring) -> list of result dicts (not yet checked)."""
    source = "results"
    if isinstance(results, str | os.PathLike):
        source = str(results)
        results = load_json(results, "results file")
    if isinstance(results, dict):
        if isinstance(results.get("annotations"), list) and "images" in results:
            return list(results["annotations"])
        return _discovery_to_results(results, source)
    if not isinstance(results, list):
        raise DataError(f"{source}: results must be a list of result dicts or a {{image_id: boxes}} dict")
    for i, r in enumerate(results):
        if not isinstance(r, dict) or "image_id" not in r:
            raise DataError(f"{source}: result #{i} is not a dict with an 'image_id'")
        if isinstance(r["image_id"], bool) or not isinstance(r["image_id"], int | str):
            raise DataError(f"{source}: result #{i}: image_id {r['image_id']!r} is not an integer or "
                            "a string")
    return results


def _to_compressed_rle(seg: Any, height: int | None, width: int | None, where: str) -> dict:
    try:
        rle = compressed_rle(seg, height, width)
    except (ValueError, TypeError, KeyError) as e:
        raise DataError(f"{where}: bad segmentation: {e}") from e
    out = {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
    problem = check_segmentation(out, height, width)
    if problem:
        raise DataError(f"{where}: {problem}")
    return out


def _normalise_results(results: list[dict], gt: dict, strict_image_ids: bool) -> list[dict]:
    resolve = image_id_resolver([img["id"] for img in gt["images"]])
    sizes = {img["id"]: (img.get("height"), img.get("width")) for img in gt["images"]}
    out, unknown, bad_boxes, no_score = [], {}, [], 0
    for i, r in enumerate(results):
        image_id = resolve(r["image_id"])
        if image_id is None:
            unknown[r["image_id"]] = unknown.get(r["image_id"], 0) + 1
            continue
        where = f"result #{i} (image {r['image_id']!r})"
        no_score += "score" not in r and "weight" not in r
        score = r.get("score", r.get("weight", DEFAULT_SCORE))
        try:
            score = float(score)
        except (TypeError, ValueError) as e:
            raise DataError(f"{where}: score {score!r} is not a number") from e
        if not math.isfinite(score):
            raise DataError(f"{where}: score {score!r} is not finite")
        new = {"image_id": image_id, "category_id": 1, "score": score}
        if r.get("bbox") is not None and not isinstance(r["bbox"], list | tuple):
            raise DataError(f"{where}: bbox must be [x, y, w, h], got {r['bbox']!r}")
        if r.get("bbox") is not None and len(r["bbox"]) > 0:
            if len(r["bbox"]) != 4:
                raise DataError(f"{where}: bbox must be [x, y, w, h], got {r['bbox']!r}")
            try:
                new["bbox"] = [float(v) for v in r["bbox"]]
            except (TypeError, ValueError) as e:
                raise DataError(f"{where}: bbox {r['bbox']!r} is not 4 numbers") from e
            if not all(math.isfinite(v) for v in new["bbox"]) or min(new["bbox"][2:]) < 0:
                bad_boxes.append(f"{where}: bbox {r['bbox']!r}")
                continue
        if r.get("segmentation"):
            h, w = sizes[image_id]
            new["segmentation"] = _to_compressed_rle(r["segmentation"], h, w, where)
        out.append(new)
    if unknown:
        n = sum(unknown.values())
        examples = ", ".join(repr(k) for k in list(unknown)[:5])
        msg = f"{n} results on {len(unknown)} images not in the ground truth (e.g. {examples})"
        if n == len(results):
            raise DataError(f"{msg}: no result is on an image of the ground truth (wrong file?)")
        if strict_image_ids:
            raise DataError(msg)
        logger.warning("%s were ignored", msg)
    if bad_boxes:
        msg = f"{len(bad_boxes)} results with a negative or non-finite box width/height (e.g. {bad_boxes[0]})"
        if strict_image_ids:
            raise DataError(msg)
        logger.warning("%s were ignored", msg)
    if no_score:
        logger.warning("%d of %d results have no 'score' (nor 'weight'): they rank with score %s in input "
                       "order", no_score, len(results), DEFAULT_SCORE)
    return out


def _task_detections(results: list[dict], task: str) -> list[dict] | None:
    """Results prepared for one task, or None when the results carry nothing for it."""
    if task == "bbox":
        dets = []
        for r in results:
            if "bbox" in r:
                box = r["bbox"]
            elif "segmentation" in r:
                box = [float(v) for v in mask_utils.toBbox(r["segmentation"])]
            else:
                raise DataError(f"result on image {r['image_id']!r} has neither 'bbox' nor 'segmentation'")
            dets.append({"image_id": r["image_id"], "category_id": 1, "bbox": box, "score": r["score"]})
        return dets
    with_mask = sum("segmentation" in r for r in results)
    if results and with_mask == 0:
        return None
    if with_mask != len(results):
        raise DataError(f"segm task: {len(results) - with_mask} of {len(results)} results have no "
                        "'segmentation'; evaluate them with --tasks bbox or add masks")
    # Like Detectron2, masks are evaluated without their boxes so COCO derives the area from the mask.
    return [{"image_id": r["image_id"], "category_id": 1, "segmentation": dict(r["segmentation"]),
             "score": r["score"]} for r in results]


# ----------------------------------------------------------------------------- COCOeval
def _summary(ev: COCOeval, max_dets: Sequence[int]) -> dict[str, float]:
    """COCOeval's summarize() formula, for standard and extra max-dets, in percent (-1 = undefined)."""
    p = ev.params

    def stat(ap: bool, iou: float | None = None, area: str = "all", md: int = 100) -> float:
        a = [i for i, lbl in enumerate(p.areaRngLbl) if lbl == area]
        m = [i for i, d in enumerate(p.maxDets) if d == md]
        s = ev.eval["precision"] if ap else ev.eval["recall"]
        if iou is not None:
            s = s[np.where(iou == p.iouThrs)[0]]
        s = s[:, :, :, a, m] if ap else s[:, :, a, m]
        if len(s[s > -1]) == 0:
            return -1.0
        return float(np.mean(s[s > -1]) * 100)

    out = {
        "AP": stat(True), "AP50": stat(True, 0.5), "AP75": stat(True, 0.75),
        "APs": stat(True, area="small"), "APm": stat(True, area="medium"), "APl": stat(True, area="large"),
    }
    for md in max_dets:
        out[f"AR{md}"] = stat(False, md=md)
    out.update({"ARs": stat(False, area="small"), "ARm": stat(False, area="medium"),
                "ARl": stat(False, area="large")})
    return out


def _run_cocoeval(coco_gt: COCO, dets: list[dict], task: str, max_dets: Sequence[int],
                  verbose: bool) -> dict[str, float]:
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        if dets:
            coco_dt = coco_gt.loadRes(dets)
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": [],
                               "categories": list(coco_gt.dataset["categories"])}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, task)
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
    return _summary(ev, max_dets)


def evaluate_class_agnostic(
    gt: dict | str | os.PathLike,
    results: list | dict | str | os.PathLike,
    tasks: Sequence[str] = TASKS,
    max_dets: Sequence[int] = STANDARD_MAX_DETS,
    strict_image_ids: bool = False,
    verbose: bool = False,
    print_table: bool = False,
) -> dict[str, dict[str, float]]:
    """Class-agnostic COCO metrics in percent: `{task: {"AP", "AP50", ..., "AR100", "ARs", ...}}`.

    `gt` is a COCO dataset dict or path; `results` a results list, dataset dict, discovery dict or path.
    `max_dets` always includes 1, 10 and 100 (AP is at 100 detections); each value n gives `AR<n>`.
    A task the results cannot serve (segm for boxes only) is skipped with a warning and left out.
    `verbose` shows pycocotools' own printout; `print_table` prints the summary table.
    """
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"unknown task {t!r}; choose from {TASKS}")
    md = sorted(set(int(m) for m in max_dets) | set(STANDARD_MAX_DETS))
    gt_dict = _load_gt(gt)
    res = _normalise_results(load_results(results), gt_dict, strict_image_ids)
    if not any(not a["iscrowd"] for a in gt_dict["annotations"]):
        logger.warning("the ground truth has no (non-crowd) annotations: every metric is undefined (-1)")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_dict
        coco_gt.createIndex()
    scores: dict[str, dict[str, float]] = {}
    for task in tasks:
        dets = _task_detections(res, task)
        if dets is None:
            logger.warning("results have no masks: skipping the %s task", task)
            continue
        if task == "segm":
            missing = [a.get("id") for a in gt_dict["annotations"] if not a.get("segmentation")]
            if missing:
                raise DataError(f"segm task: {len(missing)} ground-truth annotations have no segmentation "
                                f"(e.g. ids {missing[:5]}); use --tasks bbox")
        scores[task] = _run_cocoeval(coco_gt, dets, task, md, verbose)
    if print_table:
        print(format_table(scores))
    return scores


def format_table(scores: dict[str, dict[str, float]]) -> str:
    """Plain-text table: one row per metric, one column per task."""
    tasks = list(scores)
    if not tasks:
        return "(no task evaluated)"
    keys = list(scores[tasks[0]])
    lines = ["class-agnostic " + " ".join(f"{t:>8s}" for t in tasks)]
    for k in keys:
        lines.append(f"{k:<15s}" + " ".join(f"{scores[t].get(k, float('nan')):8.2f}" for t in tasks))
    return "\n".join(lines)
