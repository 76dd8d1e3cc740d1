"""Segment Anything prompted by boxes: one mask per annotated box, clipped to the box, as COCO RLE.

Per image the embedding is computed once (`SamPredictor.set_image`) and all its boxes are prompted in
batches (`transform.apply_boxes_torch` + `predict_torch`, single-mask output). Boxes stay as annotated;
the mask is cut to the box's pixels and `area` is its pixel count. When SAM returns nothing inside a box,
the whole box becomes the mask and the annotation gets `"mask_from_box": true` (counted in the log).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from coco_tools.common import ascii_rle, box_region
from utils.extras import import_extra
from utils.io import DataError, JsonlWriter, load_image_rgb, read_jsonl
from utils.masks import mask_to_rle

if TYPE_CHECKING:
    from segment_anything import SamPredictor

logger = logging.getLogger(__name__)

SAM_CHECKPOINT_URLS = {
    "vit_h": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
    "vit_l": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    "vit_b": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
}


def infer_model_type(checkpoint: str | os.PathLike, model_type: str | None = None) -> str:
    """`--model_type` if given, else `vit_h`/`vit_l`/`vit_b` found in the checkpoint's file name."""
    if model_type:
        if model_type not in SAM_CHECKPOINT_URLS:
            raise ValueError(f"unknown SAM model type {model_type!r}; "
                             f"choose from {sorted(SAM_CHECKPOINT_URLS)}")
        return model_type
    name = Path(checkpoint).name.lower()
    found = [t for t in SAM_CHECKPOINT_URLS if t in name]
    if len(found) != 1:
        raise ValueError(f"cannot tell the SAM model type from {Path(checkpoint).name!r}; "
                         f"pass --model_type ({', '.join(SAM_CHECKPOINT_URLS)})")
    return found[0]


def build_sam_predictor(checkpoint: str | os.PathLike, model_type: str | None = None,
                        device: torch.device | str = "cpu") -> SamPredictor:
    """Load a released SAM checkpoint into a `SamPredictor` on `device` (strict key match)."""
    path = Path(checkpoint)
    try:
        mtype = infer_model_type(path, model_type)
    except ValueError:
        if path.is_file():
            raise
        mtype = "vit_h"
    if not path.is_file():
        raise FileNotFoundError(
            f"SAM checkpoint not found: {path}. Download the {mtype} weights from "
            f"{SAM_CHECKPOINT_URLS[mtype]} and pass the file with --sam_checkpoint "
            f"(other types: {', '.join(f'{k}: {v}' for k, v in SAM_CHECKPOINT_URLS.items() if k != mtype)})")
    sam_package = import_extra("segment_anything", "requirements-cocostar.txt")
    sam = sam_package.sam_model_registry[mtype](checkpoint=None)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    try:
        missing, unexpected = sam.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches: another model type
        first = str(e).strip().splitlines()[1:2] or [str(e)[:200]]
        raise DataError(f"{path} does not fit SAM {mtype} ({first[0].strip()}); check --model_type") from e
    if missing or unexpected:
        raise DataError(f"{path} does not fit SAM {mtype}: {len(missing)} missing keys (e.g. {missing[:3]}), "
                        f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}); check --model_type")
    sam.to(device).eval()
    return sam_package.SamPredictor(sam)


