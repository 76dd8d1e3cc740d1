"""COCO-format JSON -> per-image training/evaluation records (see ``cad.data.catalog`` for the layout).

Handles the merged unMORE COCO+ImageNet file (string image ids ``coco_<id>`` / ``imagenet_<id>``, COCO
images under one folder and ImageNet images under ``<imagenet_root>/<wnid>/<name>.JPEG``), class-agnostic
labels (every category becomes the single foreground class) and soft pseudo-label scores (``score``).
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from pathlib import Path

from utils.io import DataError
from coco_tools.checker import load_coco_json

logger = logging.getLogger(__name__)

_WNID = re.compile(r"^n\d{8}$")


def _is_imagenet(image: dict) -> bool:
    """ImageNet image of a merged file: ``dataset`` field (our merge script), id prefix, or .JPEG name."""
    if image.get("dataset") in ("imagenet", "coco"):
        return image["dataset"] == "imagenet"
    image_id = image.get("id")
    if isinstance(image_id, str):
        if image_id.startswith("imagenet_"):
            return True
        if image_id.startswith("coco_"):
            return False
    return str(image.get("file_name", "")).endswith(".JPEG")


def _imagenet_candidates(file_name: str, imagenet_root: Path) -> list[Path]:
    parts = Path(file_name).parts
    base = parts[-1]
    wnid = parts[-2] if len(parts) >= 2 and _WNID.match(parts[-2]) else base.split("_")[0]
    out = [imagenet_root / wnid / base, imagenet_root / file_name, imagenet_root / base]
    return out


def image_candidates(file_name: str, image_dirs: list[Path]) -> list[str]:
    """Paths tried for an image: each folder with the full relative name, then with the basename."""
    if os.path.isabs(file_name):
        return [file_name]
    base = os.path.basename(file_name)
    out: list[str] = []
    for d in image_dirs:
        for name in (file_name, base):
            p = str(d / name)
            if p not in out:
                out.append(p)
    return out


def _parse_annotation(ann: dict, counters: dict) -> dict | None:
    bbox = ann.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        counters["bad_bbox"] += 1
        return None
    segm = ann.get("segmentation")
    if isinstance(segm, list):
        segm = [p for p in segm if isinstance(p, (list, tuple)) and len(p) % 2 == 0 and len(p) >= 6]
        if not segm:
            counters["bad_segm"] += 1
            return None
    elif segm is not None and not (isinstance(segm, dict) and "counts" in segm):
        counters["bad_segm"] += 1
        return None
    score = ann.get("score", 1.0)
    return {
        "bbox": [float(v) for v in bbox],
        "segmentation": segm,
        "iscrowd": int(ann.get("iscrowd", 0)),
        "score": float(1.0 if score is None else score),
    }


def load_coco_records(json_path: str | os.PathLike, image_dirs: list[Path] | list[str],
                      imagenet_root: str | os.PathLike | None = None, coco_repeat: int = 1) -> list[dict]:
    """Load a COCO JSON into records. ``coco_repeat`` sets ``record["repeat"]`` of COCO images of a merged
    COCO+ImageNet file (other images get 1); the training sampler repeats them, evaluation ignores it."""
    # as Detectron2: annotations with an empty box or no valid polygon are left out (counted in a warning)
    data = load_coco_json(json_path, drop=("empty_box", "polygon"))
    image_dirs = [Path(d) for d in image_dirs]
    imagenet_root = Path(imagenet_root) if imagenet_root else None
    anns_by_image: dict = defaultdict(list)
    counters: dict = defaultdict(int)
    for ann in data["annotations"]:
        if "image_id" not in ann:
            counters["no_image_id"] += 1
            continue
        parsed = _parse_annotation(ann, counters)
        if parsed is not None:
            anns_by_image[ann["image_id"]].append(parsed)

    merged = any(im.get("dataset") == "imagenet"
                 or (isinstance(im.get("id"), str) and im["id"].startswith("imagenet_"))
                 for im in data["images"])
    records = []
    for im in data["images"]:
        try:
            file_name = str(im["file_name"])
            height, width = int(im["height"]), int(im["width"])
            image_id = im["id"]
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{json_path}: image entry {im!r} lacks id/file_name/height/width ({e})") from e
        if _is_imagenet(im):
            roots = [imagenet_root] if imagenet_root is not None else image_dirs
            cands = list(dict.fromkeys(str(p) for r in roots for p in _imagenet_candidates(file_name, r)))
            source = "imagenet"
        else:
            cands = image_candidates(file_name, image_dirs)
            is_coco = merged or (isinstance(image_id, str) and image_id.startswith("coco_"))
            source = "coco" if is_coco else "other"
        records.append({
            "file_name": cands[0],
            "image_candidates": cands,
            "image_id": image_id,
            "height": height,
            "width": width,
            "source": source,
            "repeat": coco_repeat if source == "coco" else 1,
            "annotations": anns_by_image.get(image_id, []),
        })
    for what, n in counters.items():
        logger.warning(f"{json_path}: skipped {n} annotations ({what.replace('_', ' ')})")
    return records
