"""Validate a COCO dataset JSON and report every defect (with the annotation / image id it concerns).

Checks: top-level lists; image ids unique, image sizes positive; category ids unique; annotation ids
present and unique; every annotation's image and category exist; `bbox` is 4 finite numbers with
non-negative width/height and lies inside its image (within `tolerance` pixels); `area` non-negative;
`iscrowd` 0/1; RLE `size` equals [height, width] and its run lengths cover exactly that many pixels;
polygons are lists of an even number (>= 6) of finite coordinates inside the image (within `tolerance`);
boxes of zero width or height and zero areas are `empty_box`; an RLE above `max_pixels` is `rle_too_large`
(checked from its declared size, before anything is decoded).

`validate_coco` is the one validator of every stage that reads a COCO JSON: defects that would make a stage
compute something wrong raise one DataError naming the file, the annotation or image, the field and the
problem; defects a stage tolerates are counted in one warning, or (the stage's `drop` kinds) the annotations
are removed with a warning counting them.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from utils.io import DEFAULT_MAX_IMAGE_PIXELS, DataError, load_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Defect:
    kind: str
    where: str
    message: str
    annotation: int | None = None  # index in 'annotations' of the annotation concerned

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


def _check_rle(seg: dict, h: Any, w: Any, check_counts: bool, max_pixels: int | None = None) -> str | None:
    size = seg.get("size")
    if not (isinstance(size, list) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)):
        return f"RLE size {size!r} is not [height, width]"
    if max_pixels is not None and size[0] * size[1] > max_pixels:
        return (f"RLE size {size} is above the limit of {max_pixels:,} pixels (raise it with "
                "UNMORE_MAX_IMAGE_PIXELS)")
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


def _hashable_id(v: Any) -> bool:
    return isinstance(v, int | str) and not isinstance(v, bool)


def check_coco(data: Any, tolerance: float = 1.0, check_rle_counts: bool = True,
               max_pixels: int | None = None) -> list[Defect]:
    """All defects of a COCO dataset dict (empty list when valid); `max_pixels` bounds RLE sizes."""
    defects: list[Defect] = []

    def add(kind: str, where: str, message: str, annotation: int | None = None) -> None:
        defects.append(Defect(kind, where, message, annotation))

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
        if not _hashable_id(img["id"]):
            add("image_id", f"images[{i}]", f"id {img['id']!r} is not an integer or a string")
            continue
        if img["id"] in images:
            add("duplicate_image_id", where, "image id used more than once (the first entry is used)")
            continue
        images[img["id"]] = img
        for dim in ("height", "width"):
            if dim not in img:
                add("image_size_missing", where, f"image has no '{dim}'")
            elif not _is_num(img.get(dim)) or img[dim] <= 0:
                add("image_size", where, f"{dim} {str(img.get(dim))[:40]} is not a positive number")
        if (max_pixels is not None and _is_num(img.get("height")) and _is_num(img.get("width"))
                and img["height"] * img["width"] > max_pixels):
            add("image_too_large", where, f"size {img['width']}x{img['height']} is above the limit of "
                f"{max_pixels:,} pixels (raise it with UNMORE_MAX_IMAGE_PIXELS)")

    cat_ids = Counter(c.get("id") for c in data["categories"]
                      if isinstance(c, dict) and _hashable_id(c.get("id")))
    for cid, n in cat_ids.items():
        if n > 1:
            add("duplicate_category_id", f"category {cid!r}", f"category id used {n} times")

    ann_ids: Counter = Counter()
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            add("structure", f"annotations[{i}]", "annotation is not an object")
            continue
        if not _hashable_id(ann.get("id")):
            add("annotation_id", f"annotations[{i}]", "annotation has no integer or string 'id'", i)
            where = f"annotations[{i}]"
        else:
            ann_ids[ann["id"]] += 1
            where = f"annotation {ann['id']!r}"
        img = images.get(ann.get("image_id")) if _hashable_id(ann.get("image_id")) else None
        if not _hashable_id(ann.get("image_id")):
            add("image_id", where, f"image_id {str(ann.get('image_id'))[:40]} is not an integer or a string",
                i)
        elif img is None:
            add("missing_image", where, f"image_id {ann.get('image_id')!r} is not in 'images'", i)
        category = ann.get("category_id")
        if not (_hashable_id(category) and category in cat_ids):
            add("missing_category", where, f"category_id {category!r} is not in 'categories'", i)
        h, w = (img.get("height"), img.get("width")) if img else (None, None)
        if not (_is_num(h) and _is_num(w) and h > 0 and w > 0):
            h = w = None  # unknown or already reported: skip the checks against the image size
        box = ann.get("bbox")
        if box is not None:
            if not (isinstance(box, list) and len(box) == 4 and all(_is_num(v) for v in box)):
                add("bbox", where, f"bbox {str(box)[:80]} is not 4 finite numbers", i)
            else:
                x, y, bw, bh = box
                if bw < 0 or bh < 0:
                    add("negative_size", where, f"bbox width/height negative: {box}", i)
                elif bw == 0 or bh == 0:
                    add("empty_box", where, f"bbox {box} has zero width or height", i)
                elif _is_num(h) and _is_num(w) and (x < -tolerance or y < -tolerance
                                                    or x + bw > w + tolerance or y + bh > h + tolerance):
                    add("bbox_outside", where, f"bbox {box} leaves the image ({w}x{h})", i)
        if "area" in ann:
            if not _is_num(ann["area"]) or ann["area"] < 0:
                add("negative_size", where, f"area {str(ann['area'])[:40]} is not a non-negative number", i)
            elif ann["area"] == 0:
                add("empty_box", where, "area is 0", i)
        if ann.get("iscrowd", 0) not in (0, 1) or isinstance(ann.get("iscrowd"), float):
            add("iscrowd", where, f"iscrowd {ann.get('iscrowd')!r} is not 0 or 1", i)
        seg = ann.get("segmentation")
        if seg is None:
            continue
        if isinstance(seg, dict):
            problem = _check_rle(seg, h, w, check_rle_counts, max_pixels)
            if problem:
                add("rle_too_large" if "above the limit" in problem else "rle", where, problem, i)
        elif isinstance(seg, list):
            problem = _check_polygons(seg, h, w, tolerance)
            if problem:
                add("polygon", where, problem, i)
        else:
            add("segmentation", where, f"segmentation of type {type(seg).__name__}", i)
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


# Defects after which no stage can compute the right thing: refused unless a stage drops them.
FATAL_DEFECTS = frozenset({"structure", "image_id", "duplicate_image_id", "image_size", "missing_image",
                           "bbox", "negative_size", "iscrowd", "rle", "rle_too_large", "polygon",
                           "image_too_large", "segmentation"})


def validate_coco(data: Any, source: str, *, require_annotations: bool = True,
                  drop: Iterable[str] = (), tolerate: Iterable[str] = (), tolerance: float = 1.0,
                  check_rle_counts: bool = True, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> dict:
    """`data` (a COCO dataset dict read from `source`) checked with `check_coco`; returns it, without the
    annotations that have a defect of a kind in `drop` (a warning counts them by kind).

    A fatal defect (`FATAL_DEFECTS`) not dropped raises DataError with the first one (file, annotation or
    image, field and problem) and the count of all; other defects are counted in one warning. Without
    `require_annotations` a missing 'annotations' list is an empty one; a missing 'categories' list skips the
    category checks.
    """
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{source}: has no 'images' list")
    if "annotations" not in data and not require_annotations:
        data = {**data, "annotations": []}
    if not isinstance(data.get("annotations"), list):
        raise DataError(f"{source}: 'annotations' is missing or not a list")
    has_categories = isinstance(data.get("categories"), list)
    view = data if has_categories else {**data, "categories": []}
    defects = check_coco(view, tolerance, check_rle_counts, max_pixels)
    if not has_categories:
        defects = [d for d in defects if d.kind != "missing_category"]
    drop = set(drop)
    dropped = [d for d in defects if d.kind in drop and d.annotation is not None]
    fatal_kinds = FATAL_DEFECTS - set(tolerate)
    fatal = [d for d in defects if d.kind in fatal_kinds and d not in dropped]
    if fatal:
        more = (f" ({len(fatal)} such defects: {summarize_defects(fatal)}; list them with "
                "tools/check_coco_json.py)") if len(fatal) > 1 else ""
        raise DataError(f"{source}: {fatal[0].where}: {fatal[0].message}{more}")
    tolerated = [d for d in defects if d.kind not in fatal_kinds and d.kind not in drop]
    if tolerated:
        logger.warning("%s: %d tolerated defects (%s), e.g. %s", source, len(tolerated),
                       summarize_defects(tolerated), tolerated[0])
    if dropped:
        gone = {d.annotation for d in dropped}
        logger.warning("%s: dropped %d of %d annotations (%s)", source, len(gone), len(data["annotations"]),
                       summarize_defects(dropped))
        data = {**data, "annotations": [a for i, a in enumerate(data["annotations"]) if i not in gone]}
    return data


MAX_COORDINATE = 1e5  # no image is this large: a larger box coordinate is not a pixel position


def validate_discoveries(data: Any, source: str) -> dict:
    """A discovery file `{image_id: [[x1, y1, x2, y2], ...]}` (object_reasoning.py output) checked: each box
    4 finite pixel coordinates (else DataError naming the image and box); boxes with x2 <= x1 or y2 <= y1
    (zero area or inverted) are dropped with a warning counting them. Returns the checked dict."""
    if not isinstance(data, dict):
        raise DataError(f"{source}: expected {{image_id: [[x1, y1, x2, y2], ...]}}")
    out, degenerate = {}, 0
    for key, boxes in data.items():
        if not isinstance(boxes, list):
            raise DataError(f"{source}: image {key}: boxes must be a list, got {str(boxes)[:60]}")
        kept = []
        for k, box in enumerate(boxes):
            if not (isinstance(box, list) and len(box) == 4 and all(_is_num(v) for v in box)):
                raise DataError(f"{source}: image {key} box {k}: {str(box)[:80]} is not 4 finite numbers "
                                "[x1, y1, x2, y2]")
            if max(abs(v) for v in box) > MAX_COORDINATE:
                raise DataError(f"{source}: image {key} box {k}: {box} is not in pixel coordinates")
            if box[2] <= box[0] or box[3] <= box[1]:
                degenerate += 1
                continue
            kept.append(box)
        out[key] = kept
    if degenerate:
        logger.warning("%s: dropped %d boxes with zero area or x2 < x1 / y2 < y1", source, degenerate)
    return out

def load_coco_json(path: str | os.PathLike, require_annotations: bool = True,
                   drop: Iterable[str] = ()) -> dict:
    """Load a COCO dataset JSON validated by `validate_coco` (a DataError naming the file,
    the annotation, the field and the problem; annotations with a defect of a kind in `drop` removed with a
    warning that counts them)."""
    data = load_json(path, "COCO annotation file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"COCO annotation file {path} has no 'images' list")
    if require_annotations and "annotations" not in data:
        raise DataError(f"COCO annotation file {path} has no 'annotations' list")
    return validate_coco(data, f"COCO annotation file {path}", require_annotations=require_annotations,
                         drop=drop)
