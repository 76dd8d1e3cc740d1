"""Inference over a dataset -> COCO results JSON (RLE masks) -> class-agnostic AP via ``COCO_evaluator``.

Outputs in ``output_dir``: ``inference/coco_instances_results.json`` (Detectron2's name) and
``ap_score.json`` (``{"dataset": name, "bbox": {...}, "segm": {...}}`` in percent). Under DDP each process
runs its share of the images and the main process gathers, writes and scores.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from cad.data.build import build_test_loader, to_device
from cad.data.catalog import get_dataset_dicts, gt_json_path
from utils.device import autocast
from utils.io import atomic_write_json
from utils.masks import mask_to_rle

logger = logging.getLogger(__name__)


def instances_to_coco_results(instances, image_id, with_masks: bool = True) -> list[dict]:
    """Predicted Instances (pred_boxes xyxy, scores, optional pred_masks [N, H, W]) -> COCO results
    (category 1, bbox xywh, RLE segmentation with ascii counts)."""
    n = len(instances)
    if n == 0:
        return []
    boxes = instances.pred_boxes
    boxes = (boxes.tensor if hasattr(boxes, "tensor") else boxes).detach().float().cpu().numpy()
    scores = instances.scores.detach().float().cpu().tolist()
    masks = None
    if with_masks and instances.has("pred_masks"):
        masks = instances.pred_masks.detach().cpu()
        masks = (masks > 0.5 if masks.is_floating_point() else masks.bool()).numpy()
    out = []
    for i in range(n):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        r = {"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": scores[i]}
        if masks is not None:
            r["segmentation"] = mask_to_rle(masks[i])
        out.append(r)
    return out


@torch.no_grad()
def inference_on_records(model, cfg, records: list[dict], device: torch.device, rank: int = 0,
                         world_size: int = 1, with_masks: bool = True, amp: bool = False) -> list[dict]:
    """COCO results of this process's share of ``records`` (model in eval mode, one image per batch)."""
    loader = build_test_loader(cfg, records, rank, world_size, pin_memory=device.type == "cuda")
    was_training = model.training
    model.eval()
    results: list[dict] = []
    t0 = time.perf_counter()
    try:
        for batch in tqdm(loader, desc="inference", disable=rank != 0, dynamic_ncols=True):
            if not batch:
                continue
            with autocast(device, "fp16" if amp else "fp32"):
                outputs = model(to_device(batch, device))
            for inp, out in zip(batch, outputs):
                results.extend(instances_to_coco_results(out["instances"], inp["image_id"], with_masks))
    finally:
        model.train(was_training)
    n = len(loader.dataset)
    if n:
        logger.info(f"inference: {n} images in {time.perf_counter() - t0:.1f}s on process {rank}")
    return results


def _gather(results: list[dict], world_size: int) -> list[dict]:
    if world_size <= 1 or not dist.is_initialized():
        return results
    parts: list = [None] * world_size
    dist.all_gather_object(parts, results)
    return [r for p in parts for r in p]


def evaluate_dataset(model, cfg, dataset_name: str, output_dir: str | os.PathLike, device: torch.device,
                     rank: int = 0, world_size: int = 1) -> dict | None:
    """Run inference on a registered dataset, write results and AP (main process); returns the metrics
    on the main process, None elsewhere."""
    records = get_dataset_dicts(dataset_name)
    with_masks = bool(cfg.MODEL.MASK_ON) and not bool(cfg.TEST.NO_SEGM)
    # fp32 inference like Detectron2's evaluation (SOLVER.AMP only concerns training)
    results = inference_on_records(model, cfg, records, device, rank, world_size, with_masks)
    results = _gather(results, world_size)
    if rank != 0:
        return None
    out_dir = Path(output_dir)
    res_path = out_dir / "inference" / "coco_instances_results.json"
    atomic_write_json(res_path, results)
    logger.info(f"wrote {len(results)} detections to {res_path}")
    from COCO_evaluator.evaluate import evaluate_class_agnostic, format_table

    gt = str(gt_json_path(dataset_name))
    tasks = ("bbox", "segm") if with_masks else ("bbox",)
    if not results:
        logger.warning(f"{dataset_name}: the model produced no detections; AP is 0")
        scores = {t: {"AP": 0.0, "AP50": 0.0, "AP75": 0.0} for t in tasks}
    else:
        scores = evaluate_class_agnostic(gt, results, tasks=tasks)
    logger.info(f"class-agnostic results on {dataset_name}:\n{format_table(scores)}")
    atomic_write_json(out_dir / "ap_score.json", {"dataset": dataset_name, **scores}, indent=2)
    return scores

