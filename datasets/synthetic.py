"""Procedural data, deterministic from a seed: single-object images and multi-object scenes.

Objects are filled polygons (ellipses, rotated rectangles, regular polygons, stars, smooth random blobs)
painted with a texture (solid, stripes, checker, smooth noise, gradient) and optional shading, on a textured
background (smooth noise, stripes, checker, gradient, random blobs). Object and background colours come
from the same distribution, so colour alone does not tell an object from the background.

Writers:
- `make_single_object_dataset`: ImageNet/VoteCut layout for stage 1 (`train/<wnid>/<name>.JPEG`,
  `masks_top1_single_component/<wnid>/<name>.png`, `annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json`).
- `make_scene_dataset`: `scenes/<split>/<file_name>` plus class-agnostic COCO ground truth
  `scenes/annotations/<split>_cls_agnostic.json`.
Every image gets its own generator seeded from (seed, kind, split, index), so each file depends only on
the seed and its index, and the same seed gives byte-identical files.
"""

from __future__ import annotations

import colorsys
import io
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

from datasets.votecut import MASK_DIRNAME, largest_component, mask_relpath
from utils.io import DataError, atomic_write_bytes, atomic_write_json, save_png
from utils.masks import mask_to_box_xyxy, mask_to_rle, xyxy_to_xywh

LAYOUTS = ("separated", "touching", "occluding", "mixed")
SHAPES = ("ellipse", "rectangle", "polygon", "star", "blob")
OBJECT_TEXTURES = ("solid", "stripes", "checker", "noise", "gradient")
BACKGROUND_TEXTURES = ("noise", "stripes", "checker", "gradient", "blobs")
VOTECUT_JSON_NAME = "imagenet_train_votecut_kmax_3_tuam_0.2.json"
JPEG_QUALITY = 92

_TAG_SINGLE, _TAG_SCENE = 1, 2
_MIN_VISIBLE_PIXELS = 30  # an occluded object keeps at least this many pixels ...
_MIN_VISIBLE_FRACTION = 0.25  # ... and this fraction of its full (in-image) area
_SEPARATION_GAP = 3  # pixels between a "separated" object and any other
_MIN_COLOR_CONTRAST = 0.18  # RGB distance (in [0, 1] units) between object and surrounding mean colours


# ----------------------------------------------------------------------------------------------- helpers
def _rng_for(seed: int, *keys: int) -> np.random.Generator:
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]))


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(s) for s in size)
    if h < 16 or w < 16:
        raise ValueError(f"image size must be at least 16x16, got {h}x{w}")
    return h, w


def _jittered_hw(rng: np.random.Generator, size: int | Sequence[int], jitter: float) -> tuple[int, int]:
    """Each side drawn uniformly from [round(side * (1 - jitter)), side]."""
    h, w = _hw(size)
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


def _shape_polygon(rng: np.random.Generator, kind: str, radius: float) -> np.ndarray:
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


