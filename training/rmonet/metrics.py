"""Evaluation metrics of R-MONet: foreground ARI and class-agnostic box AP (COCO)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from torchvision.ops import box_iou

from utils.masks import mask_to_box_xyxy, xyxy_to_xywh


def _comb2(n: np.ndarray) -> np.ndarray:
    n = n.astype(np.float64)
    return n * (n - 1.0) / 2.0


def adjusted_rand_index(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Adjusted Rand index of two flat labelings (same value as sklearn.metrics.adjusted_rand_score)."""
    labels_true = np.asarray(labels_true).ravel()
    labels_pred = np.asarray(labels_pred).ravel()
    n = labels_true.size
    if n < 2:
        return 1.0
    _, t = np.unique(labels_true, return_inverse=True)
    _, p = np.unique(labels_pred, return_inverse=True)
    contingency = np.zeros((t.max() + 1, p.max() + 1), np.int64)
    np.add.at(contingency, (t, p), 1)
    index = _comb2(contingency).sum()
    sum_a = _comb2(contingency.sum(1)).sum()
    sum_b = _comb2(contingency.sum(0)).sum()
    expected = sum_a * sum_b / _comb2(np.array(n))
    maximum = 0.5 * (sum_a + sum_b)
    if maximum == expected:  # both labelings trivial and identical (one cluster each, or all singletons)
        return 1.0
    return float((index - expected) / (maximum - expected))


def foreground_ari(gt_labels: np.ndarray, pred_labels: np.ndarray) -> np.ndarray:
    """Per-image ARI over ground-truth foreground pixels (gt label != 0).

    gt_labels, pred_labels int [B, H, W] (pred = argmax_k m_k) -> [B] (NaN for images without foreground).
    """
    out = np.full(len(gt_labels), np.nan)
    for i, (g, p) in enumerate(zip(gt_labels, pred_labels)):
        fg = g != 0
        if fg.any():
            out[i] = adjusted_rand_index(g[fg], p[fg])
    return out


def object_boxes(gt_labels: np.ndarray) -> np.ndarray:
    """Tight boxes [n, 4] xyxy (x2/y2 exclusive) of the instances of one label map [H, W] (0 = background)."""
    boxes = [mask_to_box_xyxy(gt_labels == inst) for inst in np.unique(gt_labels) if inst != 0]
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def match_boxes_to_objects(objects: list[np.ndarray], boxes, iou: float = 0.5) -> np.ndarray:
    """Counts [objects found, objects, boxes on an object, boxes] over a batch: an object is found when one of
    its image's boxes has IoU >= `iou` with its box, and a box is on an object when it has IoU >= `iou` with
    one. objects: per image [n_i, 4] xyxy (`object_boxes`); boxes: per image [R_i, 4] xyxy (an array
    [B, R, 4] or a list), whatever their scores."""
    counts = np.zeros(4, np.int64)
    for o, b in zip(objects, boxes):
        o, b = torch.as_tensor(o, dtype=torch.float32), torch.as_tensor(np.asarray(b), dtype=torch.float32)
        counts += (0, len(o), 0, len(b))
        if len(o) and len(b):
            iou_matrix = box_iou(o, b) >= iou
            counts += (int(iou_matrix.any(1).sum()), 0, int(iou_matrix.any(0).sum()), 0)
    return counts


class BoxAP:
    """Collects ground-truth object boxes (from instance label maps) and scored predicted boxes, then computes
    class-agnostic COCO box AP/AP50/AP75 (percent) with `COCO_evaluator` (pycocotools underneath)."""

    def __init__(self):
        self.images, self.annotations, self.results = [], [], []

    def add(self, gt_labels: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> None:
        """gt_labels int [H, W] (0 = background); boxes [R, 4] xyxy pixels; scores [R]."""
        image_id = len(self.images) + 1
        h, w = gt_labels.shape
        self.images.append(
            {"id": image_id, "height": int(h), "width": int(w), "file_name": f"{image_id}.png"}
        )
        for inst in np.unique(gt_labels):
            if inst == 0:
                continue
            mask = gt_labels == inst
            box = xyxy_to_xywh(mask_to_box_xyxy(mask))
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": box,
                    "area": float(mask.sum()),
                    "iscrowd": 0,
                }
            )
        for box, score in zip(np.asarray(boxes, np.float64), np.asarray(scores, np.float64)):
            if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
                continue
            self.results.append(
                {
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": xyxy_to_xywh(box.tolist()),
                    "score": float(score),
                }
            )

    def compute(self) -> dict[str, float]:
        if not self.results or not self.annotations:
            return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
        gt = {
            "images": self.images,
            "annotations": self.annotations,
            "categories": [{"id": 1, "name": "object"}],
        }
        with contextlib.redirect_stdout(io.StringIO()):
            stats = _evaluate_bbox(gt, self.results)
        return {k: stats[k] for k in ("AP", "AP50", "AP75")}


def _evaluate_bbox(gt: dict, results: list[dict]) -> dict[str, float]:
    try:
        from COCO_evaluator.evaluate import evaluate_class_agnostic
    except ImportError:  # evaluator package absent: the same computation with pycocotools directly
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return {"AP": 100 * ev.stats[0], "AP50": 100 * ev.stats[1], "AP75": 100 * ev.stats[2]}
    return evaluate_class_agnostic(gt, results, tasks=("bbox",))["bbox"]
