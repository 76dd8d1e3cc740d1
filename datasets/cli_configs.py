"""The command lines of the data-preparation scripts, one typed config per script (see utils/config.py):
tools/make_synthetic_data.py (`datasets.synthetic`) and tools/preprocess_votecut.py (`datasets.votecut`).
Seed, workers and output folder come from utils/runtime_config.py."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from datasets.synthetic import LAYOUTS
from utils.config import option
from utils.runtime_config import runtime_option

SINGLE = "single-object sets (stage 1)"
SCENES = "multi-object scenes (stage 2, detector, evaluator)"


def image_size_arg(text: str) -> tuple[int, int]:
    """'256' -> (256, 256); '256x320' -> (256, 320) (height x width)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"size must look like 256 or 256x320, got {text!r}") from e
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 16:
        raise argparse.ArgumentTypeError(f"size must look like 256 or 256x320 (sides >= 16), got {text!r}")
    return parts[0], parts[1]


@dataclass(frozen=True)
class SyntheticDataConfig:
    """tools/make_synthetic_data.py (its groups: SINGLE, SCENES)."""

    output_dir: str = runtime_option("output_dir", "the root of the synthetic data", default="data/synthetic",
                                     aliases=("--out",))
    seed: int = runtime_option("seed", "seeds everything (held-out set: --heldout_seed)")
    num_classes: int = option(8, "class folders n00000001, ...", group=SINGLE, min=1)
    images_per_class: int = option(40, "", group=SINGLE, min=1)
    image_size: tuple[int, int] = option(
        (256, 256), "max image size HxW (or one number); sides are jittered down by --size_jitter",
        group=SINGLE, type=image_size_arg, nargs=None)
    size_jitter: float = option(0.25, "each side drawn from [side*(1-jitter), side]; 0 = fixed size",
                                group=SINGLE, min=0, lt=1)
    heldout_classes: int = option(8, "", group=SINGLE, min=0)
    heldout_images_per_class: int = option(8, "", group=SINGLE, min=0)
    heldout_seed: int | None = option(None, "default: --seed + 1000", group=SINGLE)
    train_scenes: int = option(40, "", group=SCENES, min=0)
    val_scenes: int = option(24, "", group=SCENES, min=0)
    scene_size: tuple[int, int] = option((256, 320), "max scene size HxW", group=SCENES, type=image_size_arg,
                                         nargs=None)
    scene_size_jitter: float = option(0.1, "", group=SCENES, min=0, lt=1)
    min_objects: int = option(2, "", group=SCENES, min=1)
    max_objects: int = option(6, "", group=SCENES, min=1)
    layout: str = option(
        "mixed", "object relations in scenes; 'mixed' draws one of all four layouts per scene", group=SCENES,
        choices=LAYOUTS)
    skip_single: bool = option(False, "do not write imagenet/ and imagenet_heldout/")
    skip_scenes: bool = option(False, "do not write scenes/")
    overwrite: bool = option(False, "replace existing files with generated names that an earlier run did not "
                             "write")


@dataclass(frozen=True)
class VoteCutPreprocessConfig:
    """tools/preprocess_votecut.py (and its original path utils/preprocess_votecut.py)."""

    votecut_json: str = option(
        None, "VoteCut COCO-style JSON, e.g. imagenet_train_votecut_kmax_3_tuam_0.2.json", required=True)
    output_dir: str = runtime_option("output_dir", "masks go to <out_dir>/masks_top1_single_component/",
                                     aliases=("--out_dir",), required=True)
    overwrite: bool = option(False, "rewrite PNGs that already exist")
    num_workers: int = runtime_option("num_workers", "worker processes writing the masks")
    shard: str | None = option(None, "i/N: process every N-th image starting at i")
