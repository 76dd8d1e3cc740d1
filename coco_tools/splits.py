"""The named splits of the original README's command lines (`--dataset COCO --dataset_split test`) and the
one data root every named dataset lives under (`utils.artifacts.dataset_root`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from utils.artifacts import dataset_root
from utils.io import DataError


@dataclass(frozen=True)
class NamedSplit:
    """Where a split lives, relative to its dataset's root."""

    images: str  # image folder
    image_list: str  # JSON whose `images` list the split: what reasoning and scoring read (the original's)
    class_agnostic: str  # class-agnostic ground truth: the image list of post_process.py's pseudo labels


NAMED_SPLITS = {
    ("COCO", "test"): NamedSplit("coco/val2017", "coco/annotations/instances_val2017.json",
                                 "coco/annotations/coco_cls_agnostic_instances_val2017.json"),
    ("COCO", "train"): NamedSplit("coco/train2017", "coco/annotations/instances_train2017.json",
                                  "coco/annotations/coco_cls_agnostic_instances_train2017.json"),
    ("synthetic", "test"): NamedSplit("scenes/val", "scenes/annotations/val_cls_agnostic.json",
                                      "scenes/annotations/val_cls_agnostic.json"),
    ("synthetic", "train"): NamedSplit("scenes/train", "scenes/annotations/train_cls_agnostic.json",
                                       "scenes/annotations/train_cls_agnostic.json"),
}
DATASETS = tuple(dict.fromkeys(d for d, _ in NAMED_SPLITS))
SPLITS = tuple(dict.fromkeys(s for _, s in NAMED_SPLITS))
SPLIT_ALIASES = {"val": "test"}  # post_process.py's name of the original's test split (COCO val2017)


def default_data_root(dataset: str) -> Path:
    """The root of a named dataset: COCO under the data root, synthetic in its `synthetic/` folder."""
    return dataset_root() / "synthetic" if dataset == "synthetic" else dataset_root()


def named_split(dataset: str, split: str) -> NamedSplit:
    """The split `dataset/split` (`val` is `test`); DataError naming the known ones otherwise."""
    key = (dataset, SPLIT_ALIASES.get(split, split))
    if key not in NAMED_SPLITS:
        known = ", ".join(f"{d}/{s}" for d, s in NAMED_SPLITS)
        raise DataError(f"unknown --dataset/--split {dataset}/{split}; known: {known}; "
                        "or pass --gt_annotations PATH")
    return NAMED_SPLITS[key]


def split_annotation_path(dataset: str, split: str, data_root: str | None = None) -> Path:
    """Class-agnostic ground truth of a named split (the original README's `--dataset COCO --split test`)."""
    return Path(data_root or default_data_root(dataset)) / named_split(dataset, split).class_agnostic