def clip_masks_to_boxes(masks: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
    """Zero every mask [N, H, W] outside the pixels of its box [N, 4] (x1, y1, x2, y2)."""
    out = np.zeros_like(masks, dtype=bool)
    h, w = masks.shape[1:]
    for k, box in enumerate(boxes_xyxy):
        x0, y0, x1, y1 = box_region(box, h, w)
        out[k, y0:y1, x0:x1] = masks[k, y0:y1, x0:x1]
    return out


@torch.inference_mode()
def predict_box_masks(predictor: SamPredictor, image: np.ndarray, boxes_xyxy: np.ndarray,
                      batch_size: int = 64) -> np.ndarray:
    """image uint8 RGB [H, W, 3], boxes [N, 4] xyxy in pixels -> bool masks [N, H, W] clipped to the boxes."""
    boxes_xyxy = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    h, w = image.shape[:2]
    if len(boxes_xyxy) == 0:
        return np.zeros((0, h, w), dtype=bool)
    predictor.set_image(image)
    chunks = []
    for start in range(0, len(boxes_xyxy), batch_size):
        boxes = torch.as_tensor(boxes_xyxy[start:start + batch_size], device=predictor.device)
        boxes = predictor.transform.apply_boxes_torch(boxes, (h, w))
        masks, _, _ = predictor.predict_torch(None, None, boxes=boxes, multimask_output=False)
        chunks.append(masks[:, 0].cpu().numpy())
    predictor.reset_image()
    return clip_masks_to_boxes(np.concatenate(chunks), boxes_xyxy)


def _image_annotations(predictor: SamPredictor, image: np.ndarray, anns: list[dict],
                       batch_size: int) -> tuple[list[dict], int]:
    boxes = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in (a["bbox"] for a in anns)], np.float32)
    masks = predict_box_masks(predictor, image, boxes, batch_size)
    out, fallbacks = [], 0
    h, w = image.shape[:2]
    for ann, box, mask in zip(anns, boxes, masks):
        new = {k: v for k, v in ann.items() if k not in ("segmentation", "area")}
        if not mask.any():
            x0, y0, x1, y1 = box_region(box, h, w)
            mask[y0:y1, x0:x1] = True
            new["mask_from_box"] = True
            fallbacks += 1
        new.update(segmentation=ascii_rle(mask_to_rle(mask)), area=float(mask.sum()), iscrowd=0)
        out.append(new)
    return out, fallbacks


def generate_masks(boxes: dict, image_dir: str | os.PathLike, predictor: SamPredictor,
                   partial_path: str | os.PathLike | None = None, batch_size: int = 64,
                   progress: bool = True) -> dict:
    """Boxes-only COCO dataset -> the same dataset with a SAM mask (RLE) per box.

    With `partial_path`, finished images are appended to that JSON-lines file and skipped on a rerun.
    Unreadable images are skipped with a counted warning (their boxes get no annotation).
    """
    from tqdm import tqdm

    by_image: dict = {}
    for ann in boxes["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    done: dict = {}
    if partial_path is not None:
        for rec in read_jsonl(partial_path):
            done[str(rec["image_id"])] = rec
    writer = JsonlWriter(partial_path) if partial_path is not None else None
    images = [dict(img) for img in boxes["images"]]
    skipped, fallbacks = [], 0
    try:
        todo = [img for img in images if img["id"] in by_image]
        for img in tqdm(todo, desc="SAM masks", disable=not progress):
            if str(img["id"]) in done:
                continue
            try:
                image = load_image_rgb(Path(image_dir) / img["file_name"])
            except DataError as e:
                skipped.append(str(e))
                continue
            if "height" in img and [img["height"], img["width"]] != list(image.shape[:2]):
                raise DataError(f"image {img['file_name']}: file is {image.shape[1]}x{image.shape[0]} but "
                                f"the annotations say {img['width']}x{img['height']}")
            anns, n_fb = _image_annotations(predictor, image, by_image[img["id"]], batch_size)
            fallbacks += n_fb
            rec = {"image_id": img["id"], "height": image.shape[0], "width": image.shape[1],
                   "annotations": anns}
            done[str(img["id"])] = rec
            if writer is not None:
                writer.write(rec)
    finally:
        if writer is not None:
            writer.close()
    if skipped:
        logger.warning("%d images could not be read and were skipped, e.g. %s", len(skipped), skipped[0])
    if fallbacks:
        logger.warning("%d boxes got an empty SAM mask; their whole box is used (mask_from_box)", fallbacks)
    annotations = []
    for img in images:
        rec = done.get(str(img["id"]))
        if rec is None:
            continue
        img["height"], img["width"] = rec["height"], rec["width"]
        annotations.extend(rec["annotations"])
    for k, ann in enumerate(annotations):
        ann["id"] = k + 1
    return {"info": {"description": "extra object labels: annotated boxes + Segment Anything masks"},
            "images": images, "annotations": annotations, "categories": list(boxes["categories"])}
