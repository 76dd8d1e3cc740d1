"""Helpers shared by several test modules (fixtures live in conftest.py)."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.rmonet.config import load_config
from utils.masks import mask_to_rle


def set_at(path: Sequence[Any], value: Any) -> Callable[[Any], None]:
    """A function that sets `d[path[0]][path[1]]...[path[-1]] = value` in the JSON-like object it is given."""
    def mutate(d: Any) -> None:
        node = d
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


TINY_MODEL = [
    "model.num_slots=3",
    "model.fpn_channels=16",
    "model.head_channels=8",
    "model.vae_channels=[8,8,32]",
]


def tiny_cfg(tmp_path: Path, *extra: str):
    """A tiny R-MONet config (3 slots, 32 px, 8 training scenes) writing to `tmp_path/run`."""
    return load_config(
        None,
        TINY_MODEL
        + [
            "data.image_size=32",
            "data.num_train=8",
            "data.num_test=4",
            "data.num_workers=0",
            "train.batch_size=4",
            "train.lr=1e-3",
            "train.log_every=1",
            "train.ckpt_every=1000",
            "train.eval_every=0",
            "train.eval_images=4",
            "train.schedule={unit: iter, warmup: 0, cycle: 1000, reset_decay: 1.0}",
            "eval.batch_size=4",
            "eval.num_figures=2",
            f"output_dir={tmp_path / 'run'}",
            *extra,
        ],
    )


def two_image_coco(first_category: int, more: list[dict], categories: list[dict]) -> dict:
    """A small valid COCO dataset: images 1 (a.jpg, 30x40) and 2 (b.jpg, 20x20), annotation 10 on image 1 (an
    RLE mask of rows 5-14, columns 10-29, category `first_category`), then the annotations `more`."""
    mask = np.zeros((30, 40), bool)
    mask[5:15, 10:30] = True
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 30, "width": 40},
                   {"id": 2, "file_name": "b.jpg", "height": 20, "width": 20}],
        "annotations": [{"id": 10, "image_id": 1, "category_id": first_category, "bbox": [10, 5, 20, 10],
                         "area": 200.0, "iscrowd": 0, "segmentation": mask_to_rle(mask)}, *more],
        "categories": categories,
    }

