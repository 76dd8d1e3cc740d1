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

Modules: `rendering` (textures, shapes, one object on a background), `scenes` (object placement and
layouts), `votecut_candidates` (fake VoteCut masks), `writers` (the files on disk).
"""

from datasets.synthetic.rendering import BACKGROUND_TEXTURES, OBJECT_TEXTURES, SHAPES, render_single_object
from datasets.synthetic.scenes import (
    LAYOUTS,
    Scene,
    render_scene,
    render_scene_full,
    scene_annotations,
    scene_for_index,
)
from datasets.synthetic.writers import (
    JPEG_QUALITY,
    VOTECUT_JSON_NAME,
    make_scene_dataset,
    make_single_object_dataset,
)

__all__ = [
    "BACKGROUND_TEXTURES",
    "JPEG_QUALITY",
    "LAYOUTS",
    "OBJECT_TEXTURES",
    "SHAPES",
    "Scene",
    "VOTECUT_JSON_NAME",
    "make_scene_dataset",
    "make_single_object_dataset",
    "render_scene",
    "render_scene_full",
    "render_single_object",
    "scene_annotations",
    "scene_for_index",
]
