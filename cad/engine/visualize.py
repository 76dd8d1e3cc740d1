"""Pictures: instance overlays (masks tinted, boxes outlined, scores written) for the demo and for checking
copy-paste training samples."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from utils.io import atomic_write_bytes


def _colors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 256, size=(n, 3)).astype(np.float32)


def draw_instances(image: np.ndarray, boxes: np.ndarray | None = None, masks: np.ndarray | None = None,
                   scores: np.ndarray | None = None, alpha: float = 0.45) -> np.ndarray:
    """uint8 RGB [H, W, 3] + xyxy boxes [N, 4], bool masks [N, H, W], scores [N] -> uint8 RGB overlay."""
    n = len(boxes) if boxes is not None else (len(masks) if masks is not None else 0)
    colors = _colors(max(n, 1))
    out = image.astype(np.float32)
    if masks is not None:
        for i in range(len(masks)):
            m = masks[i].astype(bool)
            out[m] = out[m] * (1 - alpha) + colors[i] * alpha
    pil = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    if boxes is not None:
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.float64)):
            c = tuple(int(v) for v in colors[i])
            draw.rectangle([x1, y1, max(x2 - 1, x1), max(y2 - 1, y1)], outline=c, width=2)
            if scores is not None:
                draw.text((x1 + 2, y1 + 1), f"{float(scores[i]):.2f}", fill=c)
    return np.asarray(pil)


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Atomically write uint8 RGB [H, W, 3] as JPEG or PNG (by extension)."""
    import io

    buf = io.BytesIO()
    fmt = "PNG" if str(path).lower().endswith(".png") else "JPEG"
    Image.fromarray(image).save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    atomic_write_bytes(path, buf.getvalue())


def save_training_samples(batch: list[dict], out_dir: str | os.PathLike, image_format: str = "RGB") -> None:
    """Write ``sample_<i>.jpg`` overlays of mapped training inputs (image uint8 [3, H, W], instances)."""
    out_dir = Path(out_dir)
    for i, d in enumerate(batch):
        img = d["image"].detach().cpu().permute(1, 2, 0).numpy()
        if image_format == "BGR":
            img = img[..., ::-1]
        inst = d["instances"]
        boxes = inst.gt_boxes.tensor.detach().cpu().numpy()
        masks = inst.gt_masks.detach().cpu().numpy()
        save_image(out_dir / f"sample_{i}.jpg", draw_instances(np.ascontiguousarray(img), boxes, masks))
