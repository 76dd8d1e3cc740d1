"""Helpers shared by the COCO tools: the single foreground category, image-id matching, mask areas."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

FG_CATEGORY = {"id": 1, "name": "fg", "supercategory": "fg"}


def fg_categories() -> list[dict]:
    """The category list of every class-agnostic file: `[{id: 1, name: fg, supercategory: fg}]`."""
    return [dict(FG_CATEGORY)]


def image_id_resolver(gt_ids: Iterable[Any]) -> Callable[[Any], Any]:
    """Map an image id from another file onto one of `gt_ids` (by value, then by string form:
    "397133" or "000000397133" -> 397133); returns None when there is no match."""
    gt_ids = list(gt_ids)
    exact = set(gt_ids)
    by_str = {str(i): i for i in gt_ids}

    def resolve(image_id: Any) -> Any:
        if isinstance(image_id, int | str) and image_id in exact:
            return image_id
        key = str(image_id)
        if key in by_str:
            return by_str[key]
        if key.isdigit() and str(int(key)) in by_str:
            return by_str[str(int(key))]
        return None

    return resolve


def compressed_rle(segmentation: Any, height: int | None, width: int | None) -> dict:
    """Any COCO segmentation (compressed RLE with str/bytes counts, uncompressed RLE, polygons) ->
    compressed RLE with bytes counts (pycocotools form). Polygons/uncompressed RLE need height/width."""
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), str | bytes):
        counts = segmentation["counts"]
        return {"size": list(segmentation["size"]),
                "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    if height is None or width is None:
        raise ValueError("polygon or uncompressed-RLE segmentation needs the image height and width")
    rles = mask_utils.frPyObjects(segmentation, int(height), int(width))
    return mask_utils.merge(rles) if isinstance(rles, list) else rles


def segmentation_area(segmentation: Any, height: int | None = None, width: int | None = None) -> float:
    """Pixel area of a COCO segmentation (any form)."""
    return float(mask_utils.area(compressed_rle(segmentation, height, width)))


def ascii_rle(rle: dict) -> dict:
    """RLE with JSON-serialisable (ascii str) counts."""
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def box_region(box_xyxy: Iterable[float], height: int, width: int) -> tuple[int, int, int, int]:
    """Integer pixel ranges (x0, y0, x1, y1), end-exclusive, covered by a float box, clipped to the image."""
    x1, y1, x2, y2 = box_xyxy
    x0, y0 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    xe, ye = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
    return x0, y0, max(x0, xe), max(y0, ye)
