"""Evaluation of R-MONet / MONet models: foreground ARI, class-agnostic box AP, decomposition figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from datasets.multi_object import build_multi_object_datasets
from losses.rmonet import scene_loss
from models.rmonet.model import RMONet, SceneModel, build_model
from models.rmonet.pseudo_boxes import pseudo_boxes
from models.rmonet.roi_masking import cells_inside, expand_boxes
from training.checkpointing import load_training_checkpoint
from utils.device import autocast
from utils.io import atomic_write_json

from .config import EvalConfig, RMONetConfig
from .metrics import BoxAP, foreground_ari, match_boxes_to_objects, object_boxes
from .visualize import save_decomposition_figure

LossFn = Callable[[dict, torch.Tensor], torch.Tensor]  # (model output, images) -> weighted loss


@torch.no_grad()
def evaluate(
    model: SceneModel,
    dataset: Dataset,
    device: torch.device,
    cfg: EvalConfig,
    precision: str,
    *,
    max_images: int | None = None,
    figure_path: str | Path | None = None,
    loss_fn: LossFn | None = None,
) -> dict:
    """Foreground ARI (mean over images) and class-agnostic box AP/AP50/AP75 (percent) on `dataset`.

    `fg_ari` is the ARI of argmax_k m_k over the ground-truth foreground pixels, k over the foreground slots
    (`cfg.ari_slots="foreground"`) or all K slots ("all"); both readings are also reported
    (`fg_ari_foreground_slots`, `fg_ari_all_slots`). Box AP counts the boxes scoring at least
    `cfg.box_score_thresh` (and > 0: padding boxes score 0). Also the ARI of the one-mask-for-all-objects
    baseline, `background_mass_on_objects` (mean background mask m_bg over the ground-truth object pixels),
    `object_colour_error` (mean RGB distance |recon - x|_2 over the ground-truth object pixels: high while the
    component VAE paints every object one colour),
    with `loss_fn` the mean loss and, for R-MONet, the fraction of the foreground masks' mass
    outside their enlarged ROIs, `roi_recall50` (the fraction of the objects that one of the K-1 ROIs finds:
    box IoU >= 0.5, whatever its score) and the recall / precision at IoU 0.5 of the pseudo boxes that the
    evaluated masks give (`pseudo_box_recall50`, `pseudo_box_precision50`: the RPN's targets); optionally
    saves a figure of `cfg.num_figures` scenes.
    """
    ari_slots, box_score_thresh = cfg.ari_slots, cfg.box_score_thresh
    if ari_slots not in ("foreground", "all"):
        raise ValueError(f"eval.ari_slots must be 'foreground' or 'all', got {ari_slots!r}")
    was_training = model.training
    model.eval()
    n = len(dataset) if max_images is None else min(len(dataset), max_images)
    loader = DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=cfg.batch_size, shuffle=False)
    aris = {"foreground": [], "all": []}
    base_aris, losses, outside, bg_on_objects, colour_errors = [], [], [], [], []
    roi_counts, pseudo_counts = np.zeros(4, np.int64), np.zeros(4, np.int64)
    fg_slots = model.foreground_slots
    box_ap = BoxAP()
    fig_data = None
    for images, labels in loader:
        images = images.to(device)
        with autocast(device, precision):
            out = model(images)
            if loss_fn is not None:
                losses.append(float(loss_fn(out, images)))
        masks = out["masks"].float().cpu()
        gt = labels.numpy()
        aris["all"].append(foreground_ari(gt, masks.argmax(1).numpy()))
        fg_pred = torch.tensor(fg_slots)[masks[:, fg_slots].argmax(1)]  # slot indices of the argmax
        aris["foreground"].append(foreground_ari(gt, fg_pred.numpy()))
        base_aris.append(foreground_ari(gt, np.zeros_like(gt)))
        objects = torch.from_numpy(gt != 0)
        bg_on_objects.append(masks[:, model.background_index][objects])
        distance = (out["recon"].float() - images.float()).norm(dim=1).cpu()  # [B,H,W]
        colour_errors.append(distance[objects])
        boxes, scores = out["boxes"].float().cpu().numpy(), out["box_scores"].float().cpu().numpy()
        if isinstance(model, RMONet):
            rois = out["boxes"].float().cpu()
            outside.append(mass_outside_rois(masks[:, fg_slots], rois, model.roi_expand_ratio))
            objects = [object_boxes(g) for g in gt]
            roi_counts += match_boxes_to_objects(objects, boxes)
            targets = [pseudo_boxes(m, model.pseudo_cfg)[0] for m in masks[:, fg_slots].numpy()]
            pseudo_counts += match_boxes_to_objects(objects, targets)
        for g, b, s in zip(gt, boxes, scores):
            keep = (s > 0) & (s >= box_score_thresh)
            box_ap.add(g, b[keep], s[keep])
        if fig_data is None and figure_path is not None:
            m = min(cfg.num_figures, len(images))
            fig_data = (
                images[:m].cpu().permute(0, 2, 3, 1).numpy(),
                out["recon"][:m].float().cpu().permute(0, 2, 3, 1).numpy(),
                masks[:m].numpy(),
                boxes[:m],
                scores[:m],
                model.background_index,
                box_score_thresh,
            )
    model.train(was_training)
    ap = box_ap.compute()
    ari = {k: float(np.nanmean(np.concatenate(v))) for k, v in aris.items()}
    metrics = {
        "fg_ari": ari[ari_slots],
        "fg_ari_foreground_slots": ari["foreground"],
        "fg_ari_all_slots": ari["all"],
        "one_mask_fg_ari": float(np.nanmean(np.concatenate(base_aris))),
        "box_AP": ap["AP"],
        "box_AP50": ap["AP50"],
        "box_AP75": ap["AP75"],
    }
    if losses:
        metrics["loss"] = float(np.mean(losses))
    metrics["num_images"] = n
    metrics["background_mass_on_objects"] = mean_or_nan(bg_on_objects)
    metrics["object_colour_error"] = mean_or_nan(colour_errors)
    if outside:
        metrics["mask_mass_outside_roi"] = float(torch.cat(outside).mean())
        metrics["roi_recall50"] = roi_counts[0] / max(roi_counts[1], 1)
        metrics["pseudo_box_recall50"] = pseudo_counts[0] / max(pseudo_counts[1], 1)
        metrics["pseudo_box_precision50"] = pseudo_counts[2] / max(pseudo_counts[3], 1)
    if fig_data is not None:
        save_decomposition_figure(figure_path, *fig_data)
    return metrics


def mean_or_nan(values: list[torch.Tensor]) -> float:
    """Mean of the concatenated 1-D tensors; NaN when they hold no value (no object pixel in the split)."""
    joined = torch.cat(values)
    return float(joined.mean()) if joined.numel() else float("nan")


def mass_outside_rois(fg_masks: torch.Tensor, boxes: torch.Tensor, ratio: float) -> torch.Tensor:
    """fg_masks [B, R, H, W] of the R foreground slots, boxes [B, R, 4] -> [B*R] fraction of each slot's mask
    mass outside its box enlarged by `ratio` (NaN-free: an empty mask counts as 0)."""
    b, r, h, w = fg_masks.shape
    region = cells_inside(expand_boxes(boxes.reshape(-1, 4), ratio), h, w, 1.0).view(b, r, h, w)
    total = fg_masks.flatten(2).sum(-1)
    out = (fg_masks * ~region).flatten(2).sum(-1)
    return (out / total.clamp_min(1e-12)).flatten()


def evaluate_checkpoint(
    ckpt: str | Path, device: torch.device, cfg: RMONetConfig, out_dir: str | Path | None = None
) -> dict:
    """--eval_only: metrics of a checkpoint on the full test split of `cfg`; writes metrics.json and figures
    to out_dir (default: the checkpoint's folder/eval)."""
    state = load_training_checkpoint(ckpt, "train_rmonet.py")
    model = build_model(cfg.model, cfg.data.image_size).to(device)
    model.load_state_dict(state["model_state_dict"])
    _, test_set = build_multi_object_datasets(cfg.data)
    out = Path(out_dir) if out_dir else Path(ckpt).parent / "eval"
    metrics = evaluate(
        model,
        test_set,
        device,
        cfg.eval,
        cfg.train.precision,
        figure_path=out / "decomposition.png",
        loss_fn=lambda o, x: scene_loss(o, x, model.sigmas, cfg.loss)[0],
    )
    metrics.update(
        {
            "checkpoint": str(ckpt),
            "iter": int(state["iter"]),
            "variant": cfg.model.variant,
            "dataset": cfg.data.dataset,
        }
    )
    atomic_write_json(out / "metrics.json", metrics, indent=2)
    return metrics
