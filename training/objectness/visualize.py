"""Pictures of stage-1 training: loss curves and predicted vs ground-truth fields."""

from __future__ import annotations

import os
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.figures import save_figure  # noqa: E402


def field_to_rgb(field: np.ndarray) -> np.ndarray:
    """Center field [2, H, W] (row, col) -> colour-wheel RGB float [H, W, 3]: hue = direction, value = length.

    Length is clipped to 1, so zero vectors are black and unit vectors fully bright.
    """
    import matplotlib.colors as mcolors

    angle = np.arctan2(field[0], field[1])  # direction in image coordinates
    hue = (angle + np.pi) / (2 * np.pi)
    value = np.clip(np.sqrt(field[0] ** 2 + field[1] ** 2), 0.0, 1.0)
    hsv = np.stack([hue, np.ones_like(hue), value], axis=-1)
    return mcolors.hsv_to_rgb(hsv)


def plot_loss_curve(records: Iterable[dict], path: str | os.PathLike, title: str = "") -> bool:
    """Plot every numeric loss term of JSON-lines records (keyed by `iter`) against the iteration.

    Returns False (and writes nothing) when there is nothing to plot.
    """
    records = [r for r in records if "iter" in r]
    if not records:
        return False
    keys = [k for k in records[-1] if k.startswith("loss/")]
    fig, ax = plt.subplots(figsize=(7, 4))
    iters = [r["iter"] for r in records]
    for k in keys:
        ax.plot(iters, [r.get(k, np.nan) for r in records], label=k[len("loss/") :])
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if all(r.get(k, 1) > 0 for r in records for k in keys):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "training loss")
    fig.tight_layout()
    save_figure(fig, path)
    return True


def plot_center_boundary_fields(
    images: np.ndarray,
    gt_center: np.ndarray,
    pred_center: np.ndarray,
    gt_sdf: np.ndarray,
    pred_sdf: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
) -> None:
    """One row per sample: image, GT/pred center field (colour wheel), GT/pred boundary field.

    Shapes: images [N, 3, H, W] in [0, 1], centers [N, 2, H, W], sdf [N, 1, H, W].
    """
    n = len(images)
    cols = ["image", "GT center field", "pred center field", "GT sdf", "pred sdf"]
    fig, axes = plt.subplots(n, len(cols), figsize=(2.2 * len(cols), 2.2 * n + 0.4), squeeze=False)
    for i in range(n):
        panels = [
            np.clip(images[i].transpose(1, 2, 0), 0, 1),
            field_to_rgb(gt_center[i]),
            field_to_rgb(pred_center[i]),
            gt_sdf[i, 0],
            pred_sdf[i, 0],
        ]
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            if panel.ndim == 2:
                ax.imshow(panel, cmap="RdBu_r", vmin=-1, vmax=1)
            else:
                ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(cols[j], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_existence_predictions(
    images: np.ndarray, labels: np.ndarray, probs: np.ndarray, path: str | os.PathLike, title: str = ""
) -> None:
    """Grid of crops [N, 3, H, W] captioned with their label and predicted object probability."""
    n = len(images)
    cols = min(n, 8)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.9 * rows + 0.4), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(np.clip(images[k].transpose(1, 2, 0), 0, 1))
            ax.set_title(f"gt {int(labels[k])} p={probs[k]:.2f}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
