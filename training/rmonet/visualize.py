"""Figures like the paper's: input, reconstruction, segmentation with boxes, and per-slot masks."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.figures import save_figure  # noqa: E402


def _palette(k: int, background: int) -> np.ndarray:
    """Colours of the K slots: tab10 for the foreground slots in order, dark grey for the background."""
    cmap = plt.get_cmap("tab10")
    fg = iter(cmap(i % 10)[:3] for i in range(k - 1))
    return np.array([(0.15, 0.15, 0.15) if s == background else next(fg) for s in range(k)])


def save_decomposition_figure(
    path: str | Path,
    images: np.ndarray,
    recons: np.ndarray,
    masks: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    background: int = -1,
    min_score: float = 0.0,
) -> None:
    """One row per image: input | reconstruction | argmax segmentation with boxes | m_1 ... m_K.

    images/recons [N,H,W,3] in [0,1], masks [N,K,H,W], boxes [N,K-1,4] xyxy (box j belongs to the j-th
    foreground slot), scores [N,K-1]; `background`: index of the background slot; boxes scoring below
    `min_score` (or 0) are not drawn.
    """
    n, k = masks.shape[:2]
    background %= k
    colors = _palette(k, background)
    fg_colors = colors[[s for s in range(k) if s != background]]
    cols = 3 + k
    fig, axes = plt.subplots(n, cols, figsize=(1.6 * cols, 1.6 * n), squeeze=False)
    titles = ["input", "reconstruction", "segmentation"] + [
        "m_bg" if s == background else f"m{s + 1}" for s in range(k)
    ]
    for i in range(n):
        seg = colors[masks[i].argmax(0)]
        panels = [images[i], np.clip(recons[i], 0, 1), seg] + [masks[i, j] for j in range(k)]
        for j, ax in enumerate(axes[i]):
            ax.imshow(panels[j], cmap="gray" if j >= 3 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=8)
        for s, (box, score) in enumerate(zip(boxes[i], scores[i])):
            if score <= 0 or score < min_score:
                continue
            x1, y1, x2, y2 = box
            for ax in (axes[i][0], axes[i][2]):
                ax.add_patch(
                    plt.Rectangle(
                        (x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1.0, edgecolor=fg_colors[s]
                    )
                )
            axes[i][2].text(x1, y1, f"{score:.2f}", color="white", fontsize=5, va="bottom")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def plot_training_curves(runs: dict[str, list[dict]], path: str | Path) -> None:
    """Training loss (left, symmetric-log scale) and test foreground ARI (right) against the iteration, one
    line per run. `runs`: name -> records of its `train_log.jsonl` (after a resume, the last record of an
    iteration wins)."""
    fig, (ax_loss, ax_ari) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, records in runs.items():
        train = sorted({r["iter"]: r for r in records if "loss" in r}.values(), key=lambda r: r["iter"])
        evals = sorted({r["iter"]: r for r in records if "eval" in r}.values(), key=lambda r: r["iter"])
        ax_loss.plot([r["iter"] for r in train], [r["loss"] for r in train], lw=1, label=name)
        ax_ari.plot(
            [r["iter"] for r in evals], [r["eval"]["fg_ari"] for r in evals], marker="o", ms=3, label=name
        )
    ax_ari.axhline(0.0, color="gray", ls="--", lw=1, label="one mask for all objects")
    ax_loss.set_yscale("symlog", linthresh=100.0)
    ax_loss.set(xlabel="iteration", ylabel="loss (eq. 3)", title="training loss")
    ax_ari.set(xlabel="iteration", ylabel="foreground ARI", title="test foreground ARI")
    for ax in (ax_loss, ax_ari):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
