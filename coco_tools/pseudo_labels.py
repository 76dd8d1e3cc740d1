"""Pseudo labels for the detector: select scored discoveries (post_process) and merge COCO + ImageNet.

Selection: keep results whose scores reach `PseudoLabelThresholds` (existence, center, boundary); each kept
result keeps all its fields and gets `id` (1..N), `category_id` 1, `iscrowd` 0, `area` (from its mask)
and `score` := `area_score`. The output is a COCO dataset whose `images` are those of the split's
ground-truth / image-list JSON and whose only category is `{id: 1, name: fg}`.

Merging: ImageNet VoteCut annotations with `weight` >= 0.5 (score := weight) plus COCO pseudo labels; image
ids become strings `imagenet_<id>` / `coco_<id>`, annotation ids 1..N, one category. `file_name` stays
relative to its own dataset's image folder and every image gets `dataset: "imagenet" | "coco"`; the
detector (`cad/data`) finds ImageNet images under `<imagenet_root>/<wnid>/<name>.JPEG` and COCO images
under the COCO image folder by the id prefix. Images come ImageNet first, then COCO (as the original).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from coco_tools.common import fg_categories, image_id_resolver, segmentation_area
from utils.config import option
from utils.io import DataError

logger = logging.getLogger(__name__)

SCORE_FIELDS = ("existence_score", "center_score", "boundary_score", "area_score")

THRESHOLDS_GROUP = "pseudo-label thresholds (a discovery is kept when each score reaches its threshold)"


@dataclass
class PseudoLabelThresholds:
    """The thresholds a scored discovery must reach to become a pseudo label (`post_process.py`,
    `discover.py`): the flags, defaults and ranges of both scripts."""

    existence_score_thres: float = option(0.5, "existence score >= this", min=0, max=1,
                                          group=THRESHOLDS_GROUP)
    center_score_thres: float = option(0.8, "center score >= this", min=0, max=1, group=THRESHOLDS_GROUP)
    boundary_score_thres: float = option(0.75, "boundary score >= this", group=THRESHOLDS_GROUP)

    def passes(self, result: dict) -> bool:
        """Whether a scored discovery is kept as a pseudo label: each of its three scores >= its threshold."""
        return (result["existence_score"] >= self.existence_score_thres
                and result["center_score"] >= self.center_score_thres
                and result["boundary_score"] >= self.boundary_score_thres)


DEFAULT_THRESHOLDS = PseudoLabelThresholds()


def passes_thresholds(result: dict, existence_thres: float = DEFAULT_THRESHOLDS.existence_score_thres,
                      center_thres: float = DEFAULT_THRESHOLDS.center_score_thres,
                      boundary_thres: float = DEFAULT_THRESHOLDS.boundary_score_thres) -> bool:
    """`PseudoLabelThresholds.passes` with the three thresholds as arguments."""
    return PseudoLabelThresholds(existence_thres, center_thres, boundary_thres).passes(result)


def select_pseudo_labels(
    results: list[dict],
    gt: dict,
    existence_thres: float = DEFAULT_THRESHOLDS.existence_score_thres,
    center_thres: float = DEFAULT_THRESHOLDS.center_score_thres,
    boundary_thres: float = DEFAULT_THRESHOLDS.boundary_score_thres,
    source: str = "results",
    gt_source: str = "the image-list JSON",
) -> dict:
    """Scored discoveries (object_scoring output) -> COCO training dataset of the kept ones."""
    if not isinstance(results, list):
        raise DataError(f"{source}: expected a list of scored results (object_discovery_with_scores.json)")
    images = gt.get("images")
    if not isinstance(images, list):
        raise DataError(f"{gt_source}: has no 'images' list")
    resolve = image_id_resolver(img["id"] for img in images)
    sizes = {img["id"]: (img.get("height"), img.get("width")) for img in images}
    kept, unknown = [], 0
    for i, r in enumerate(results):
        if not isinstance(r, dict) or "image_id" not in r:
            raise DataError(f"{source}: result #{i} is not a dict with an 'image_id'")
        missing = [f for f in SCORE_FIELDS if not isinstance(r.get(f), int | float)]
        if missing:
            raise DataError(f"{source}: result #{i} (image {r['image_id']!r}) lacks {', '.join(missing)}; "
                            "post-processing needs object_scoring.py output")
        not_finite = [f for f in SCORE_FIELDS if not math.isfinite(r[f])]
        if not_finite:
            raise DataError(f"{source}: result #{i} (image {r['image_id']!r}): {', '.join(not_finite)} not a "
                            "finite number")
        if isinstance(r["image_id"], bool) or not isinstance(r["image_id"], int | str):
            raise DataError(f"{source}: result #{i}: image_id {r['image_id']!r} is not an integer or a "
                            "string")
        if not passes_thresholds(r, existence_thres, center_thres, boundary_thres):
            continue
        image_id = resolve(r["image_id"])
        if image_id is None:
            unknown += 1
            continue
        ann = dict(r)
        ann.update(id=len(kept) + 1, image_id=image_id, category_id=1, iscrowd=0, score=r["area_score"])
        if "area" not in ann:
            if ann.get("segmentation"):
                ann["area"] = segmentation_area(ann["segmentation"], *sizes[image_id])
            elif "bbox" in ann:
                ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3])
        kept.append(ann)
    if unknown and not kept:
        raise DataError(f"{source}: none of the {unknown} selected results is on an image of {gt_source} "
                        "(wrong image list?)")
    if unknown:
        logger.warning("%d selected results refer to images absent from the image list and were dropped",
                       unknown)
    logger.info("kept %d of %d results", len(kept), len(results))
    return {"info": {"description": "unMORE pseudo labels",
                     "thresholds": {"existence": existence_thres, "center": center_thres,
                                    "boundary": boundary_thres}},
            "images": images, "annotations": kept, "categories": fg_categories()}


def _prefixed(image_id: Any, prefix: str) -> str:
    text = str(image_id)
    return text if text.startswith(prefix) else prefix + text


def merge_coco_and_imagenet(coco: dict, imagenet: dict, min_weight: float = 0.5) -> dict:
    """COCO pseudo labels + ImageNet VoteCut labels -> one class-agnostic training dataset."""
    images: list[dict] = []
    annotations: list[dict] = []
    for name, data in (("imagenet", imagenet), ("coco", coco)):
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise DataError(f"{name} annotations: not a COCO dataset (no 'images' list)")
        prefix = f"{name}_"
        known = set()
        for img in data["images"]:
            new = dict(img)
            new["id"] = _prefixed(img["id"], prefix)
            new["dataset"] = name
            known.add(new["id"])
            images.append(new)
        dropped_weight = orphans = 0
        for i, ann in enumerate(data.get("annotations", [])):
            new = dict(ann)
            if name == "imagenet":
                weight = ann.get("weight", ann.get("score"))
                if not isinstance(weight, int | float):
                    raise DataError(f"imagenet annotation {ann.get('id', f'#{i}')} has no numeric 'weight'")
                if weight < min_weight:
                    dropped_weight += 1
                    continue
                new["score"] = float(weight)
            else:
                new["score"] = float(ann.get("score", 1.0))
            new["image_id"] = _prefixed(ann["image_id"], prefix)
            if new["image_id"] not in known:
                orphans += 1
                continue
            new["category_id"] = 1
            new.setdefault("iscrowd", 0)
            annotations.append(new)
        if orphans:
            logger.warning("%s: %d annotations refer to images absent from its 'images' and were dropped",
                           name, orphans)
        if name == "imagenet":
            logger.info("imagenet: dropped %d annotations with weight < %.2f", dropped_weight, min_weight)
    for k, ann in enumerate(annotations):
        ann["id"] = k + 1
    n_in = sum(img["dataset"] == "imagenet" for img in images)
    logger.info("merged %d imagenet + %d coco images, %d annotations", n_in, len(images) - n_in,
                len(annotations))
    return {"info": {"description": "unMORE training labels: COCO pseudo labels + ImageNet VoteCut"},
            "images": images, "annotations": annotations, "categories": fg_categories()}
