"""Drawing one image: textures, shapes, backgrounds, and a single textured object on a background.

Every image gets its own generator (`rng_for`) seeded from (seed, kind, index), so each file depends only on
the seed and its index.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage

from utils.masks import mask_to_box_xyxy

SHAPES = ("ellipse", "rectangle", "polygon", "star", "blob")
OBJECT_TEXTURES = ("solid", "stripes", "checker", "noise", "gradient")
BACKGROUND_TEXTURES = ("noise", "stripes", "checker", "gradient", "blobs")
TAG_SINGLE, TAG_SCENE = 1, 2
_MIN_COLOR_CONTRAST = 0.18  # RGB distance (in [0, 1] units) between object and surrounding mean colours


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]))


def height_width(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(s) for s in size)
    if h < 16 or w < 16:
        raise ValueError(f"image size must be at least 16x16, got {h}x{w}")
    return h, w


def jittered_height_width(rng: np.random.Generator, size: int | Sequence[int],
                          jitter: float) -> tuple[int, int]:
    """Each side drawn uniformly from [round(side * (1 - jitter)), side]."""
    h, w = height_width(size)
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"size_jitter must be in [0, 1), got {jitter}")
    if jitter > 0:
        h = int(rng.integers(max(16, round(h * (1 - jitter))), h + 1))
        w = int(rng.integers(max(16, round(w * (1 - jitter))), w + 1))
    return h, w


def _random_color(rng: np.random.Generator) -> np.ndarray:
    h, s, v = rng.random(), rng.uniform(0.15, 1.0), rng.uniform(0.2, 1.0)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32)


def _mix(c1: np.ndarray, c2: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend two colours with weights t [h, w] in [0, 1] -> [h, w, 3]."""
    return c1[None, None, :] * (1.0 - t[..., None]) + c2[None, None, :] * t[..., None]


