"""DeepMind Multi-Object Datasets (TFRecords) read without TensorFlow and cached as uint8 arrays.

Supported files (https://github.com/deepmind/multi_object_datasets, GZIP-compressed tf.Example records):
- `multi_dsprites_colored_on_grayscale.tfrecords`: image [64,64,3], mask [64,64,6,1] (entity 0 =
  background), x/y/shape/visibility/orientation/scale [6], color [6,3] (floats).
- `clevr_with_masks_train.tfrecords`: image [240,320,3], mask [11,240,320,1] (entity 0 = background),
  x/y/z/rotation/visibility [11], pixel_coords [11,3] (floats), size/material/shape/color [11] (bytes).
Byte features hold one byte per element (tf.FixedLenFeature of tf.string, decoded with decode_raw).

`convert_tfrecords` writes `<cache>/images.npy` (uint8 [N,S,S,3]), `<cache>/labels.npy` (uint8 [N,S,S]
instance labels, 0 = background) and `<cache>/meta.json` (written last, marks a complete cache), with the
R-MONet paper's splits: Multi-dSprites 60000 train / 1600 test; CLEVR6 (3-6 objects), MONet crop
(rows 29:221, cols 64:256) resized to 128x128, 48400 train / 1600 test. The first records form the
training split and the following ones the test split.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm

from utils.cli import run_cli
from utils.extras import import_extra
from utils.io import DataError, atomic_write_json

# feature name -> (kind, shape); kind "bytes" = one uint8 per element, "float" = float32.
MULTI_DSPRITES_FEATURES = {
    "image": ("bytes", (64, 64, 3)),
    "mask": ("bytes", (64, 64, 6, 1)),
    "x": ("float", (6,)),
    "y": ("float", (6,)),
    "shape": ("float", (6,)),
    "color": ("float", (6, 3)),
    "visibility": ("float", (6,)),
    "orientation": ("float", (6,)),
    "scale": ("float", (6,)),
}
CLEVR_FEATURES = {
    "image": ("bytes", (240, 320, 3)),
    "mask": ("bytes", (11, 240, 320, 1)),
    "x": ("float", (11,)),
    "y": ("float", (11,)),
    "z": ("float", (11,)),
    "pixel_coords": ("float", (11, 3)),
    "rotation": ("float", (11,)),
    "size": ("bytes", (11,)),
    "material": ("bytes", (11,)),
    "shape": ("bytes", (11,)),
    "color": ("bytes", (11,)),
    "visibility": ("float", (11,)),
}
DATASETS = {
    "multi_dsprites": {"features": MULTI_DSPRITES_FEATURES, "num_train": 60000, "num_test": 1600, "size": 64},
    "clevr6": {
        "features": CLEVR_FEATURES,
        "num_train": 48400,
        "num_test": 1600,
        "size": 128,
        "crop": (29, 221, 64, 256),
        "objects": (3, 6),
    },
}


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _bytes_feature_to_uint8(bytes_list) -> np.ndarray:
    """A BytesList of one-byte strings -> uint8 array. Fast path: serialized, every element is the 3 bytes
    (field tag 0x0a, length 1, value), so the values are every third byte."""
    buf = np.frombuffer(bytes_list.SerializeToString(), np.uint8)
    if buf.size % 3 == 0 and (buf[0::3] == 0x0A).all() and (buf[1::3] == 1).all():
        return buf[2::3]
    return np.frombuffer(b"".join(bytes_list.value), np.uint8)


def parse_example(record: bytes | memoryview, features: dict, path: str = "") -> dict[str, np.ndarray]:
    """Serialized tf.Example -> dict of arrays shaped as in `features` (bytes -> uint8, floats -> float32)."""
    ex = import_extra("tfrecord.example_pb2", "requirements-rmonet.txt").Example()
    ex.ParseFromString(bytes(record))
    out = {}
    for name, (kind, shape) in features.items():
        if name not in ex.features.feature:
            raise DataError(f"{path}: record has no feature {name!r} (is this the right dataset file?)")
        feat = ex.features.feature[name]
        if kind == "bytes":
            arr = _bytes_feature_to_uint8(feat.bytes_list)
        else:
            arr = np.asarray(feat.float_list.value, np.float32)
        if arr.size != int(np.prod(shape)):
            raise DataError(f"{path}: feature {name!r} has {arr.size} values, expected shape {shape}")
        out[name] = arr.reshape(shape)
    return out


def iter_examples(path: str | Path, dataset: str) -> Iterator[dict[str, np.ndarray]]:
    """Decoded examples of a DeepMind TFRecord file (GZIP or uncompressed, detected from the file)."""
    for record in _iter_raw_records(path):
        yield parse_example(record, DATASETS[dataset]["features"], str(path))


def masks_to_labels(masks: np.ndarray) -> np.ndarray:
    """Entity masks [E, H, W] (0/255, entity 0 = background) -> instance labels uint8 [H, W]."""
    labels = masks.argmax(0).astype(np.uint8)
    labels[masks.max(0) == 0] = 0
    return labels


def preprocess(example: dict[str, np.ndarray], dataset: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Example -> (image uint8 [S,S,3], labels uint8 [S,S]), or None when the scene is filtered out."""
    spec = DATASETS[dataset]
    if dataset == "multi_dsprites":
        return example["image"], masks_to_labels(example["mask"][..., 0].transpose(2, 0, 1))
    lo, hi = spec["objects"]
    n_obj = int((example["visibility"][1:] > 0).sum())
    if not lo <= n_obj <= hi:
        return None
    y1, y2, x1, x2 = spec["crop"]
    size = spec["size"]
    image = Image.fromarray(example["image"][y1:y2, x1:x2]).resize((size, size), Image.BILINEAR)
    labels = masks_to_labels(example["mask"][:, y1:y2, x1:x2, 0])
    labels = Image.fromarray(labels).resize((size, size), Image.NEAREST)
    return np.asarray(image), np.asarray(labels)


