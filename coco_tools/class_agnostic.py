"""Any COCO-style instance JSON (COCO, LVIS, Objects365, OpenImages, KITTI, VOC) -> class-agnostic JSON.

Images are kept as they are (extra fields such as LVIS's `neg_category_ids` are left untouched), every
annotation goes to category 1 (`{id: 1, name: fg}`) and keeps its other fields; `iscrowd` defaults to 0 and
`area` is filled from the mask (else the box) when absent. Crowd regions are kept (COCOeval ignores them)
unless `drop_crowd`. Annotation ids are kept unless missing or duplicated, then renumbered 1..N.
"""

from __future__ import annotations

import logging

from coco_tools.common import fg_categories, segmentation_area
from utils.io import DataError

logger = logging.getLogger(__name__)


def to_class_agnostic(data: dict, drop_crowd: bool = False, source: str = "input") -> dict:
    """Return a class-agnostic copy of a COCO dataset dict (the input is not modified)."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{source}: not a COCO dataset (no 'images' list)")
    anns_in = data.get("annotations", [])
    if not isinstance(anns_in, list):
        raise DataError(f"{source}: 'annotations' is not a list")
    sizes = {img.get("id"): (img.get("height"), img.get("width")) for img in data["images"]}
    out_anns, dropped = [], 0
    for i, ann in enumerate(anns_in):
        if not isinstance(ann, dict):
            raise DataError(f"{source}: annotations[{i}] is not an object")
        crowd = int(bool(ann.get("iscrowd", 0)))
        if crowd and drop_crowd:
            dropped += 1
            continue
        new = dict(ann)
        new["category_id"] = 1
        new["iscrowd"] = crowd
        if "area" not in new:
            h, w = sizes.get(ann.get("image_id"), (None, None))
            seg = ann.get("segmentation")
            if seg and (isinstance(seg, dict) and isinstance(seg.get("counts"), str | bytes)
                        or (h is not None and w is not None)):
                new["area"] = segmentation_area(seg, h, w)
            elif isinstance(ann.get("bbox"), list) and len(ann["bbox"]) == 4:
                new["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3])
        out_anns.append(new)
    ids = [a.get("id") for a in out_anns]
    if None in ids or len(set(ids)) != len(ids):
        logger.warning("%s: annotation ids missing or duplicated; renumbering 1..%d", source, len(out_anns))
        for k, a in enumerate(out_anns):
            a["id"] = k + 1
    if dropped:
        logger.info("%s: dropped %d crowd annotations", source, dropped)
    out = {k: v for k, v in data.items() if k not in ("annotations", "categories")}
    out["annotations"] = out_anns
    out["categories"] = fg_categories()
    return out
