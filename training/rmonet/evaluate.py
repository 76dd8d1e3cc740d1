"""Evaluation of R-MONet / MONet models: foreground ARI, class-agnostic box AP, decomposition figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from datasets.multi_object import build_multi_object_datasets
from models.rmonet.model import SceneModel, build_model
from utils.device import autocast
from utils.io import atomic_write_json

from .checkpoint import load_checkpoint
from .metrics import BoxAP, foreground_ari
from .visualize import save_decomposition_figure


@torch.no_grad()
def evaluate(
    model: SceneModel,
    dataset: Dataset,
    device: torch.device,
    batch_size: int = 64,
    max_images: int | None = None,
    figure_path: str | Path | None = None,
    num_figures: int = 8,
    precision: str = "fp32",
) -> dict:
    """Foreground ARI (mean over images) and class-agnostic box AP/AP50/AP75 (percent) on `dataset`.

    Also the ARI of the one-mask-for-all-objects baseline and the mean loss; optionally saves a figure.
    """
    was_training = model.training
    model.eval()
    n = len(dataset) if max_images is None else min(len(dataset), max_images)
    loader = DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=batch_size, shuffle=False)
    aris, base_aris, losses = [], [], []
    box_ap = BoxAP()
    fig_data = None
    for images, labels in loader:
        with autocast(device, precision):
            out = model(images.to(device))
        masks = out["masks"].float().cpu()
        gt = labels.numpy()
        pred = masks.argmax(1).numpy()
        aris.append(foreground_ari(gt, pred))
        base_aris.append(foreground_ari(gt, np.zeros_like(pred)))
        losses.append(float(out["loss"]))
        boxes, scores = out["boxes"].float().cpu().numpy(), out["box_scores"].float().cpu().numpy()
        for g, b, s in zip(gt, boxes, scores):
            keep = s > 0
            box_ap.add(g, b[keep], s[keep])
        if fig_data is None and figure_path is not None:
            m = min(num_figures, len(images))
            fig_data = (
                images[:m].permute(0, 2, 3, 1).numpy(),
                out["recon"][:m].float().cpu().permute(0, 2, 3, 1).numpy(),
                masks[:m].numpy(),
                boxes[:m],
                scores[:m],
            )
    model.train(was_training)
    ap = box_ap.compute()
    metrics = {
        "fg_ari": float(np.nanmean(np.concatenate(aris))),
        "one_mask_fg_ari": float(np.nanmean(np.concatenate(base_aris))),
        "box_AP": ap["AP"],
        "box_AP50": ap["AP50"],
        "box_AP75": ap["AP75"],
        "loss": float(np.mean(losses)),
        "num_images": n,
    }
    if fig_data is not None:
        save_decomposition_figure(figure_path, *fig_data)
    return metrics


def evaluate_checkpoint(
    ckpt: str | Path,
    device: torch.device,
    overrides_cfg: dict | None = None,
    out_dir: str | Path | None = None,
) -> dict:
    """--eval: metrics of a checkpoint on the full test split; writes metrics.json and figures to out_dir."""
    state = load_checkpoint(ckpt)
    cfg = state["config"] if overrides_cfg is None else overrides_cfg
    model = build_model(cfg["model"], cfg["loss"], cfg["data"]["image_size"]).to(device)
    model.load_state_dict(state["model_state_dict"])
    _, test_set = build_multi_object_datasets(cfg["data"])
    out = Path(out_dir) if out_dir else Path(ckpt).parent / "eval"
    metrics = evaluate(
        model,
        test_set,
        device,
        cfg["eval"]["batch_size"],
        figure_path=out / "decomposition.png",
        num_figures=cfg["eval"]["num_figures"],
        precision=cfg["train"]["precision"],
    )
    metrics.update(
        {
            "checkpoint": str(ckpt),
            "iter": int(state["iter"]),
            "variant": cfg["model"]["variant"],
            "dataset": cfg["data"]["dataset"],
        }
    )
    atomic_write_json(out / "metrics.json", metrics, indent=2)
    return metrics