def _rasterize(poly: np.ndarray, h: int, w: int, offset_xy: tuple[float, float]) -> np.ndarray:
    """Fill polygon (vertices + offset, pixel-centre coordinates) into a bool mask [h, w]."""
    canvas = np.zeros((h, w), np.uint8)
    pts = np.round((poly + np.asarray(offset_xy)) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def _on_own_canvas(poly: np.ndarray) -> np.ndarray:
    """A polygon rasterised whole on its own square canvas, its centre (0, 0) at the canvas centre."""
    s = int(np.ceil(2 * np.linalg.norm(poly, axis=1).max())) + 3
    return _rasterize(poly, s, s, ((s - 1) / 2, (s - 1) / 2))


def _local_shape(rng: np.random.Generator, kind: str, radius: float) -> np.ndarray:
    return _on_own_canvas(_shape_polygon(rng, kind, radius))


def _paste(local: np.ndarray, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """Place a local mask with its top-left corner at (y0, x0) into an empty [h, w] mask (clipped)."""
    out = np.zeros((h, w), bool)
    lh, lw = local.shape
    ya, yb, xa, xb = max(y0, 0), min(y0 + lh, h), max(x0, 0), min(x0 + lw, w)
    if ya < yb and xa < xb:
        out[ya:yb, xa:xb] = local[ya - y0:yb - y0, xa - x0:xb - x0]
    return out


def _overlaps(local: np.ndarray, y0: int, x0: int, occupancy: np.ndarray) -> bool:
    h, w = occupancy.shape
    lh, lw = local.shape
    ya, yb, xa, xb = max(y0, 0), min(y0 + lh, h), max(x0, 0), min(x0 + lw, w)
    if ya >= yb or xa >= xb:
        return False
    return bool((local[ya - y0:yb - y0, xa - x0:xb - x0] & occupancy[ya:yb, xa:xb]).any())


def _finish_image(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Optional slight blur, sensor noise, quantise to uint8."""
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 0.9)))
    img = img + np.float32(rng.uniform(0.0, 0.03)) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = BACKGROUND_TEXTURES[int(rng.integers(len(BACKGROUND_TEXTURES)))]
    return _texture(rng, h, w, kind, [_random_color(rng), _random_color(rng)])


def _paint_object(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray) -> None:
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


def _choice(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


# ------------------------------------------------------------------------------------ single objects
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
    h, w = _hw(size)
    side = min(h, w)
    mask = None
    for _ in range(50):
        kind = _choice(rng, SHAPES)
        radius = side * (rng.uniform(0.5, 0.8) if rng.random() < 0.15 else rng.uniform(0.12, 0.5))
        poly = _shape_polygon(rng, kind, radius)
        if rng.random() < 0.25:  # anywhere: may be cut by the border
            cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        else:  # inside if it fits, else around the image centre
            ext = np.abs(poly).max(axis=0)
            cx, cy = _inside_coord(rng, ext[0], w), _inside_coord(rng, ext[1], h)
        cand = _rasterize(poly, h, w, (cx, cy))
        area = int(cand.sum())
        full_area = int(_on_own_canvas(poly).sum())
        if not (max(0.01 * h * w, 64) <= area <= 0.9 * h * w) or area < 0.5 * full_area:
            continue
        if ndimage.label(cand)[1] != 1:
            continue
        mask = cand
        break
    if mask is None:  # practically unreachable; a centred ellipse always fits
        mask = _rasterize(_shape_polygon(rng, "ellipse", side * 0.3), h, w, ((w - 1) / 2, (h - 1) / 2))
    canvas = _background(rng, h, w)
    _paint_object(rng, canvas, mask)
    return _finish_image(rng, canvas), mask


def _inside_coord(rng: np.random.Generator, extent: float, n: int) -> float:
    """A centre coordinate keeping a half-extent `extent` inside [0, n - 1], or near the middle."""
    if 2 * extent < n - 1:
        return float(rng.uniform(extent, n - 1 - extent))
    return (n - 1) / 2 + float(rng.normal(0, 0.05 * n))


def _votecut_candidates(rng: np.random.Generator, mask: np.ndarray) -> list[tuple[np.ndarray, float]]:
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
                d |= _rasterize(_shape_polygon(rng, "blob", r), h, w,
                                (rng.uniform(r, w - r), rng.uniform(r, h - r)))
        if d.any() and not np.array_equal(d, mask):
            weight = round(float(top - rng.uniform(0.05, min(0.5, top - 0.01))), 4)
            out.append((d, min(weight, round(top - 0.01, 4))))
    return out


def _jpeg_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _refuse_foreign_files(root: Path, manifest_name: str, planned: list[str], overwrite: bool) -> None:
    """Raise DataError when a file about to be written exists but was not written by the generator (it is not
    in `root/manifest_name`), unless `overwrite`: a user's file that happens to have a generated name."""
    if overwrite:
        return
    ours: set[str] = set()
    manifest = root / manifest_name
    if manifest.is_file():
        try:
            ours = set(json.loads(manifest.read_text())["files"])
        except (ValueError, KeyError, TypeError):
            ours = set()
    foreign = [rel for rel in planned if rel not in ours and (root / rel).exists()]
    if foreign:
        raise DataError(f"{len(foreign)} files to be generated already exist in {root} and were not written "
                        f"by the generator (e.g. {root / foreign[0]}); pass --overwrite to replace them")


def _write_manifest(root: Path, manifest_name: str, files: list[str], params: dict) -> None:
    """Record generated files (paths relative to `root`) in `root/manifest_name`.

    Files listed by a previous run with the same manifest but not generated now are removed, so a smaller
    regeneration leaves no stale images behind.
    """
    manifest = root / manifest_name
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError, TypeError):
            old = []
        keep = set(files)
        for rel in old:
            if rel not in keep and (root / rel).is_file():
                os.remove(root / rel)
                parent = (root / rel).parent
                if parent != root and not any(parent.iterdir()):
                    parent.rmdir()
    atomic_write_json(manifest, {"generator": "datasets.synthetic", "params": params, "files": sorted(files)},
                      indent=1)


def make_single_object_dataset(root: str | os.PathLike, num_classes: int, images_per_class: int,
                               image_size: int | Sequence[int], seed: int, *,
                               size_jitter: float = 0.0, overwrite: bool = False) -> dict:
    """Write a single-object dataset in the ImageNet/VoteCut layout under `root`.

    Files: `train/<wnid>/<wnid>_<k>.JPEG`, `masks_top1_single_component/<wnid>/<wnid>_<k>.png` (0/255,
    exactly what `tools/preprocess_votecut.py` derives from the JSON), and
    `annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json` (COCO-style, 2-3 scored masks per image,
    score in `weight`, RLE segmentation). Class folders are `n00000001`, `n00000002`, ...

    Args:
        image_size: int (square) or (height, width); with `size_jitter` > 0 each side of each image is
            drawn from [round(side * (1 - size_jitter)), side], giving non-square images.
    Returns:
        summary dict: number of images/annotations and the JSON path.
    """
    root = Path(root)
    if num_classes < 1 or images_per_class < 1:
        raise ValueError("num_classes and images_per_class must be >= 1")
    planned = [f"annotations/{VOTECUT_JSON_NAME}"]
    for c in range(num_classes):
        for k in range(images_per_class):
            name = f"n{c + 1:08d}/n{c + 1:08d}_{k:05d}.JPEG"
            planned += [f"train/{name}", f"{MASK_DIRNAME}/{mask_relpath(name)}"]
    _refuse_foreign_files(root, "synthetic_manifest.json", planned, overwrite)
    images, annotations, files = [], [], []
    for c in range(num_classes):
        wnid = f"n{c + 1:08d}"
        for k in range(images_per_class):
            rng = _rng_for(seed, _TAG_SINGLE, c, k)
            image, mask = render_single_object(rng, _jittered_hw(rng, image_size, size_jitter))
            image_id = len(images) + 1
            file_name = f"{wnid}/{wnid}_{k:05d}.JPEG"
            h, w = mask.shape
            images.append({"id": image_id, "file_name": file_name, "height": h, "width": w})
            candidates = _votecut_candidates(rng, mask)
            for j in rng.permutation(len(candidates)):
                m, weight = candidates[int(j)]
                annotations.append({
                    "id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                    "segmentation": mask_to_rle(m), "bbox": xyxy_to_xywh(mask_to_box_xyxy(m)),
                    "area": int(m.sum()), "iscrowd": 0, "weight": weight,
                })
            atomic_write_bytes(root / "train" / file_name, _jpeg_bytes(image))
            mask_rel = f"{MASK_DIRNAME}/{mask_relpath(file_name)}"
            save_png(root / mask_rel, largest_component(mask).astype(np.uint8) * 255)
            files += [f"train/{file_name}", mask_rel]
    json_rel = f"annotations/{VOTECUT_JSON_NAME}"
    atomic_write_json(root / json_rel, {
        "info": {"description": "Synthetic single-object images: VoteCut-style scored pseudo-masks",
                 "seed": int(seed)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "fg", "supercategory": "fg"}],
    })
    files.append(json_rel)
    params = {"kind": "single_object", "num_classes": num_classes, "images_per_class": images_per_class,
              "image_size": _hw(image_size), "size_jitter": size_jitter, "seed": int(seed)}
    _write_manifest(root, "synthetic_manifest.json", files, params)
    return {"images": len(images), "annotations": len(annotations), "json": str(root / json_rel)}


# ------------------------------------------------------------------------------------------- scenes
@dataclass
class Scene:
    """A rendered scene: image, visible (occlusion-resolved) masks, full in-image masks, per-object layout."""

    image: np.ndarray
    masks: list[np.ndarray] = field(default_factory=list)
    full_masks: list[np.ndarray] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)


