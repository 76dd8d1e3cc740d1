"""COCO*: merge extra object labels into COCO val2017 and count instances per category.

Merge rules:
- every original image, annotation and category is kept unchanged;
- an extra category whose name matches an original one (case-insensitive) uses the original id; any other
  extra category is appended: it keeps its own id when that id is above the largest original id (as the
  published COCO* labels number theirs from 101), otherwise it gets a fresh id after every id in use, so
  ids never collide and always follow COCO's;
- extra images are matched to original images by id, else by file name; extra annotations get ids after
  the largest original annotation id, `iscrowd` 0 and `area` computed from their mask.
"""

from __future__ import annotations

import logging
import os
from collections import Counter

from pycocotools import mask as mask_utils

from coco_tools.class_agnostic import to_class_agnostic
from coco_tools.common import compressed_rle
from utils.io import DataError

logger = logging.getLogger(__name__)


def _category_mapping(original: dict, extra: dict) -> tuple[dict, list[dict]]:
    """extra category id -> merged id, and the appended categories (kept ids first, then fresh ones)."""
    by_name = {c["name"].lower(): c["id"] for c in original["categories"]}
    used = {c["id"] for c in original["categories"]}
    max_original = max((i for i in used if isinstance(i, int)), default=0)
    mapping: dict = {}
    new_cats, need_fresh = {}, []
    for cat in sorted(extra.get("categories", []), key=lambda c: str(c["id"]).zfill(12)):
        key = cat["name"].lower()
        if key in by_name:
            mapping[cat["id"]] = by_name[key]
        elif key in new_cats:  # the same new name twice in the extra file
            mapping[cat["id"]] = new_cats[key]["id"]
        elif isinstance(cat["id"], int) and cat["id"] > max_original and cat["id"] not in used:
            used.add(cat["id"])
            new_cats[key] = {**cat}
            mapping[cat["id"]] = cat["id"]
        else:
            need_fresh.append(cat)
    for cat in need_fresh:
        key = cat["name"].lower()
        if key not in new_cats:
            new_id = max((i for i in used if isinstance(i, int)), default=0) + 1
            used.add(new_id)
            new_cats[key] = {**cat, "id": new_id}
        mapping[cat["id"]] = new_cats[key]["id"]
    return mapping, sorted(new_cats.values(), key=lambda c: c["id"])


def merge_extra_labels(original: dict, extra: dict) -> dict:
    """COCO `instances_val2017`-style dict + extra labels (with masks) -> merged dataset dict."""
    for name, data in (("original", original), ("extra", extra)):
        if not isinstance(data, dict) or not all(isinstance(data.get(k), list)
                                                 for k in ("images", "annotations", "categories")):
            raise DataError(f"{name} annotations need 'images', 'annotations' and 'categories' lists")
    cat_map, appended = _category_mapping(original, extra)
    orig_images = {img["id"]: img for img in original["images"]}
    by_file = {os.path.basename(img.get("file_name", "")): img["id"] for img in original["images"]}
    image_map = {}
    for img in extra["images"]:
        if img["id"] in orig_images and os.path.basename(img.get("file_name", "")) in (
                "", os.path.basename(orig_images[img["id"]].get("file_name", ""))):
            image_map[img["id"]] = img["id"]
        elif os.path.basename(img.get("file_name", "")) in by_file:
            image_map[img["id"]] = by_file[os.path.basename(img["file_name"])]
        else:
            raise DataError(f"extra image {img['id']!r} ({img.get('file_name')!r}) is not in the original "
                            "annotations")
    next_id = max((a["id"] for a in original["annotations"]), default=0) + 1
    new_anns = []
    for i, ann in enumerate(extra["annotations"]):
        where = f"extra annotation {ann.get('id', f'#{i}')!r}"
        if ann.get("image_id") not in image_map:
            raise DataError(f"{where}: image {ann.get('image_id')!r} is not in the extra 'images'")
        if ann.get("category_id") not in cat_map:
            raise DataError(f"{where}: category_id {ann.get('category_id')!r} is not in the extra "
                            "'categories'")
        if not ann.get("segmentation"):
            raise DataError(f"{where}: no mask; run generate_mask_for_extra_coco_labels.py first")
        image = orig_images[image_map[ann["image_id"]]]
        h, w = image.get("height"), image.get("width")
        rle = compressed_rle(ann["segmentation"], h, w)
        if h is not None and list(rle["size"]) != [h, w]:
            raise DataError(f"{where}: mask size {list(rle['size'])} differs from image {image['id']} "
                            f"[{h}, {w}]")
        new = dict(ann)
        new.update(id=next_id, image_id=image["id"], category_id=cat_map[ann["category_id"]], iscrowd=0,
                   area=float(mask_utils.area(rle)))
        next_id += 1
        new_anns.append(new)
    merged = {k: v for k, v in original.items() if k not in ("annotations", "categories")}
    merged["annotations"] = list(original["annotations"]) + new_anns
    merged["categories"] = list(original["categories"]) + appended
    logger.info("merged %d extra annotations (%d new categories) into %d original annotations",
                len(new_anns), len(appended), len(original["annotations"]))
    return merged


def merge_with_class_agnostic(original: dict, extra: dict) -> tuple[dict, dict]:
    """(merged dataset, its class-agnostic version with one category {id 1, name fg})."""
    merged = merge_extra_labels(original, extra)
    return merged, to_class_agnostic(merged, source="merged COCO*")


def category_stats(extra: dict) -> list[dict]:
    """Instances per category of a labels file: `[{id, name, count}]` sorted by id (zero counts kept)."""
    if not isinstance(extra, dict) or not isinstance(extra.get("categories"), list):
        raise DataError("labels file needs a 'categories' list")
    counts = Counter(a.get("category_id") for a in extra.get("annotations", []))
    names = {c["id"]: c["name"] for c in extra["categories"]}
    unknown = sorted(set(counts) - set(names), key=str)
    if unknown:
        raise DataError(f"annotations use category ids missing from 'categories': {unknown[:10]}")
    return [{"id": cid, "name": names[cid], "count": int(counts.get(cid, 0))}
            for cid in sorted(names, key=lambda c: (str(type(c)), c))]