def _rotated_coords(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    return xx * np.cos(a) + yy * np.sin(a), -xx * np.sin(a) + yy * np.cos(a)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in [0, 1] with features of about `cell` pixels, [h, w] float32."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
    grid = rng.random((gh, gw), dtype=np.float32)
    up = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(up.min()), float(up.max())
    return (up - lo) / (hi - lo) if hi > lo else np.zeros_like(up)


def _texture(rng: np.random.Generator, h: int, w: int, kind: str, colors: list[np.ndarray]) -> np.ndarray:
    """RGB float32 texture [h, w, 3] in [0, 1] of the given kind from two or more colours."""
    c1, c2 = colors[0], colors[1]
    if kind == "solid":
        out = np.broadcast_to(c1, (h, w, 3)).copy()
    elif kind == "stripes":
        u, _ = _rotated_coords(rng, h, w)
        period = rng.uniform(5, 28)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi))
        if rng.random() < 0.5:
            t = (t > 0.5).astype(np.float32)
        out = _mix(c1, c2, t)
    elif kind == "checker":
        u, v = _rotated_coords(rng, h, w)
        cell = rng.uniform(5, 24)
        t = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
        out = _mix(c1, c2, t)
    elif kind == "noise":
        t = _smooth_noise(rng, h, w, rng.uniform(4, 40))
        if rng.random() < 0.5:
            t = 0.6 * t + 0.4 * _smooth_noise(rng, h, w, rng.uniform(2, 6))
        out = _mix(c1, c2, t)
    elif kind == "gradient":
        u, _ = _rotated_coords(rng, h, w)
        t = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
        out = _mix(c1, c2, t)
    elif kind == "blobs":
        out = np.broadcast_to(c1, (h, w, 3)).copy()
        canvas = (out * 255).astype(np.uint8)
        for _ in range(int(rng.integers(4, 12))):  # soft blotches, less crisp than objects
            c = 0.5 * (c1 + _random_color(rng)) if rng.random() < 0.7 else c2
            center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(4, max(5, w // 3))), int(rng.integers(4, max(5, h // 3))))
            cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360,
                        tuple(int(x) for x in (c * 255)), -1)
        sigma = float(rng.uniform(0.015, 0.04) * min(h, w))
        out = cv2.GaussianBlur(canvas, (0, 0), sigma).astype(np.float32) / 255.0
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return out.astype(np.float32)


def shape_polygon(rng: np.random.Generator, kind: str, radius: float) -> np.ndarray:
    """Vertices [N, 2] (x, y) of a shape centred at 0, rotated at random, max vertex norm = radius."""
    if kind == "ellipse":
        t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        pts = np.stack([np.cos(t), rng.uniform(0.35, 1.0) * np.sin(t)], 1)
    elif kind == "rectangle":
        b = rng.uniform(0.3, 1.0)
        pts = np.array([[-1, -b], [1, -b], [1, b], [-1, b]], dtype=np.float64)
    elif kind in ("polygon", "star"):
        n = int(rng.integers(3, 9)) if kind == "polygon" else int(rng.integers(4, 9))
        if kind == "polygon":
            t = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(-0.15, 0.15, n)
            r = 1.0 - rng.uniform(0, 0.15, n)
        else:
            t = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
            r = np.where(np.arange(2 * n) % 2 == 0, 1.0, rng.uniform(0.4, 0.7))
        pts = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    elif kind == "blob":
        t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        r = np.ones_like(t)
        for k in range(2, 6):
            r = r + rng.uniform(0, 0.3 / (k - 1)) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
        r = np.clip(r, 0.35, None)
        pts = np.stack([r * np.cos(t), rng.uniform(0.55, 1.0) * r * np.sin(t)], 1)
    else:
        raise ValueError(f"unknown shape {kind!r}")
    a = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = pts @ rot.T
    return pts * (radius / np.linalg.norm(pts, axis=1).max())


def rasterize(poly: np.ndarray, h: int, w: int, offset_xy: tuple[float, float]) -> np.ndarray:
    """Fill polygon (vertices + offset, pixel-centre coordinates) into a bool mask [h, w]."""
    canvas = np.zeros((h, w), np.uint8)
    pts = np.round((poly + np.asarray(offset_xy)) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def _on_own_canvas(poly: np.ndarray) -> np.ndarray:
    """A polygon rasterised whole on its own square canvas, its centre (0, 0) at the canvas centre."""
    s = int(np.ceil(2 * np.linalg.norm(poly, axis=1).max())) + 3
    return rasterize(poly, s, s, ((s - 1) / 2, (s - 1) / 2))


def local_shape(rng: np.random.Generator, kind: str, radius: float) -> np.ndarray:
    return _on_own_canvas(shape_polygon(rng, kind, radius))


def paste(local: np.ndarray, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """Place a local mask with its top-left corner at (y0, x0) into an empty [h, w] mask (clipped)."""
    out = np.zeros((h, w), bool)
    lh, lw = local.shape
    ya, yb, xa, xb = max(y0, 0), min(y0 + lh, h), max(x0, 0), min(x0 + lw, w)
    if ya < yb and xa < xb:
        out[ya:yb, xa:xb] = local[ya - y0:yb - y0, xa - x0:xb - x0]
    return out


def finish_image(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Optional slight blur, sensor noise, quantise to uint8."""
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 0.9)))
    img = img + np.float32(rng.uniform(0.0, 0.03)) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def background_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = BACKGROUND_TEXTURES[int(rng.integers(len(BACKGROUND_TEXTURES)))]
    return _texture(rng, h, w, kind, [_random_color(rng), _random_color(rng)])


def paint_object(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray) -> None:
    """Paint a textured, optionally shaded object into `canvas` [H, W, 3] (in place) where `mask`.

    Colours are redrawn (a few times at most) until the object's mean colour differs from the mean of
    what it covers, so that every object is visible, though often not by colour alone.
    """
    box = mask_to_box_xyxy(mask)
    if box is None:
        return
    x1, y1, x2, y2 = (int(v) for v in box)
    m = mask[y1:y2, x1:x2]
    under = canvas[y1:y2, x1:x2][m].mean(axis=0)
    kind = OBJECT_TEXTURES[int(rng.integers(len(OBJECT_TEXTURES)))]
    for _ in range(6):
        colors = [_random_color(rng), _random_color(rng)]
        if rng.random() < 0.5:  # low-contrast texture: second colour close to the first
            colors[1] = np.clip(colors[0] + rng.uniform(-0.25, 0.25, 3), 0, 1).astype(np.float32)
        tex = _texture(rng, y2 - y1, x2 - x1, kind, colors)
        if np.linalg.norm(tex[m].mean(axis=0) - under) >= _MIN_COLOR_CONTRAST:
            break
    if rng.random() < 0.5:  # shading: darker towards the object's boundary or along a direction
        if rng.random() < 0.5:
            d = cv2.distanceTransform(np.pad(m, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
            shade = 0.7 + 0.3 * np.sqrt(d / max(float(d.max()), 1e-6))
        else:
            u, _ = _rotated_coords(rng, y2 - y1, x2 - x1)
            shade = 0.75 + 0.45 * (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
        tex = np.clip(tex * shade[..., None], 0, 1)
    region = canvas[y1:y2, x1:x2]
    region[m] = tex[m]


def choose(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _inside_coord(rng: np.random.Generator, extent: float, n: int) -> float:
    """A centre coordinate keeping a half-extent `extent` inside [0, n - 1], or near the middle."""
    if 2 * extent < n - 1:
        return float(rng.uniform(extent, n - 1 - extent))
    return (n - 1) / 2 + float(rng.normal(0, 0.05 * n))


def render_single_object(rng: np.random.Generator,
                         size: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """One textured object on a textured background.

    Args:
        rng: numpy Generator (all randomness comes from it).
        size: int (square) or (height, width).
    Returns:
        image uint8 [H, W, 3], mask bool [H, W]: one 4-connected object covering 1-90% of the image,
        sometimes cut by the image border, from small to large.
    """
    h, w = height_width(size)
    side = min(h, w)
    mask = None
    for _ in range(50):
        kind = choose(rng, SHAPES)
        radius = side * (rng.uniform(0.5, 0.8) if rng.random() < 0.15 else rng.uniform(0.12, 0.5))
        poly = shape_polygon(rng, kind, radius)
        if rng.random() < 0.25:  # anywhere: may be cut by the border
            cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        else:  # inside if it fits, else around the image centre
            ext = np.abs(poly).max(axis=0)
            cx, cy = _inside_coord(rng, ext[0], w), _inside_coord(rng, ext[1], h)
        cand = rasterize(poly, h, w, (cx, cy))
        area = int(cand.sum())
        full_area = int(_on_own_canvas(poly).sum())
        if not (max(0.01 * h * w, 64) <= area <= 0.9 * h * w) or area < 0.5 * full_area:
            continue
        if ndimage.label(cand)[1] != 1:
            continue
        mask = cand
        break
    if mask is None:  # practically unreachable; a centred ellipse always fits
        mask = rasterize(shape_polygon(rng, "ellipse", side * 0.3), h, w, ((w - 1) / 2, (h - 1) / 2))
    canvas = background_image(rng, h, w)
    paint_object(rng, canvas, mask)
    return finish_image(rng, canvas), mask
