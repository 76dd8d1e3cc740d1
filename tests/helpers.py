"""Helpers shared by several test modules (fixtures live in conftest.py)."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from training.rmonet.config import load_config


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