def _require_tfrecord(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"TFRecord file not found: {path}. Download it from "
            "https://console.cloud.google.com/storage/browser/multi-object-datasets "
            "(multi_dsprites/multi_dsprites_colored_on_grayscale.tfrecords or "
            "clevr_with_masks/clevr_with_masks_train.tfrecords)."
        )
    return path


def _iter_raw_records(path: str | Path) -> Iterator[bytes]:
    path = _require_tfrecord(path)
    reader = import_extra("tfrecord.reader", "requirements-rmonet.txt")
    for record in reader.tfrecord_iterator(str(path), compression_type="gzip" if _is_gzip(path) else None):
        yield bytes(record)


def _parse_and_preprocess(job: tuple[bytes, str, str]):
    record, dataset, path = job
    return preprocess(parse_example(record, DATASETS[dataset]["features"], path), dataset)


def convert_tfrecords(
    path: str | Path,
    cache_dir: str | Path,
    dataset: str,
    num_train: int | None = None,
    num_test: int | None = None,
    workers: int = 0,
) -> Path:
    """Convert the first num_train + num_test kept scenes into the cache (reused when already complete).

    `workers` > 0 parses records in that many processes (parsing dominates: ~0.1 s per CLEVR record).
    """
    spec = DATASETS[dataset]
    num_train = spec["num_train"] if num_train is None else num_train
    num_test = spec["num_test"] if num_test is None else num_test
    cache = Path(cache_dir)
    meta_path = cache / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("dataset") == dataset and meta["num_train"] == num_train and meta["num_test"] == num_test:
            return cache
    _require_tfrecord(path)
    cache.mkdir(parents=True, exist_ok=True)
    total, size = num_train + num_test, spec["size"]
    images = np.lib.format.open_memmap(cache / "images.npy.tmp", "w+", np.uint8, (total, size, size, 3))
    labels = np.lib.format.open_memmap(cache / "labels.npy.tmp", "w+", np.uint8, (total, size, size))
    jobs = ((rec, dataset, str(path)) for rec in _iter_raw_records(path))
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 0 else None
    items = pool.imap(_parse_and_preprocess, jobs, chunksize=8) if pool else map(_parse_and_preprocess, jobs)
    n = seen = 0
    try:
        with tqdm(total=total, desc=f"convert {Path(path).name}") as bar:
            for item in items:
                seen += 1
                if item is None:
                    continue
                images[n], labels[n] = item
                n += 1
                bar.update(1)
                if n == total:
                    break
    finally:
        if pool:
            pool.terminate()
    if n < total:
        raise DataError(
            f"{path}: only {n} usable scenes (of {seen} records), need {total} = {num_train} + {num_test}"
        )
    images.flush()
    labels.flush()
    del images, labels
    (cache / "images.npy.tmp").replace(cache / "images.npy")
    (cache / "labels.npy.tmp").replace(cache / "labels.npy")
    atomic_write_json(
        meta_path,
        {
            "dataset": dataset,
            "source": str(path),
            "num_train": num_train,
            "num_test": num_test,
            "image_size": size,
            "records_read": seen,
        },
        indent=2,
    )
    return cache


