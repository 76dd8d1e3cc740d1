"""Pseudo boxes for the RPN from the foreground masks by multi-Otsu thresholding (paper 3.4, app. B)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from skimage.filters import threshold_multiotsu
from torchvision.ops import nms

from utils.config import option

EIGHT_CONNECTED = np.ones((3, 3), bool)


@dataclass
class PseudoBoxConfig:
    """`model.pseudo_boxes`: the RPN's targets from the foreground masks (multi-Otsu, appendix B)."""

    min_size: float = option(3.0, "minimum box side in pixels (5 on CLEVR, 3 on Multi-dSprites)", min=0)
    max_aspect: float = option(3.0, "maximum h/w and w/h of a box", min=1)
    nms_thresh: float = option(0.7, "NMS IoU of the boxes of an image", min=0, max=1)
    nbins: int = option(5, "histogram bins of multi-Otsu", min=2)
    classes: int = option(3, "classes of multi-Otsu (thresholds = classes - 1)", min=2)
    zero_below: float = option(0.001, "mask values below this are set to 0 first", min=0)


def boxes_from_mask(mask: np.ndarray, cfg: PseudoBoxConfig) -> tuple[np.ndarray, np.ndarray]:
    """One foreground mask [H, W] (values in [0, 1]) -> candidate boxes [n, 4] xyxy and scores [n].

    Multi-Otsu splits the mask values into `classes` levels; every connected region of pixels at or above
    each level above the lowest gives one box (x2/y2 exclusive). Boxes failing the size or aspect filters are
    dropped. Score = mean mask value inside the box.
    """
    m = np.where(mask < cfg.zero_below, 0.0, mask).astype(np.float64)
    if m.max() <= 0.0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    try:
        thresholds = threshold_multiotsu(m, classes=cfg.classes, nbins=cfg.nbins)
    except ValueError:  # too few distinct values for the requested classes: a single level, mask > 0
        thresholds = np.array([np.nextafter(0.0, 1.0)])
    levels = np.digitize(m, bins=thresholds)
    boxes = []
    for level in range(1, len(thresholds) + 1):
        regions, _ = ndimage.label(levels >= level, structure=EIGHT_CONNECTED)
        boxes += [
            (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop) for sl in ndimage.find_objects(regions) if sl
        ]
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    b = np.asarray(boxes, np.int64)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    keep = (np.minimum(w, h) >= cfg.min_size) & (np.maximum(w / h, h / w) <= cfg.max_aspect)
    b = b[keep]
    # Mean of the mask inside each box from an integral image.
    ii = np.pad(m, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = ii[b[:, 3], b[:, 2]] - ii[b[:, 1], b[:, 2]] - ii[b[:, 3], b[:, 0]] + ii[b[:, 1], b[:, 0]]
    scores = sums / ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))
    return b.astype(np.float32), scores.astype(np.float32)


def pseudo_boxes(fg_masks: np.ndarray, cfg: PseudoBoxConfig) -> tuple[np.ndarray, np.ndarray]:
    """Foreground masks of one image [K-1, H, W] -> pseudo boxes [n, 4] xyxy and scores [n] after NMS."""
    all_boxes, all_scores = [], []
    for m in fg_masks:
        b, s = boxes_from_mask(m, cfg)
        all_boxes.append(b)
        all_scores.append(s)
    boxes = np.concatenate(all_boxes, 0) if all_boxes else np.zeros((0, 4), np.float32)
    scores = np.concatenate(all_scores, 0) if all_scores else np.zeros((0,), np.float32)
    if len(boxes) == 0:
        return boxes, scores
    keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), cfg.nms_thresh).numpy()
    return boxes[keep], scores[keep]
