"""Data for the class-agnostic detector: dataset registry (Detectron2 names under ``$DETECTRON2_DATASETS``,
default ``data/``), COCO JSON records, the Detectron2-style mapper, copy-paste, samplers and loaders."""

from .catalog import (
    BUILTIN_NAMES,
    DatasetSpec,
    dataset_root,
    get_dataset_dicts,
    gt_json_path,
    register_coco_json,
    register_dataset,
    registered_names,
)

__all__ = [
    "BUILTIN_NAMES",
    "DatasetSpec",
    "dataset_root",
    "get_dataset_dicts",
    "gt_json_path",
    "register_coco_json",
    "register_dataset",
    "registered_names",
]
