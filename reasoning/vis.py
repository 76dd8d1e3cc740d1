"""Pictures of what reasoning and scoring did: box/mask overlays (PNG) and boundary rounds (animated GIF)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw

from utils.io import atomic_write_bytes, load_image_rgb, save_png
from utils.masks import rle_to_mask, xywh_to_xyxy

PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
                    [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0]],
                   dtype=np.uint8)


def overlay(image: np.ndarray, boxes: ArrayLike, masks: np.ndarray | None = None,
            alpha: float = 0.45, labels: list[str] | None = None) -> np.ndarray:
    """uint8 [H, W, 3] image with coloured masks bool [K, H, W] (optional), box outlines (boxes [K, 4]
    x1 y1 x2 y2) and a text label at each box's top-left corner (optional) -> uint8 [H, W, 3]."""
    out = image.astype(np.float32).copy()
    if masks is not None:
        for k, m in enumerate(masks):
            out[m] = (1 - alpha) * out[m] + alpha * PALETTE[k % len(PALETTE)]
    pil = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for k, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4).tolist()):
        colour = tuple(int(c) for c in PALETTE[k % len(PALETTE)])
        draw.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=colour, width=2)
        if labels is not None:
            left, top, right, bottom = draw.textbbox((x1 + 2, y1 + 2), labels[k])
            draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=colour)
            draw.text((x1 + 2, y1 + 2), labels[k], fill=(0, 0, 0))
    return np.asarray(pil)


def save_overlay(path: str | os.PathLike, image: np.ndarray, boxes: ArrayLike,
                 masks: np.ndarray | None = None) -> None:
    save_png(path, overlay(image, boxes, masks))


def save_rounds_gif(path: str | os.PathLike, image: np.ndarray, trace: list, final_boxes: ArrayLike,
                    max_side: int = 512, duration_ms: int = 120) -> None:
    """Animated GIF: one frame per boundary round (moving boxes yellow, converged green), then the result."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    base = Image.fromarray(image).resize(size, Image.BILINEAR)
    frames = []

    def frame(groups: list[tuple[ArrayLike, tuple[int, int, int]]]) -> Image.Image:
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


def save_panels(path: str | os.PathLike, image: np.ndarray, panels: list[tuple], gap: int = 4,
                title_height: int = 14) -> None:
    """Side-by-side overlays of one image: panels [(title, boxes [K, 4] xyxy, masks [K, H, W] or None)],
    each optionally with a fourth item, its K box labels."""
    tiles = []
    for title, boxes, masks, *labels in panels:
        tile = Image.new("RGB", (image.shape[1], image.shape[0] + title_height), (255, 255, 255))
        tile.paste(Image.fromarray(overlay(image, boxes, masks, labels=labels[0] if labels else None)),
                   (0, title_height))
        ImageDraw.Draw(tile).text((2, 1), title, fill=(0, 0, 0))
        tiles.append(tile)
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    canvas = Image.new("RGB", (width, tiles[0].height), (255, 255, 255))
    x = 0
    for t in tiles:
        canvas.paste(t, (x, 0))
        x += t.width + gap
    save_png(path, np.asarray(canvas))


def _row_instances(results: list[dict], image_id: int | str, height: int, width: int,
                   rel_score: float) -> tuple[list[list[float]], np.ndarray | None]:
    """ArrayLike [K, 4] xyxy and masks [K, H, W] of one image's results scoring >= rel_score x its best."""
    mine = sorted((r for r in results if r["image_id"] == image_id), key=lambda r: -r.get("score", 1.0))
    if mine:
        best = mine[0].get("score", 1.0)
        mine = [r for r in mine if r.get("score", 1.0) >= rel_score * best][:len(PALETTE)]
    boxes = [xywh_to_xyxy(r["bbox"]) for r in mine]
    masks = [rle_to_mask(r["segmentation"], height, width) for r in mine if "segmentation" in r]
    return boxes, (np.stack(masks) if masks and len(masks) == len(mine) else None)


def save_comparison_overlays(gt: dict, image_dir: str | os.PathLike, rows: list[tuple[str, list[dict]]],
                             out_dir: str | os.PathLike, num_images: int = 4,
                             rel_score: float = 0.5) -> list[Path]:
    """For the first `num_images` GT images (by file name): ground truth next to each row's results.

    `rows` are (title, COCO results list); a row draws an image's results scoring at least `rel_score`
    times that row's best score on the image. Returns the written PNG paths.
    """
    written = []
    images = sorted(gt["images"], key=lambda im: im["file_name"])[:num_images]
    for im in images:
        h, w = im["height"], im["width"]
        image = load_image_rgb(Path(image_dir) / im["file_name"])
        anns = [a for a in gt.get("annotations", []) if a["image_id"] == im["id"]]
        gt_boxes = [xywh_to_xyxy(a["bbox"]) for a in anns]
        gt_masks = np.stack([rle_to_mask(a["segmentation"], h, w) for a in anns]) if anns else None
        panels = [("ground truth", gt_boxes, gt_masks)]
        panels += [(title, *_row_instances(results, im["id"], h, w, rel_score)) for title, results in rows]
        path = Path(out_dir) / f"{Path(im['file_name']).stem}.png"
        save_panels(path, image, panels)
        written.append(path)
    return written
