"""(train, test) datasets of the multi-object scene-decomposition runs (R-MONet and MONet baselines)."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from datasets.multi_dsprites import ProceduralMultiDSprites
from datasets.multi_object_tfrecords import CachedMultiObjectDataset, convert_tfrecords
from utils.io import DataError


def build_multi_object_datasets(data_cfg: dict) -> tuple[Dataset, Dataset]:
    """(train, test) datasets: procedural Multi-dSprites, or a DeepMind TFRecord file converted to a cache."""
    if data_cfg["source"] == "procedural":
        if data_cfg["dataset"] != "multi_dsprites":
            raise DataError(
                f"no procedural generator for {data_cfg['dataset']!r}: set data.source=tfrecord and "
                "data.tfrecord=PATH (clevr_with_masks_train.tfrecords)"
            )
        size, seed = data_cfg["image_size"], data_cfg["seed"]
        return (
            ProceduralMultiDSprites(data_cfg["num_train"], "train", seed, size),
            ProceduralMultiDSprites(data_cfg["num_test"], "test", seed, size),
        )
    if data_cfg["source"] != "tfrecord":
        raise ValueError(f"data.source must be 'procedural' or 'tfrecord', got {data_cfg['source']!r}")
    cache = data_cfg.get("cache_dir") or f"data/multi_object/{data_cfg['dataset']}"
    if not (Path(cache) / "meta.json").is_file():
        if not data_cfg.get("tfrecord"):
            raise DataError(f"no converted cache at {cache} and no data.tfrecord given to convert")
        convert_tfrecords(
            data_cfg["tfrecord"],
            cache,
            data_cfg["dataset"],
            data_cfg["num_train"],
            data_cfg["num_test"],
            workers=data_cfg.get("convert_workers", 0),
        )
    return CachedMultiObjectDataset(cache, "train"), CachedMultiObjectDataset(cache, "test")