def _four_steps(direction: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Integer (dy, dx) offsets of a 4-connected path from 0 along `direction` (unit, (y, x))."""
    path, pos, cur = [(0, 0)], np.zeros(2), np.zeros(2, dtype=int)
    while len(path) < n:
        pos = pos + direction
        target = np.round(pos).astype(int)
        while (cur != target).any() and len(path) < n:
            axis = int(np.argmax(np.abs(target - cur)))
            cur = cur.copy()
            cur[axis] += int(np.sign(target[axis] - cur[axis]))
            path.append((int(cur[0]), int(cur[1])))
    return path


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()])


def _try_place(rng: np.random.Generator, relation: str, local: np.ndarray, visible: list[np.ndarray],
               full: list[np.ndarray], occupancy: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """One placement attempt; returns (full mask of the new object, updated visible masks) or None."""
    h, w = occupancy.shape
    lh, lw = local.shape
    own_area = int(local.sum())

    def in_image_ok(m: np.ndarray) -> bool:
        return int(m.sum()) >= max(0.7 * own_area, _MIN_VISIBLE_PIXELS)

    if relation == "separated" or not visible:
        y0 = int(rng.integers(-lh // 4, h - 3 * lh // 4 + 1)) if h > lh // 2 else 0
        x0 = int(rng.integers(-lw // 4, w - 3 * lw // 4 + 1)) if w > lw // 2 else 0
        if visible:
            grown = ndimage.binary_dilation(occupancy, iterations=_SEPARATION_GAP)
            if _overlaps(local, y0, x0, grown):
                return None
        m = _paste(local, y0, x0, h, w)
        return (m, list(visible)) if in_image_ok(m) else None

    target = visible[int(rng.integers(len(visible)))]
    cy, cx = _centroid(target)
    if relation == "touching":
        a = rng.uniform(0, 2 * np.pi)
        path = _four_steps(np.array([np.sin(a), np.cos(a)]), 4 * max(h, w))
        base_y, base_x = int(round(cy - (lh - 1) / 2)), int(round(cx - (lw - 1) / 2))
        if not _overlaps(local, base_y, base_x, occupancy):
            return None  # no contact at the start (concave target): the walk would not end at a seam
        for dy, dx in path[1:]:
            if not _overlaps(local, base_y + dy, base_x + dx, occupancy):
                m = _paste(local, base_y + dy, base_x + dx, h, w)
                touches = (ndimage.binary_dilation(m) & occupancy).any()
                return (m, list(visible)) if touches and in_image_ok(m) else None
        return None

    if relation == "occluding":
        a = rng.uniform(0, 2 * np.pi)
        reach = rng.uniform(0.35, 0.95) * (np.sqrt(target.sum() / np.pi) + np.sqrt(own_area / np.pi))
        y0 = int(round(cy + reach * np.sin(a) - (lh - 1) / 2))
        x0 = int(round(cx + reach * np.cos(a) - (lw - 1) / 2))
        m = _paste(local, y0, x0, h, w)
        if not in_image_ok(m) or not (m & target).any():
            return None
        new_visible = [v & ~m for v in visible]
        for v, f in zip(new_visible, full):
            if v.sum() < max(_MIN_VISIBLE_FRACTION * f.sum(), _MIN_VISIBLE_PIXELS):
                return None
        return m, new_visible
    raise ValueError(f"unknown relation {relation!r}")


def render_scene_full(rng: np.random.Generator, height: int, width: int, num_objects: int,
                      layout: str = "mixed") -> Scene:
    """Like `render_scene`, also returning full (un-occluded, in-image) masks and each object's relation.

    Objects are placed one by one. `separated`: at least 3 px from every other object. `touching`: moved
    from the centre of an earlier object along a random direction in 4-connected unit steps until it no
    longer overlaps anything, so its mask shares a seam with an earlier mask. `occluding`: painted over
    part of an earlier object, which keeps >= 25% (and >= 30 px) of its full area. `mixed`: a random one
    of the three per object. An object that finds no valid place in 40 tries (shrinking as it goes) is
    left out, so a crowded scene may hold fewer than `num_objects` objects (never none).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if num_objects < 1:
        raise ValueError("num_objects must be >= 1")
    h, w = _hw((height, width))
    side = min(h, w)
    visible: list[np.ndarray] = []
    full: list[np.ndarray] = []
    relations: list[str] = []
    occupancy = np.zeros((h, w), bool)
    for _ in range(num_objects):
        relation = _choice(rng, LAYOUTS[:3]) if layout == "mixed" else layout
        if not visible:
            relation = "separated"
        kind = _choice(rng, SHAPES)
        radius = side * (rng.uniform(0.22, 0.32) if rng.random() < 0.15 else rng.uniform(0.07, 0.22))
        for attempt in range(40):
            if attempt and attempt % 10 == 0:
                radius = max(0.8 * radius, 4.0)
            placed = _try_place(rng, relation, _local_shape(rng, kind, radius), visible, full, occupancy)
            if placed is not None:
                m, visible = placed
                visible.append(m)
                full.append(m)
                relations.append(relation)
                occupancy = np.logical_or.reduce(visible)
                break
    if not visible:  # unreachable in practice: the first object is free to go anywhere
        m = _rasterize(_shape_polygon(rng, "ellipse", side * 0.2), h, w, ((w - 1) / 2, (h - 1) / 2))
        visible, full, relations = [m], [m.copy()], ["separated"]
    canvas = _background(rng, h, w)
    for m in full:
        _paint_object(rng, canvas, m)
    image = _finish_image(rng, canvas)
    keep = [i for i, (v, f) in enumerate(zip(visible, full))  # drop tiny remains of occluded objects
            if v.sum() == f.sum() or v.sum() >= max(0.01 * f.sum(), _MIN_VISIBLE_PIXELS)]
    return Scene(image, [visible[i] for i in keep], [full[i] for i in keep], [relations[i] for i in keep])


def render_scene(rng: np.random.Generator, height: int, width: int, num_objects: int,
                 layout: str = "mixed") -> tuple[np.ndarray, list[np.ndarray]]:
    """A scene of textured objects on a textured background.

    Args:
        layout: "separated", "touching", "occluding" or "mixed" (see `render_scene_full`).
    Returns:
        image uint8 [H, W, 3]; masks: list of bool [H, W], visible (occlusion-resolved), non-empty and
        disjoint, in painting order (later objects are in front).
    """
    scene = render_scene_full(rng, height, width, num_objects, layout)
    return scene.image, scene.masks


def scene_annotations(masks: list[np.ndarray], image_id: int, first_ann_id: int) -> list[dict]:
    """Class-agnostic COCO annotations of visible masks: tight xywh box, pixel area, RLE, category 1."""
    anns = []
    for i, m in enumerate(masks):
        anns.append({
            "id": first_ann_id + i, "image_id": image_id, "category_id": 1,
            "bbox": xyxy_to_xywh(mask_to_box_xyxy(m)), "area": int(m.sum()),
            "segmentation": mask_to_rle(m), "iscrowd": 0,
        })
    return anns


def scene_for_index(seed: int, split: str, index: int, image_size: int | Sequence[int],
                    layout: str = "mixed", *, min_objects: int = 2, max_objects: int = 6,
                    size_jitter: float = 0.0) -> tuple[Scene, str]:
    """The scene `make_scene_dataset` writes as image `index` of `split` (before JPEG), and its layout."""
    rng = _rng_for(seed, _TAG_SCENE, zlib.crc32(split.encode()), index)
    h, w = _jittered_hw(rng, image_size, size_jitter)
    scene_layout = _choice(rng, LAYOUTS) if layout == "mixed" else layout
    n = int(rng.integers(min_objects, max_objects + 1))
    return render_scene_full(rng, h, w, n, scene_layout), scene_layout


def make_scene_dataset(root: str | os.PathLike, split: str, num_images: int, image_size: int | Sequence[int],
                       seed: int, layout: str = "mixed", *, min_objects: int = 2, max_objects: int = 6,
                       size_jitter: float = 0.0, overwrite: bool = False) -> dict:
    """Write `root/<split>/<split>_<id>.jpg` and `root/annotations/<split>_cls_agnostic.json`.

    The COCO JSON has `images` (id, file_name, height, width, plus the scene's `layout`), `annotations`
    (id, image_id, category_id 1, bbox xywh, area, RLE `segmentation` of the visible mask, iscrowd 0)
    and `categories` `[{"id": 1, "name": "fg"}]`. With layout "mixed" each scene draws its layout from
    all four (so some scenes mix relations within themselves). Each scene holds
    `min_objects..max_objects` objects (fewer only when no place is found). Image ids start at 1.

    Args:
        image_size: int (square) or (height, width); `size_jitter` as in `make_single_object_dataset`.
    Returns:
        summary dict: number of images/annotations and the JSON path.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if not 1 <= min_objects <= max_objects:
        raise ValueError("need 1 <= min_objects <= max_objects")
    if not split or "/" in split or "\\" in split:
        raise ValueError(f"bad split name {split!r}")
    root = Path(root)
    planned = [f"{split}/{split}_{i + 1:06d}.jpg" for i in range(num_images)]
    _refuse_foreign_files(root, f"synthetic_manifest_{split}.json",
                          planned + [f"annotations/{split}_cls_agnostic.json"], overwrite)
    images, annotations, files = [], [], []
    for i in range(num_images):
        scene, scene_layout = scene_for_index(seed, split, i, image_size, layout, min_objects=min_objects,
                                              max_objects=max_objects, size_jitter=size_jitter)
        h, w = scene.image.shape[:2]
        image_id = i + 1
        file_name = f"{split}_{image_id:06d}.jpg"
        images.append({"id": image_id, "file_name": file_name, "height": h, "width": w,
                       "layout": scene_layout})
        annotations += scene_annotations(scene.masks, image_id, len(annotations) + 1)
        atomic_write_bytes(root / split / file_name, _jpeg_bytes(scene.image))
        files.append(f"{split}/{file_name}")
    json_rel = f"annotations/{split}_cls_agnostic.json"
    atomic_write_json(root / json_rel, {
        "info": {"description": f"Synthetic multi-object scenes ({split}), class-agnostic",
                 "seed": int(seed)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "fg"}],
    })
    files.append(json_rel)
    params = {"kind": "scenes", "split": split, "num_images": num_images, "image_size": _hw(image_size),
              "size_jitter": size_jitter, "seed": int(seed), "layout": layout,
              "min_objects": min_objects, "max_objects": max_objects}
    _write_manifest(root, f"synthetic_manifest_{split}.json", files, params)
    return {"images": len(images), "annotations": len(annotations), "json": str(root / json_rel)}
