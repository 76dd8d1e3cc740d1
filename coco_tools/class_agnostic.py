"""Any COCO-style instance JSON (COCO, LVIS, Objects365, OpenImages, KITTI, VOC) -> class-agnostic JSON.

Images are kept as they are (extra fields such as LVIS's `neg_category_ids` are left untouched), every
annotation goes to category 1 (`{id: 1, name: fg}`) and keeps its other fields; `iscrowd` defaults to 0 and
`area` is filled from the mask (else the box) when absent. Crowd regions are kept (COCOeval ignores them)
unless `drop_crowd`. Annotation ids are kept unless missing or duplicated, then renumbered 1..N.
The evaluator's ground truth goes through the same conversion in `strict` mode.
"""

from __future__ import annotations

import logging

from coco_tools.common import fg_categories, segmentation_area
from utils.io import DataError

logger = logging.getLogger(__name__)


def _area(ann: dict, height: int | None, width: int | None) -> float | None:
    """Pixel area of the annotation's segmentation where it can be measured, else of its box, else None."""
    seg = ann.get("segmentation")
    if seg and (isinstance(seg, dict) and isinstance(seg.get("counts"), str | bytes)
                or (height is not None and width is not None)):
        return segmentation_area(seg, height, width)
    box = ann.get("bbox")
    if isinstance(box, list) and len(box) == 4:
        return float(box[2]) * float(box[3])
    return None


def _checked_images(images: list, source: str) -> list[dict]:
    for i, img in enumerate(images):
        if not isinstance(img, dict) or "id" not in img:
            raise DataError(f"{source}: images[{i}] has no 'id'")
    return list(images)


def to_class_agnostic(data: dict, drop_crowd: bool = False, source: str = "input",
                      strict: bool = False) -> dict:
    """Return a class-agnostic copy of a COCO dataset dict (the input is not modified).

    `strict` (the evaluator's ground truth): every image needs an `id` and every annotation an `image_id`;
    annotations on images absent from `images` are dropped with a warning (COCOeval ignores them too); an
    annotation with neither `area`, a measurable segmentation nor a box is a DataError; ids are renumbered
    without a warning (they do not affect the metrics); the copy holds only `info`, `images`, `annotations`
    and `categories`.
    """
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{source}: not a COCO dataset (no 'images' list)")
    images = _checked_images(data["images"], source) if strict else data["images"]
    anns_in = data.get("annotations", [])
    if not isinstance(anns_in, list):
        raise DataError(f"{source}: 'annotations' is not a list")
    sizes = {img.get("id"): (img.get("height"), img.get("width")) for img in images}
    out_anns, dropped, orphans = [], 0, 0
    for i, ann in enumerate(anns_in):
        if strict and (not isinstance(ann, dict) or "image_id" not in ann):
            raise DataError(f"{source}: annotations[{i}] has no 'image_id'")
        if not isinstance(ann, dict):
            raise DataError(f"{source}: annotations[{i}] is not an object")
        if strict and ann["image_id"] not in sizes:
            orphans += 1
            continue
        crowd = int(bool(ann.get("iscrowd", 0)))
        if crowd and drop_crowd:
            dropped += 1
            continue
        new = dict(ann)
        new["category_id"] = 1
        new["iscrowd"] = crowd
        if "area" not in new:
            area = _area(ann, *sizes.get(ann.get("image_id"), (None, None)))
            if area is not None:
                new["area"] = area
            elif strict:
                raise DataError(f"{source}: annotation {ann.get('id', f'#{i}')} has neither 'area', "
                                "'segmentation' nor 'bbox'")
        out_anns.append(new)
    if orphans:
        logger.warning("%s: %d annotations refer to images absent from 'images' and are ignored",
                       source, orphans)
    ids = [a.get("id") for a in out_anns]
    if None in ids or len(set(ids)) != len(ids):
        if not strict:
            logger.warning("%s: annotation ids missing or duplicated; renumbering 1..%d", source,
                           len(out_anns))
        for k, a in enumerate(out_anns):
            a["id"] = k + 1
    if dropped:
        logger.info("%s: dropped %d crowd annotations", source, dropped)
    if strict:
        return {"info": data.get("info", {}), "images": images, "annotations": out_anns,
                "categories": fg_categories()}
    out = {k: v for k, v in data.items() if k not in ("annotations", "categories")}
    out["annotations"] = out_anns
    out["categories"] = fg_categories()
    return out
