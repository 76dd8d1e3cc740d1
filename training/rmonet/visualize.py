"""Figures like the paper's: input, reconstruction, segmentation with boxes, and per-slot masks."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from utils.io import atomic_write_bytes  # noqa: E402


def _palette(k: int) -> np.ndarray:
    cmap = plt.get_cmap("tab10")
    return np.array([cmap(i % 10)[:3] for i in range(k - 1)] + [(0.15, 0.15, 0.15)])


def save_decomposition_figure(
    path: str | Path,
    images: np.ndarray,
    recons: np.ndarray,
    masks: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    min_score: float = 0.0,
) -> None:
    """One row per image: input | reconstruction | argmax segmentation with boxes | m_1 ... m_K.

    images/recons [N,H,W,3] in [0,1], masks [N,K,H,W], boxes [N,K-1,4] xyxy, scores [N,K-1].
    """
    n, k = masks.shape[:2]
    colors = _palette(k)
    cols = 3 + k
    fig, axes = plt.subplots(n, cols, figsize=(1.6 * cols, 1.6 * n), squeeze=False)
    titles = ["input", "reconstruction", "segmentation"] + [f"m{i + 1}" for i in range(k - 1)] + ["m_bg"]
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
            if score <= min_score:
                continue
            x1, y1, x2, y2 = box
            for ax in (axes[i][0], axes[i][2]):
                ax.add_patch(
                    plt.Rectangle(
                        (x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1.0, edgecolor=colors[s]
                    )
                )
            axes[i][2].text(x1, y1, f"{score:.2f}", color="white", fontsize=5, va="bottom")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
