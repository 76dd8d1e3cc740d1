"""Object scoring: discovered boxes -> masks, tight boxes and four scores (COCO results)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import nms

from reasoning.boxes import mask_boxes
from reasoning.crops import pixel_boxes
from reasoning.fields import field_norm
from reasoning.predict import EXISTENCE, FIELDS, Predictor
from utils.config import DEVIATIONS_GROUP, option
from utils.masks import mask_to_rle


@dataclass
class ScoringConfig:
    """Every setting of object scoring."""

    nms_iou: float = option(0.5, "IoU of the NMS over the tight mask boxes", min=0, max=1)
    paste_antialias: bool = option(
        False, "Antialias the bilinear resize that pastes a 128x128 crop mask into a smaller box.",
        original=False, group=DEVIATIONS_GROUP)
    keep_empty_masks: bool = option(
        False, "Keep results whose mask is empty.", original=True, group=DEVIATIONS_GROUP,
        why="a result with an empty mask has the box [0, 0, 0, 0] and only costs precision.")


def paste_masks(binary: torch.Tensor, pix: torch.Tensor, height: int, width: int,
                antialias: bool) -> torch.Tensor:
    """Crop-space binary masks [N, S, S] -> image masks bool [N, H, W].

    Each mask is resized to its pixel box with bilinear interpolation (`align_corners=False`; without
    antialias as in the original, optionally antialiased when shrinking) and rounded (a value must exceed
    0.5), then pasted into the box.
    """
    out = torch.zeros((binary.shape[0], height, width), dtype=torch.bool, device=binary.device)
    for i, (x1, y1, x2, y2) in enumerate(pix.tolist()):
        r = F.interpolate(binary[i][None, None].float(), size=(y2 - y1, x2 - x1), mode="bilinear",
                          align_corners=False, antialias=antialias)[0, 0]
        out[i, y1:y2, x1:x2] = r > 0.5
    return out


def score_boxes(predictor: Predictor, image: torch.Tensor, boxes: torch.Tensor,
                image_id: int | str | None = None,
                config: ScoringConfig | None = None) -> tuple[list[dict], np.ndarray]:
    """Score boxes [N, 4] of image [3, H, W] -> (COCO result dicts in NMS order, masks bool [K, H, W]).

    mask = paste(|center field| > 0.5) OR paste(sigmoid(sdf) > 0.5); box = tight box of the mask; NMS by
    boundary score; existence, center (max |center field|), boundary (max sdf) and area
    ((area / largest kept area) ** 0.25) scores; `score` is their product.
    """
    cfg = config or ScoringConfig()
    _, height, width = image.shape
    if boxes.shape[0] == 0:
        return [], np.zeros((0, height, width), dtype=bool)
    pred = predictor.predict(image, boxes, {FIELDS, EXISTENCE}, image_id)
    norm = field_norm(pred["center_fields"])
    center_score = norm.amax((1, 2)).cpu().double()
    boundary_score = pred["sdf_maps"].amax((1, 2)).cpu().double()
    existence = pred["existence"].cpu().double()
    pix = pixel_boxes(boxes, height, width)
    sdf_mask = torch.sigmoid(pred["sdf_maps"]) > 0.5
    aa = cfg.paste_antialias
    masks = (paste_masks(norm > 0.5, pix, height, width, aa)
             | paste_masks(sdf_mask, pix, height, width, aa)).cpu()
    tight, nonempty = mask_boxes(masks)
    candidates = torch.arange(masks.shape[0]) if cfg.keep_empty_masks else torch.nonzero(nonempty)[:, 0]
    if candidates.numel() == 0:
        return [], np.zeros((0, height, width), dtype=bool)
    keep = candidates[nms(tight[candidates].float(), boundary_score[candidates].float(), cfg.nms_iou)]
    areas = masks[keep].sum((1, 2)).double()
    max_area = float(areas.max())
    area_score = (areas / max_area) ** 0.25 if max_area > 0 else torch.zeros_like(areas)
    results = []
    for n, i in enumerate(keep.tolist()):
        x1, y1, x2, y2 = tight[i].tolist()
        es, cs, bs = float(existence[i]), float(center_score[i]), float(boundary_score[i])
        a = float(area_score[n])
        results.append({
            "image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
            "segmentation": mask_to_rle(masks[i].numpy()), "score": es * cs * bs * a,
            "existence_score": es, "center_score": cs, "boundary_score": bs, "area_score": a,
        })
    return results, masks[keep].numpy()
