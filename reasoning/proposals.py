"""Initial box proposals on a regular grid."""

from __future__ import annotations

import numpy as np

GRID_SIZES = (32, 64, 128, 256, 512)


def generate_proposals(height: int, width: int, grid_sizes: tuple[int, ...] = GRID_SIZES) -> np.ndarray:
    """Grid proposals [N, 4] float64 `[x1, y1, x2, y2]`, clipped to the image, whole-image box last.

    For each grid size g, centers lie every g pixels from 0 on both axes (rows outer, columns inner); each
    center carries a square of half-side g, a tall box of half-extents (g/2, g) and a wide one (g, g/2).
    """
    out = []
    for g in grid_sizes:
        cy, cx = np.meshgrid(np.arange(0, height, g), np.arange(0, width, g), indexing="ij")
        centers = np.stack([cx.ravel(), cy.ravel(), cx.ravel(), cy.ravel()], axis=1).astype(np.float64)
        half = np.array([[-g, -g, g, g], [-g / 2, -g, g / 2, g], [-g, -g / 2, g, g / 2]], dtype=np.float64)
        out.append((centers[:, None, :] + half[None, :, :]).reshape(-1, 4))
    boxes = np.concatenate(out, axis=0)
    boxes[:, 0] = np.maximum(boxes[:, 0], 0)
    boxes[:, 1] = np.maximum(boxes[:, 1], 0)
    boxes[:, 2] = np.minimum(boxes[:, 2], width)
    boxes[:, 3] = np.minimum(boxes[:, 3], height)
    return np.concatenate([boxes, [[0.0, 0.0, float(width), float(height)]]], axis=0)