class CachedMultiObjectDataset(Dataset):
    """A split of a converted cache; item -> (image float [3,S,S] in [0,1], labels int64 [S,S])."""

    def __init__(self, cache_dir: str | Path, split: str = "train"):
        cache = Path(cache_dir)
        meta_path = cache / "meta.json"
        if not meta_path.is_file():
            raise DataError(f"{cache} is not a converted cache (no meta.json); run convert_tfrecords first")
        meta = json.loads(meta_path.read_text())
        if split == "train":
            start, count = 0, meta["num_train"]
        elif split == "test":
            start, count = meta["num_train"], meta["num_test"]
        else:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.start, self.count = start, count
        self.cache = cache
        self._images = self._labels = None  # opened lazily (per DataLoader worker)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= idx < self.count:
            raise IndexError(idx)
        if self._images is None:
            self._images = np.load(self.cache / "images.npy", mmap_mode="r")
            self._labels = np.load(self.cache / "labels.npy", mmap_mode="r")
        image = torch.from_numpy(np.array(self._images[self.start + idx])).permute(2, 0, 1).float() / 255.0
        return image, torch.from_numpy(self._labels[self.start + idx].astype(np.int64))


def write_example(writer, example: dict[str, np.ndarray], dataset: str) -> None:
    """Write one example with the DeepMind feature schema (used to make fixtures and tests)."""
    datum = {}
    for name, (kind, shape) in DATASETS[dataset]["features"].items():
        arr = np.asarray(example[name])
        if arr.shape != shape:
            raise ValueError(f"feature {name!r}: shape {arr.shape}, expected {shape}")
        if kind == "bytes":
            datum[name] = ([bytes([v]) for v in arr.astype(np.uint8).ravel()], "byte")
        else:
            datum[name] = (arr.astype(np.float32).ravel().tolist(), "float")
    writer.write(datum)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description="Convert a DeepMind Multi-Object TFRecord file into the array cache."
    )
    ap.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    ap.add_argument("--tfrecord", required=True, help="path of the .tfrecords file")
    ap.add_argument("--output_dir", "--out", dest="out", required=True, help="cache directory")
    ap.add_argument("--num_train", type=int, default=None)
    ap.add_argument("--num_test", type=int, default=None)
    ap.add_argument("--workers", type=int, default=0, help="parsing processes (0 = in this process)")
    args = ap.parse_args(argv)
    cache = convert_tfrecords(
        args.tfrecord, args.out, args.dataset, args.num_train, args.num_test, args.workers
    )
    print(f"cache ready: {cache}")


if __name__ == "__main__":
    run_cli(main)
