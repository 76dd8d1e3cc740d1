"""Procedural Multi-dSprites (colored sprites on grayscale), following the R-MONet paper's description.

64x64 images (any size works), 2-5 sprites, each a square, ellipse or heart with a random saturated HSV
colour, continuous scale, position and rotation, painted in order over a grayscale background of uniformly
random brightness. Ground truth is an instance label map (0 = background, i = i-th sprite's visible pixels).
Every image is a pure function of (seed, split, index), so the dataset needs no storage.
"""

from __future__ import annotations

import colorsys

import numpy as np
import torch
from torch.utils.data import Dataset

SHAPES = ("square", "ellipse", "heart")
SPLIT_IDS = {"train": 0, "test": 1}


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Implicit shapes in the sprite frame (u right, v up), unit half-extent."""
    if shape == "square":
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if shape == "ellipse":
        return (u / 1.0) ** 2 + (v / 0.5) ** 2 <= 1.0
    # Heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, scaled to fit the unit box.
    x, y = u * 1.15, v * 1.15 + 0.15
    return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0


def render_multi_dsprites(
    rng: np.random.Generator, size: int = 64, min_objects: int = 2, max_objects: int = 5
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """-> (image uint8 [size, size, 3], labels uint8 [size, size] (0 background, i for sprite i's visible
    pixels; a fully occluded sprite has no pixels), list of sprite factors)."""
    grey = rng.uniform(0.0, 1.0)
    image = np.full((size, size, 3), grey, np.float64)
    labels = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    factors = []
    for i in range(int(rng.integers(min_objects, max_objects + 1))):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        color = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0)))
        scale = rng.uniform(0.5, 1.0)
        half = scale * 0.2 * size  # half-extent in pixels (about 6-13 px at 64x64)
        cx, cy = rng.uniform(0.15, 0.85, size=2) * size
        theta = rng.uniform(0.0, 2.0 * np.pi)
        dx, dy = (xx - cx) / half, (yy - cy) / half
        u = np.cos(theta) * dx + np.sin(theta) * dy
        v = -(-np.sin(theta) * dx + np.cos(theta) * dy)
        inside = _inside(shape, u, v)
        image[inside] = color
        labels[inside] = i + 1
        factors.append(
            {"shape": shape, "color": color.tolist(), "scale": scale, "x": cx, "y": cy, "orientation": theta}
        )
    return np.round(image * 255).astype(np.uint8), labels, factors


class ProceduralMultiDSprites(Dataset):
    """`num_images` procedural scenes of one split.

    item -> (image float [3,H,W] in [0,1], labels int64 [H,W]).
    """

    def __init__(self, num_images: int, split: str = "train", seed: int = 0, image_size: int = 64):
        if split not in SPLIT_IDS:
            raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}, got {split!r}")
        self.num_images, self.split, self.seed, self.image_size = num_images, split, seed, image_size

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= idx < self.num_images:
            raise IndexError(idx)
        rng = np.random.default_rng([self.seed, SPLIT_IDS[self.split], idx])
        image, labels, _ = render_multi_dsprites(rng, self.image_size)
        return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0, torch.from_numpy(
            labels.astype(np.int64)
        )
