"""Dataset registry: Detectron2-style dataset names resolved to COCO-format JSON files and image folders.

Every built-in name lives under one dataset root: ``$DETECTRON2_DATASETS`` when set, else ``data/`` (the
repository's ``datasets/`` folder is a Python package, so it is not used as a default). Paths follow the
unMORE README layout (``coco/annotations/...``, ``coco/val2017`` ...); the original code's spellings
(``COCO/val2017``, ``coco/annotation/...``) are accepted as fall-backs. Registering only records the paths;
``get_dataset_dicts`` reads the JSON into a list of records::

    {"file_name": str, "image_candidates": [str, ...], "image_id": int | str, "height": int, "width": int,
     "source": "coco" | "imagenet" | "other", "repeat": int,
     "annotations": [{"bbox": [x, y, w, h], "segmentation": RLE | polygons | None, "iscrowd": 0 | 1,
                      "score": float}, ...]}

``image_candidates`` are tried in order when the image is read (``file_name`` is the first one).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from coco_tools.splits import NAMED_SPLITS
from utils.artifacts import BY_NAME, artifact_for, dataset_root, where_to_get
from utils.io import DataError

logger = logging.getLogger(__name__)

# COCO images are repeated this many times in total in the unMORE COCO+ImageNet training list
# (one original plus four copies), balancing them against the ImageNet images.
UNMORE_COCO_REPEAT = 5


@dataclass
class DatasetSpec:
    """Where a dataset lives. Paths are relative to the dataset root unless absolute.

    json_candidates: annotation files tried in order (the first existing one is used).
    image_roots: folders an image's ``file_name`` is looked up in (full relative path first, then basename).
    imagenet_root: folder holding ``<wnid>/<name>.JPEG`` for ImageNet images of a merged COCO+ImageNet file.
    coco_repeat: how many times each COCO image of a merged file appears in the training list.
    """

    name: str
    json_candidates: list[str]
    image_roots: list[str]
    imagenet_root: str | None = None
    coco_repeat: int = 1
    download: str = ""

    def _abs(self, p: str, root: Path) -> Path:
        return Path(p) if os.path.isabs(p) else root / p

    def json_path(self, root: Path | None = None) -> Path:
        root = dataset_root() if root is None else root
        paths = [self._abs(p, root) for p in self.json_candidates]
        for p in paths:
            if p.is_file():
                return p
        known = next((a for p in paths if (a := artifact_for(p, root)) is not None), None)
        hint = f" {self.download}" if self.download else (f" To get it: {where_to_get(known)}." if known else "")
        tried = ", ".join(str(p) for p in paths)
        raise DataError(
            f"annotation file of dataset '{self.name}' not found (tried: {tried}). Put the file there or set "
            f"$DETECTRON2_DATASETS to the folder that holds it.{hint}"
        )

    def image_dirs(self, root: Path | None = None) -> list[Path]:
        root = dataset_root() if root is None else root
        return [self._abs(p, root) for p in self.image_roots]


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> None:
    """Register (or replace) a dataset spec under ``spec.name``."""
    _REGISTRY[spec.name] = spec


def register_coco_json(name: str, json_path: str | os.PathLike, image_root: str | os.PathLike,
                       imagenet_root: str | os.PathLike | None = None, coco_repeat: int = 1) -> None:
    """Register any COCO-format JSON with its image folder under ``name`` (paths used as given)."""
    register_dataset(DatasetSpec(
        name=name, json_candidates=[os.path.abspath(json_path)], image_roots=[os.path.abspath(image_root)],
        imagenet_root=os.path.abspath(imagenet_root) if imagenet_root else None, coco_repeat=coco_repeat,
    ))


def registered_names() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> DatasetSpec:
    if name not in _REGISTRY:
        known = ", ".join(registered_names())
        raise KeyError(f"dataset '{name}' is not registered. Known datasets: {known}")
    return _REGISTRY[name]


def get_dataset_dicts(name: str, filter_empty: bool = False) -> list[dict]:
    """Records of dataset ``name``; with ``filter_empty`` images without non-crowd annotations are removed."""
    from cad.data.coco_records import load_coco_records

    spec = get_spec(name)
    root = dataset_root()
    records = load_coco_records(
        spec.json_path(root), spec.image_dirs(root),
        imagenet_root=spec._abs(spec.imagenet_root, root) if spec.imagenet_root else None,
        coco_repeat=spec.coco_repeat,
    )
    if filter_empty:
        before = len(records)
        records = [r for r in records if any(not a.get("iscrowd", 0) for a in r["annotations"])]
        if len(records) < before:
            logger.info(f"{name}: removed {before - len(records)} images without annotations")
    return records


def gt_json_path(name: str) -> Path:
    """The annotation file behind a registered dataset (DataError when it is missing)."""
    return get_spec(name).json_path()


# Built-in names (the original README's layout first, original unMORE spellings as fall-backs); the COCO and
# synthetic splits of the original's command lines are coco_tools.splits's.
_COCO_VAL, _COCO_TRAIN = NAMED_SPLITS[("COCO", "test")], NAMED_SPLITS[("COCO", "train")]
_SYNTHETIC = {"val": NAMED_SPLITS[("synthetic", "test")], "train": NAMED_SPLITS[("synthetic", "train")]}
_CUTLER = "http://dl.fbaipublicfiles.com/cutler"
_BUILTIN = [
    DatasetSpec(
        "coco_train_with_imagenet_train",
        ["coco/annotations/COCO_merged_IN_training_format.json",
         "coco/annotations/merged_with_imagenet/COCO_merged_IN_training_format.json",
         "cad_training_data/COCO_merged_IN_training_format.json",
         "COCO_merged_IN_training_format.json"],
        ["coco/train2017", "COCO/train2017"],
        imagenet_root="imagenet/train", coco_repeat=UNMORE_COCO_REPEAT,
        download="Make it with merge_coco_and_imagenet.py or download 'cad_training_data' (README.md#downloads).",
    ),
    DatasetSpec(
        "coco_2017_val",
        [_COCO_VAL.image_list],
        [_COCO_VAL.images, "COCO/val2017"],
        download="Download COCO 2017 annotations from https://cocodataset.org/#download "
                 "(evaluated class-agnostic).",
    ),
    DatasetSpec(
        "coco_2017_train",
        [_COCO_TRAIN.image_list],
        [_COCO_TRAIN.images, "COCO/train2017"],
    ),
    DatasetSpec(
        "cls_agnostic_coco_train_17",
        [_COCO_TRAIN.class_agnostic, "coco/annotation/coco_cls_agnostic_instances_train2017.json"],
        [_COCO_TRAIN.images, "COCO/train2017"],
    ),
    DatasetSpec(
        "cls_agnostic_coco_val_17",
        [_COCO_VAL.class_agnostic, "coco/annotation/coco_cls_agnostic_instances_val2017.json"],
        [_COCO_VAL.images, "COCO/val2017"],
        download=f"Download 'coco val' class-agnostic annotations: {BY_NAME['coco_val'].url} (README.md#downloads).",
    ),
    DatasetSpec(
        "cls_agnostic_coco",
        [_COCO_VAL.class_agnostic, "coco/annotation/coco_cls_agnostic_instances_val2017.json"],
        [_COCO_VAL.images, "COCO/val2017"],
    ),
    DatasetSpec(
        "cls_agnostic_coco*_val_17",
        ["coco/annotations/COCO_star_val2017_cls_agnostic.json",
         "coco/annotation/COCO_star_val2017_cls_agnostic.json"],
        ["coco/val2017", "COCO/val2017"],
        download=f"Download 'COCO*_Val_Class_Agnostic': {BY_NAME['COCO*_Val_Class_Agnostic'].url} "
                 "(README.md#downloads), or build it with COCO*/.",
    ),
    DatasetSpec(
        "cls_agnostic_coco20k",
        ["coco/annotations/coco20k_trainval_gt.json", "coco/annotation/coco20k_trainval_gt.json"],
        ["coco/train2014", "COCO/train2014"],
    ),
    DatasetSpec(
        "cls_agnostic_lvis",
        ["coco/annotations/lvis1.0_cocofied_val_cls_agnostic.json"],
        ["coco", "coco/val2017", "coco/train2017"],
    ),
    DatasetSpec(
        "cls_agnostic_kitti",
        ["kitti/annotations/trainval_cls_agnostic.json"],
        ["kitti/JPEGImages", "kitti"],
        download=f"Download {_CUTLER}/kitti/trainval_cls_agnostic.json",
    ),
    DatasetSpec(
        "cls_agnostic_voc",
        ["voc/annotations/trainvaltest_2007_cls_agnostic.json",
         "voc/annotations/trainvaltest_voc_2007_cls_agnostic.json"],
        ["voc/VOC2007/JPEGImages", "voc", "voc/VOC2007"],
        download=f"Download {_CUTLER}/voc/trainvaltest_2007_cls_agnostic.json",
    ),
    DatasetSpec(
        "cls_agnostic_objects365",
        ["objects365/annotations/zhiyuan_objv2_val_cls_agnostic.json"],
        ["objects365/val", "objects365"],
        download=f"Download {_CUTLER}/objects365/zhiyuan_objv2_val_cls_agnostic.json",
    ),
    DatasetSpec(
        "cls_agnostic_openimages",
        ["openImages/annotations/openimages_val_cls_agnostic.json"],
        ["openImages/validation", "openImages"],
        download=f"Download {_CUTLER}/openImages/openimages_val_cls_agnostic.json",
    ),
] + [
    DatasetSpec(
        f"synthetic_scenes_{split}",
        [f"synthetic/{_SYNTHETIC[split].class_agnostic}"],
        [f"synthetic/{_SYNTHETIC[split].images}", "synthetic/scenes"],
        download="Generate it: python tools/make_synthetic_data.py --out data/synthetic --seed 0",
    )
    for split in ("train", "val")
]

for _spec in _BUILTIN:
    register_dataset(_spec)

BUILTIN_NAMES = [s.name for s in _BUILTIN]
