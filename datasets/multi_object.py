"""(train, test) datasets of the multi-object scene-decomposition runs (R-MONet and MONet baselines)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch.utils.data import Dataset

from datasets.multi_dsprites import ProceduralMultiDSprites
from datasets.multi_object_tfrecords import CachedMultiObjectDataset, convert_tfrecords
from utils.config import option
from utils.io import DataError
from utils.runtime_config import runtime_option


@dataclass
class DataConfig:
    """`data:` section of an R-MONet run."""

    dataset: Literal["multi_dsprites", "clevr6"] = option("multi_dsprites", "scene dataset")
    source: Literal["procedural", "tfrecord"] = option(
        "procedural", "procedural (Multi-dSprites generated on the fly) or a DeepMind TFRecord file"
    )
    tfrecord: str | None = option(None, "DeepMind TFRecord file to convert (source tfrecord)")
    cache_dir: str | None = option(None, "converted cache; None: data/multi_object/<dataset>")
    convert_workers: int = option(0, "processes of the one-time TFRecord conversion", min=0)
    image_size: int = option(64, "image side in pixels", min=8)
    num_train: int = option(60000, "training scenes", min=1)
    num_test: int = option(1600, "test scenes", min=1)
    seed: int = option(0, "seed of the procedural scenes")
    num_workers: int = runtime_option("num_workers", "DataLoader worker processes", default=2)


def build_multi_object_datasets(cfg: DataConfig) -> tuple[Dataset, Dataset]:
    """(train, test) datasets: procedural Multi-dSprites, or a DeepMind TFRecord file converted to a cache."""
    if cfg.source == "procedural":
        if cfg.dataset != "multi_dsprites":
            raise DataError(
                f"no procedural generator for {cfg.dataset!r}: set data.source=tfrecord and "
                "data.tfrecord=PATH (clevr_with_masks_train.tfrecords)"
            )
        return (
            ProceduralMultiDSprites(cfg.num_train, "train", cfg.seed, cfg.image_size),
            ProceduralMultiDSprites(cfg.num_test, "test", cfg.seed, cfg.image_size),
        )
    if cfg.source != "tfrecord":
        raise ValueError(f"data.source must be 'procedural' or 'tfrecord', got {cfg.source!r}")
    cache = cfg.cache_dir or f"data/multi_object/{cfg.dataset}"
    if not (Path(cache) / "meta.json").is_file():
        if not cfg.tfrecord:
            raise DataError(f"no converted cache at {cache} and no data.tfrecord given to convert")
        convert_tfrecords(
            cfg.tfrecord, cache, cfg.dataset, cfg.num_train, cfg.num_test, workers=cfg.convert_workers
        )
    return CachedMultiObjectDataset(cache, "train"), CachedMultiObjectDataset(cache, "test")
