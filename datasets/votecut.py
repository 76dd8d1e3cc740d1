"""VoteCut pseudo masks -> one top-scored, single-component mask per ImageNet image.

VoteCut ships a COCO-style JSON (e.g. `imagenet_train_votecut_kmax_3_tuam_0.2.json`): `images` with `id`,
`file_name` (`<wnid>/<name>.JPEG`), `height`, `width`, and several `annotations` per image, each with
`image_id`, an RLE `segmentation` and a score in the field `weight`. Stage 1 trains on, per image, the
highest-`weight` mask reduced to its largest 4-connected component, stored as a 0/255 PNG at
`masks_top1_single_component/<wnid>/<name>.png`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from scipy import ndimage

from utils.io import DataError, load_json, save_png
from utils.masks import rle_to_mask

MASK_DIRNAME = "masks_top1_single_component"


@dataclass
class VoteCutImage:
    """One image of a VoteCut JSON and its scored candidate masks (annotation dicts)."""

    image_id: int | str
    file_name: str
    height: int
    width: int
    annotations: list[dict] = field(default_factory=list)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 4-connected component of a bool mask [H, W] (ties: the one met first in raster order).

    An empty mask is returned empty.
    """
    mask = np.asarray(mask, dtype=bool)
    labels, num = ndimage.label(mask)  # default structure: 4-connectivity in 2-D
    if num <= 1:
        return mask.copy()
    sizes = np.bincount(labels.ravel(), minlength=num + 1)
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def select_top1(annotations: list[dict]) -> dict | None:
    """The annotation with the highest `weight` (the first one on ties), None for an empty list."""
    if not annotations:
        return None
    weights = [float(a["weight"]) for a in annotations]
    return annotations[int(np.argmax(weights))]


def mask_relpath(file_name: str) -> str:
    """`<wnid>/<name>.JPEG` -> `<wnid>/<name>.png` (the mask path below `masks_top1_single_component/`).

    Only the class folder and the file name are kept; a bare `<wnid>_<n>.JPEG` goes to the folder `<wnid>`.
    """
    p = PurePosixPath(file_name.replace("\\", "/"))
    name = p.name
    if not name:
        raise ValueError(f"empty file_name {file_name!r}")
    stem = name[: -len(p.suffix)] if p.suffix else name
    wnid = p.parent.name if p.parent.name else stem.split("_")[0]
    return f"{wnid}/{stem}.png"


def top1_single_component_mask(image: VoteCutImage) -> np.ndarray:
    """uint8 0/255 mask [H, W] of an image's highest-weight annotation, largest 4-connected component only.

    Without annotations the mask is empty with the image's height/width; otherwise it has the size of the
    decoded segmentation (RLE `size`), as VoteCut stores it.
    """
    ann = select_top1(image.annotations)
    if ann is None:
        return np.zeros((image.height, image.width), dtype=np.uint8)
    mask = rle_to_mask(ann["segmentation"], image.height, image.width)
    return largest_component(mask).astype(np.uint8) * 255


def _require(obj: dict, keys: tuple[str, ...], what: str, path: str | os.PathLike) -> None:
    if not isinstance(obj, dict):
        raise DataError(f"VoteCut JSON {path}: {what} is not an object but {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise DataError(f"VoteCut JSON {path}: {what} lacks key(s) {', '.join(repr(k) for k in missing)}")


def parse_votecut(data: dict, path: str | os.PathLike = "<memory>") -> list[VoteCutImage]:
    """Group a loaded VoteCut JSON by image (in `images` order), checking every field used.

    Raises DataError naming `path` and the first problem: missing `images`/`annotations`, an image
    without id/file_name/height/width, an annotation without image_id/segmentation/weight, a
    non-numeric weight, or an annotation pointing to an unknown image.
    """
    _require(data, ("images", "annotations"), "top level", path)
    if not isinstance(data["images"], list) or not isinstance(data["annotations"], list):
        raise DataError(f"VoteCut JSON {path}: 'images' and 'annotations' must be lists")
    images: dict = {}
    for i, info in enumerate(data["images"]):
        _require(info, ("id", "file_name", "height", "width"), f"images[{i}]", path)
        if info["id"] in images:
            raise DataError(f"VoteCut JSON {path}: duplicate image id {info['id']!r}")
        try:
            h, w = int(info["height"]), int(info["width"])
        except (TypeError, ValueError) as e:
            raise DataError(f"VoteCut JSON {path}: images[{i}] has a non-integer height/width") from e
        if not isinstance(info["file_name"], str) or not info["file_name"]:
            raise DataError(f"VoteCut JSON {path}: images[{i}] has an empty or non-string file_name")
        images[info["id"]] = VoteCutImage(info["id"], info["file_name"], h, w)
    for j, ann in enumerate(data["annotations"]):
        _require(ann, ("image_id", "segmentation", "weight"), f"annotations[{j}]", path)
        if ann["image_id"] not in images:
            raise DataError(f"VoteCut JSON {path}: annotations[{j}] refers to an unknown image_id "
                            f"{ann['image_id']!r}")
        w = ann["weight"]
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w):
            raise DataError(f"VoteCut JSON {path}: annotations[{j}] has a non-numeric weight {w!r}")
        images[ann["image_id"]].annotations.append(ann)
    return list(images.values())


def load_votecut(path: str | os.PathLike) -> list[VoteCutImage]:
    """Load and parse a VoteCut JSON file (DataError naming the file when it is missing or malformed)."""
    from coco_tools.checker import validate_coco

    data = load_json(path, "VoteCut JSON")
    images = parse_votecut(data, path)  # the fields VoteCut needs, then every COCO check
    # an undecodable mask is a counted per-image skip, as before; an RLE above the pixel limit is an error
    validate_coco(data, f"VoteCut JSON {path}", tolerate=("rle", "polygon", "segmentation"))
    return images


def mask_output_path(out_dir: str | os.PathLike, file_name: str) -> Path:
    """`<out_dir>/masks_top1_single_component/<wnid>/<name>.png` for an image `file_name`."""
    return Path(out_dir) / MASK_DIRNAME / mask_relpath(file_name)


def write_top1_mask(image: VoteCutImage, out_dir: str | os.PathLike) -> bool:
    """Write an image's top-1 single-component mask PNG (0/255, atomic); returns True if it is empty."""
    mask = top1_single_component_mask(image)
    save_png(mask_output_path(out_dir, image.file_name), mask)
    return not mask.any()
