"""Validate a COCO dataset JSON and report every defect (with the annotation / image id it concerns).

Checks: top-level lists; image ids unique, image sizes positive; category ids unique; annotation ids
present and unique; every annotation's image and category exist; `bbox` is 4 finite numbers with
non-negative width/height and lies inside its image (within `tolerance` pixels); `area` non-negative;
`iscrowd` 0/1; RLE `size` equals [height, width] and its run lengths cover exactly that many pixels;
polygons are lists of an even number (>= 6) of finite coordinates inside the image (within `tolerance`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Defect:
    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.where}: {self.message}"


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def rle_string_counts(counts: str) -> list[int] | None:
    """Run lengths of a compressed COCO RLE string (pycocotools' encoding), None when it is corrupt."""
    runs: list[int] = []
    p = 0
    while p < len(counts):
        x = k = 0
        more = True
        while more:
            if p >= len(counts):
                return None
            c = ord(counts[p]) - 48
            if not 0 <= c < 64:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            return None
        runs.append(x)
    return runs


def _check_rle(seg: dict, h: Any, w: Any, check_counts: bool) -> str | None:
    size = seg.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        return f"RLE size {size!r} is not [height, width]"
    if _is_num(h) and _is_num(w) and size != [int(h), int(w)]:
        return f"RLE size {size} differs from the image size [{int(h)}, {int(w)}]"
    counts = seg.get("counts")
    if isinstance(counts, list):
        if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != size[0] * size[1]:
            return f"uncompressed RLE counts do not sum to {size[0]}*{size[1]} pixels"
        return None
    if not isinstance(counts, str | bytes):
        return f"RLE counts of type {type(counts).__name__}"
    if check_counts:
        text = counts.decode("ascii", errors="replace") if isinstance(counts, bytes) else counts
        runs = rle_string_counts(text)
        if runs is None or sum(runs) != size[0] * size[1]:
            return f"RLE counts are corrupt or do not cover {size[0]}*{size[1]} pixels"
    return None


def _check_polygons(seg: list, h: Any, w: Any, tol: float) -> str | None:
    if not seg:
        return "empty polygon list"
    for k, poly in enumerate(seg):
        if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
            n = len(poly) if isinstance(poly, list) else type(poly).__name__
            return f"polygon {k} must have an even number >= 6 of coordinates, has {n}"
        if not all(_is_num(v) for v in poly):
            return f"polygon {k} has non-numeric or non-finite coordinates"
        if _is_num(h) and _is_num(w):
            xs, ys = poly[0::2], poly[1::2]
            if min(xs) < -tol or min(ys) < -tol or max(xs) > w + tol or max(ys) > h + tol:
                return f"polygon {k} leaves the image ({w}x{h})"
    return None


def check_coco(data: Any, tolerance: float = 1.0, check_rle_counts: bool = True) -> list[Defect]:
    """All defects of a COCO dataset dict (empty list when valid)."""
    defects: list[Defect] = []

    def add(kind: str, where: str, message: str) -> None:
        defects.append(Defect(kind, where, message))

    if not isinstance(data, dict):
        return [Defect("structure", "file", "top level is not an object")]
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            add("structure", "file", f"'{key}' is missing or not a list")
    if defects:
        return defects

    images: dict[Any, dict] = {}
    for i, img in enumerate(data["images"]):
        where = f"image {img.get('id', f'#{i}')!r}" if isinstance(img, dict) else f"images[{i}]"
        if not isinstance(img, dict) or "id" not in img:
            add("image_id", where, "image has no 'id'")
            continue
        if img["id"] in images:
            add("duplicate_image_id", where, "image id used more than once (the first entry is used)")
            continue
        images[img["id"]] = img
        for dim in ("height", "width"):
            if not _is_num(img.get(dim)) or img[dim] <= 0:
                add("image_size", where, f"{dim} {img.get(dim)!r} is not a positive number")

    cat_ids = Counter(c.get("id") for c in data["categories"] if isinstance(c, dict))
    for cid, n in cat_ids.items():
        if n > 1:
            add("duplicate_category_id", f"category {cid!r}", f"category id used {n} times")

    ann_ids: Counter = Counter()
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            add("structure", f"annotations[{i}]", "annotation is not an object")
            continue
        if "id" not in ann:
            add("annotation_id", f"annotations[{i}]", "annotation has no 'id'")
            where = f"annotations[{i}]"
        else:
            ann_ids[ann["id"]] += 1
            where = f"annotation {ann['id']!r}"
        img = images.get(ann.get("image_id"))
        if img is None:
            add("missing_image", where, f"image_id {ann.get('image_id')!r} is not in 'images'")
        if ann.get("category_id") not in cat_ids:
            add("missing_category", where, f"category_id {ann.get('category_id')!r} is not in 'categories'")
        h, w = (img.get("height"), img.get("width")) if img else (None, None)
        if not (_is_num(h) and _is_num(w) and h > 0 and w > 0):
            h = w = None  # unknown or already reported: skip the checks against the image size
        box = ann.get("bbox")
        if box is not None:
            if not (isinstance(box, list) and len(box) == 4 and all(_is_num(v) for v in box)):
                add("bbox", where, f"bbox {box!r} is not 4 finite numbers")
            else:
                x, y, bw, bh = box
                if bw < 0 or bh < 0:
                    add("negative_size", where, f"bbox width/height negative: {box}")
                elif _is_num(h) and _is_num(w) and (x < -tolerance or y < -tolerance
                                                    or x + bw > w + tolerance or y + bh > h + tolerance):
                    add("bbox_outside", where, f"bbox {box} leaves the image ({w}x{h})")
        if "area" in ann and (not _is_num(ann["area"]) or ann["area"] < 0):
            add("negative_size", where, f"area {ann['area']!r} is not a non-negative number")
        if ann.get("iscrowd", 0) not in (0, 1):
            add("iscrowd", where, f"iscrowd {ann.get('iscrowd')!r} is not 0 or 1")
        seg = ann.get("segmentation")
        if seg is None:
            continue
        if isinstance(seg, dict):
            problem = _check_rle(seg, h, w, check_rle_counts)
            if problem:
                add("rle", where, problem)
        elif isinstance(seg, list):
            problem = _check_polygons(seg, h, w, tolerance)
            if problem:
                add("polygon", where, problem)
        else:
            add("segmentation", where, f"segmentation of type {type(seg).__name__}")
    for aid, n in ann_ids.items():
        if n > 1:
            add("duplicate_annotation_id", f"annotation {aid!r}", f"annotation id used {n} times")
    return defects


def check_segmentation(seg: Any, height: Any = None, width: Any = None, tolerance: float = 1.0,
                       check_rle_counts: bool = True) -> str | None:
    """The problem of one segmentation (RLE dict or polygon list) against its image size, None when valid:
    the check `check_coco` applies to each annotation, for results and other single segmentations."""
    if isinstance(seg, dict):
        return _check_rle(seg, height, width, check_rle_counts)
    if isinstance(seg, list):
        return _check_polygons(seg, height, width, tolerance)
    return f"segmentation of type {type(seg).__name__}"


def summarize_defects(defects: list[Defect]) -> str:
    counts = Counter(d.kind for d in defects)
    return ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "no defects"
