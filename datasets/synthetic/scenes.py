"""Multi-object scenes: placing objects in a layout (separated, touching, occluding), their visible masks,
and their COCO annotations."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from datasets.synthetic.rendering import (
    SHAPES,
    TAG_SCENE,
    background_image,
    choose,
    finish_image,
    height_width,
    jittered_height_width,
    local_shape,
    paint_object,
    paste,
    rasterize,
    rng_for,
    shape_polygon,
)
from utils.masks import mask_to_box_xyxy, mask_to_rle, xyxy_to_xywh

LAYOUTS = ("separated", "touching", "occluding", "mixed")
_MIN_VISIBLE_PIXELS = 30  # an occluded object keeps at least this many pixels ...
_MIN_VISIBLE_FRACTION = 0.25  # ... and this fraction of its full (in-image) area
_SEPARATION_GAP = 3  # pixels between a "separated" object and any other


def _overlaps(local: np.ndarray, y0: int, x0: int, occupancy: np.ndarray) -> bool:
    h, w = occupancy.shape
    lh, lw = local.shape
    ya, yb, xa, xb = max(y0, 0), min(y0 + lh, h), max(x0, 0), min(x0 + lw, w)
    if ya >= yb or xa >= xb:
        return False
    return bool((local[ya - y0:yb - y0, xa - x0:xb - x0] & occupancy[ya:yb, xa:xb]).any())


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
        m = paste(local, y0, x0, h, w)
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
                m = paste(local, base_y + dy, base_x + dx, h, w)
                touches = (ndimage.binary_dilation(m) & occupancy).any()
                return (m, list(visible)) if touches and in_image_ok(m) else None
        return None

    if relation == "occluding":
        a = rng.uniform(0, 2 * np.pi)
        reach = rng.uniform(0.35, 0.95) * (np.sqrt(target.sum() / np.pi) + np.sqrt(own_area / np.pi))
        y0 = int(round(cy + reach * np.sin(a) - (lh - 1) / 2))
        x0 = int(round(cx + reach * np.cos(a) - (lw - 1) / 2))
        m = paste(local, y0, x0, h, w)
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
    h, w = height_width((height, width))
    side = min(h, w)
    visible: list[np.ndarray] = []
    full: list[np.ndarray] = []
    relations: list[str] = []
    occupancy = np.zeros((h, w), bool)
    for _ in range(num_objects):
        relation = choose(rng, LAYOUTS[:3]) if layout == "mixed" else layout
        if not visible:
            relation = "separated"
        kind = choose(rng, SHAPES)
        radius = side * (rng.uniform(0.22, 0.32) if rng.random() < 0.15 else rng.uniform(0.07, 0.22))
        for attempt in range(40):
            if attempt and attempt % 10 == 0:
                radius = max(0.8 * radius, 4.0)
            placed = _try_place(rng, relation, local_shape(rng, kind, radius), visible, full, occupancy)
            if placed is not None:
                m, visible = placed
                visible.append(m)
                full.append(m)
                relations.append(relation)
                occupancy = np.logical_or.reduce(visible)
                break
    if not visible:  # unreachable in practice: the first object is free to go anywhere
        m = rasterize(shape_polygon(rng, "ellipse", side * 0.2), h, w, ((w - 1) / 2, (h - 1) / 2))
        visible, full, relations = [m], [m.copy()], ["separated"]
    canvas = background_image(rng, h, w)
    for m in full:
        paint_object(rng, canvas, m)
    image = finish_image(rng, canvas)
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
    rng = rng_for(seed, TAG_SCENE, zlib.crc32(split.encode()), index)
    h, w = jittered_height_width(rng, image_size, size_jitter)
    scene_layout = choose(rng, LAYOUTS) if layout == "mixed" else layout
    n = int(rng.integers(min_objects, max_objects + 1))
    return render_scene_full(rng, h, w, n, scene_layout), scene_layout
