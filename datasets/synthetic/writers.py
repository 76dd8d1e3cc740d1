"""Writing the synthetic datasets to disk: the ImageNet/VoteCut layout for stage 1 and COCO-style scenes,
with a manifest of the files each run wrote."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from datasets.synthetic.rendering import (
    TAG_SINGLE,
    height_width,
    jittered_height_width,
    render_single_object,
    rng_for,
)
from datasets.synthetic.scenes import LAYOUTS, scene_annotations, scene_for_index
from datasets.synthetic.votecut_candidates import votecut_candidates
from datasets.votecut import MASK_DIRNAME, largest_component, mask_relpath
from utils.io import DataError, atomic_write_bytes, atomic_write_json, save_png
from utils.masks import mask_to_box_xyxy, mask_to_rle, xyxy_to_xywh

VOTECUT_JSON_NAME = "imagenet_train_votecut_kmax_3_tuam_0.2.json"
JPEG_QUALITY = 92


def _jpeg_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _refuse_foreign_files(root: Path, manifest_name: str, planned: list[str], overwrite: bool) -> None:
    """Raise DataError when a file about to be written exists but was not written by the generator (it is not
    in `root/manifest_name`), unless `overwrite`: a user's file that happens to have a generated name."""
    if overwrite:
        return
    ours: set[str] = set()
    manifest = root / manifest_name
    if manifest.is_file():
        try:
            ours = set(json.loads(manifest.read_text())["files"])
        except (ValueError, KeyError, TypeError):
            ours = set()
    foreign = [rel for rel in planned if rel not in ours and (root / rel).exists()]
    if foreign:
        raise DataError(f"{len(foreign)} files to be generated already exist in {root} and were not written "
                        f"by the generator (e.g. {root / foreign[0]}); pass --overwrite to replace them")


def _write_manifest(root: Path, manifest_name: str, files: list[str], params: dict) -> None:
    """Record generated files (paths relative to `root`) in `root/manifest_name`.

    Files listed by a previous run with the same manifest but not generated now are removed, so a smaller
    regeneration leaves no stale images behind.
    """
    manifest = root / manifest_name
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError, TypeError):
            old = []
        keep = set(files)
        for rel in old:
            if rel not in keep and (root / rel).is_file():
                os.remove(root / rel)
                parent = (root / rel).parent
                if parent != root and not any(parent.iterdir()):
                    parent.rmdir()
    atomic_write_json(manifest, {"generator": "datasets.synthetic", "params": params, "files": sorted(files)},
                      indent=1)


def make_single_object_dataset(root: str | os.PathLike, num_classes: int, images_per_class: int,
                               image_size: int | Sequence[int], seed: int, *,
                               size_jitter: float = 0.0, overwrite: bool = False) -> dict:
    """Write a single-object dataset in the ImageNet/VoteCut layout under `root`.

    Files: `train/<wnid>/<wnid>_<k>.JPEG`, `masks_top1_single_component/<wnid>/<wnid>_<k>.png` (0/255,
    exactly what `tools/preprocess_votecut.py` derives from the JSON), and
    `annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json` (COCO-style, 2-3 scored masks per image,
    score in `weight`, RLE segmentation). Class folders are `n00000001`, `n00000002`, ...

    Args:
        image_size: int (square) or (height, width); with `size_jitter` > 0 each side of each image is
            drawn from [round(side * (1 - size_jitter)), side], giving non-square images.
    Returns:
        summary dict: number of images/annotations and the JSON path.
    """
    root = Path(root)
    if num_classes < 1 or images_per_class < 1:
        raise ValueError("num_classes and images_per_class must be >= 1")
    planned = [f"annotations/{VOTECUT_JSON_NAME}"]
    for c in range(num_classes):
        for k in range(images_per_class):
            name = f"n{c + 1:08d}/n{c + 1:08d}_{k:05d}.JPEG"
            planned += [f"train/{name}", f"{MASK_DIRNAME}/{mask_relpath(name)}"]
    _refuse_foreign_files(root, "synthetic_manifest.json", planned, overwrite)
    images, annotations, files = [], [], []
    for c in range(num_classes):
        wnid = f"n{c + 1:08d}"
        for k in range(images_per_class):
            rng = rng_for(seed, TAG_SINGLE, c, k)
            image, mask = render_single_object(rng, jittered_height_width(rng, image_size, size_jitter))
            image_id = len(images) + 1
            file_name = f"{wnid}/{wnid}_{k:05d}.JPEG"
            h, w = mask.shape
            images.append({"id": image_id, "file_name": file_name, "height": h, "width": w})
            candidates = votecut_candidates(rng, mask)
            for j in rng.permutation(len(candidates)):
                m, weight = candidates[int(j)]
                annotations.append({
                    "id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                    "segmentation": mask_to_rle(m), "bbox": xyxy_to_xywh(mask_to_box_xyxy(m)),
                    "area": int(m.sum()), "iscrowd": 0, "weight": weight,
                })
            atomic_write_bytes(root / "train" / file_name, _jpeg_bytes(image))
            mask_rel = f"{MASK_DIRNAME}/{mask_relpath(file_name)}"
            save_png(root / mask_rel, largest_component(mask).astype(np.uint8) * 255)
            files += [f"train/{file_name}", mask_rel]
    json_rel = f"annotations/{VOTECUT_JSON_NAME}"
    atomic_write_json(root / json_rel, {
        "info": {"description": "Synthetic single-object images: VoteCut-style scored pseudo-masks",
                 "seed": int(seed)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "fg", "supercategory": "fg"}],
    })
    files.append(json_rel)
    params = {"kind": "single_object", "num_classes": num_classes, "images_per_class": images_per_class,
              "image_size": height_width(image_size), "size_jitter": size_jitter, "seed": int(seed)}
    _write_manifest(root, "synthetic_manifest.json", files, params)
    return {"images": len(images), "annotations": len(annotations), "json": str(root / json_rel)}


