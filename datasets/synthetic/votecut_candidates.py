"""Fake VoteCut output for a single-object image: the true mask and 1-2 scored distractor masks."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from datasets.synthetic.rendering import rasterize, shape_polygon


def votecut_candidates(rng: np.random.Generator, mask: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Scored candidate masks like VoteCut's: the true mask with the top weight plus 1-2 distractors.

    Distractors: a dilated, eroded or shifted copy of the object, a part of it, or a random blob pair
    (two components) somewhere in the image; each scores lower than the true mask. None of them covers
    the background wholesale, so the union of an image's masks leaves background for existence negatives.
    """
    h, w = mask.shape
    top = round(float(rng.uniform(0.55, 0.95)), 4)
    out = [(mask, top)]
    kinds = ["dilated", "eroded", "shifted", "part", "blobs"]
    picks = rng.permutation(len(kinds))[: int(rng.integers(1, 3))]
    for i in picks:
        kind = kinds[int(i)]
        k = int(rng.integers(2, 9))
        if kind == "dilated":
            d = ndimage.binary_dilation(mask, iterations=k)
        elif kind == "eroded":
            d = ndimage.binary_erosion(mask, iterations=k)
        elif kind == "shifted":
            dy, dx = (int(v) for v in rng.integers(-3 * k, 3 * k + 1, 2))
            d = np.zeros_like(mask)
            d[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
                mask[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
        elif kind == "part":  # the object cut by a random line through its centroid
            ys, xs = np.nonzero(mask)
            a = rng.uniform(0, 2 * np.pi)
            yy, xx = np.mgrid[0:h, 0:w]
            d = mask & ((xx - xs.mean()) * np.cos(a) + (yy - ys.mean()) * np.sin(a) > 0)
        else:
            d = np.zeros_like(mask)
            for _ in range(2):
                r = min(h, w) * rng.uniform(0.05, 0.15)
                d |= rasterize(shape_polygon(rng, "blob", r), h, w,
                                (rng.uniform(r, w - r), rng.uniform(r, h - r)))
        if d.any() and not np.array_equal(d, mask):
            weight = round(float(top - rng.uniform(0.05, min(0.5, top - 0.01))), 4)
            out.append((d, min(weight, round(top - 0.01, 4))))
    return out
