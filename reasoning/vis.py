"""Pictures of what reasoning and scoring did: box/mask overlays (PNG) and boundary rounds (animated GIF)."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageDraw

from utils.io import atomic_write_bytes, save_png

PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
                    [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0]],
                   dtype=np.uint8)


def overlay(image: np.ndarray, boxes, masks: np.ndarray | None = None, alpha: float = 0.45) -> np.ndarray:
    """uint8 [H, W, 3] image with coloured masks (optional) and box outlines -> uint8 [H, W, 3]."""
    out = image.astype(np.float32).copy()
    if masks is not None:
        for k, m in enumerate(masks):
            out[m] = (1 - alpha) * out[m] + alpha * PALETTE[k % len(PALETTE)]
    pil = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for k, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4).tolist()):
        colour = tuple(int(c) for c in PALETTE[k % len(PALETTE)])
        draw.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=colour, width=2)
    return np.asarray(pil)


def save_overlay(path: str | os.PathLike, image: np.ndarray, boxes, masks: np.ndarray | None = None) -> None:
    save_png(path, overlay(image, boxes, masks))


def save_rounds_gif(path: str | os.PathLike, image: np.ndarray, trace: list, final_boxes,
                    max_side: int = 512, duration_ms: int = 120) -> None:
    """Animated GIF: one frame per boundary round (moving boxes yellow, converged green), then the result."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    base = Image.fromarray(image).resize(size, Image.BILINEAR)
    frames = []

    def frame(groups):
        im = base.copy()
        draw = ImageDraw.Draw(im)
        for boxes, colour in groups:
            for x1, y1, x2, y2 in (np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale).tolist():
                draw.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=colour, width=1)
        return im

    for live, converged in trace:
        frames.append(frame([(live, (255, 220, 0)), (converged, (0, 200, 0))]))
    frames.append(frame([(final_boxes, (255, 0, 0))]))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
    atomic_write_bytes(path, buf.getvalue())