def make_scene_dataset(root: str | os.PathLike, split: str, num_images: int, image_size: int | Sequence[int],
                       seed: int, layout: str = "mixed", *, min_objects: int = 2, max_objects: int = 6,
                       size_jitter: float = 0.0, overwrite: bool = False) -> dict:
    """Write `root/<split>/<split>_<id>.jpg` and `root/annotations/<split>_cls_agnostic.json`.

    The COCO JSON has `images` (id, file_name, height, width, plus the scene's `layout`), `annotations`
    (id, image_id, category_id 1, bbox xywh, area, RLE `segmentation` of the visible mask, iscrowd 0)
    and `categories` `[{"id": 1, "name": "fg"}]`. With layout "mixed" each scene draws its layout from
    all four (so some scenes mix relations within themselves). Each scene holds
    `min_objects..max_objects` objects (fewer only when no place is found). Image ids start at 1.

    Args:
        image_size: int (square) or (height, width); `size_jitter` as in `make_single_object_dataset`.
    Returns:
        summary dict: number of images/annotations and the JSON path.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if not 1 <= min_objects <= max_objects:
        raise ValueError("need 1 <= min_objects <= max_objects")
    if not split or "/" in split or "\\" in split:
        raise ValueError(f"bad split name {split!r}")
    root = Path(root)
    planned = [f"{split}/{split}_{i + 1:06d}.jpg" for i in range(num_images)]
    _refuse_foreign_files(root, f"synthetic_manifest_{split}.json",
                          planned + [f"annotations/{split}_cls_agnostic.json"], overwrite)
    images, annotations, files = [], [], []
    for i in range(num_images):
        scene, scene_layout = scene_for_index(seed, split, i, image_size, layout, min_objects=min_objects,
                                              max_objects=max_objects, size_jitter=size_jitter)
        h, w = scene.image.shape[:2]
        image_id = i + 1
        file_name = f"{split}_{image_id:06d}.jpg"
        images.append({"id": image_id, "file_name": file_name, "height": h, "width": w,
                       "layout": scene_layout})
        annotations += scene_annotations(scene.masks, image_id, len(annotations) + 1)
        atomic_write_bytes(root / split / file_name, _jpeg_bytes(scene.image))
        files.append(f"{split}/{file_name}")
    json_rel = f"annotations/{split}_cls_agnostic.json"
    atomic_write_json(root / json_rel, {
        "info": {"description": f"Synthetic multi-object scenes ({split}), class-agnostic",
                 "seed": int(seed)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "fg"}],
    })
    files.append(json_rel)
    params = {"kind": "scenes", "split": split, "num_images": num_images,
              "image_size": height_width(image_size), "size_jitter": size_jitter, "seed": int(seed),
              "layout": layout, "min_objects": min_objects, "max_objects": max_objects}
    _write_manifest(root, f"synthetic_manifest_{split}.json", files, params)
    return {"images": len(images), "annotations": len(annotations), "json": str(root / json_rel)}
