"""DeepMind Multi-Object TFRecords: a fixture written with the tfrecord package in the same feature schema
(GZIP-compressed like the released files) is parsed, preprocessed and cached."""

import gzip
import shutil

import numpy as np
import pytest
import tfrecord
import torch

from datasets.multi_object_tfrecords import (
    CachedMultiObjectDataset,
    convert_tfrecords,
    iter_examples,
    write_example,
)
from utils.io import DataError


def _gzip(src, dst):
    with open(src, "rb") as f, gzip.open(dst, "wb") as g:
        shutil.copyfileobj(f, g)


def _dsprites_example(i: int) -> dict:
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64, 6, 1), np.uint8)
    mask[..., 0, 0] = 255
    for e in range(1, 3 + i % 2):
        y, x = 5 + 15 * e, 3 + 10 * e + i
        mask[y : y + 8, x : x + 6, 0, 0] = 0
        mask[y : y + 8, x : x + 6, e, 0] = 255
    vis = (mask.reshape(-1, 6).max(0) > 0).astype(np.float32)
    f = {k: rng.uniform(size=(6,)).astype(np.float32) for k in ("x", "y", "shape", "orientation", "scale")}
    return {"image": image, "mask": mask, "color": rng.uniform(size=(6, 3)), "visibility": vis, **f}


def _clevr_example(num_objects: int) -> dict:
    mask = np.zeros((11, 240, 320, 1), np.uint8)
    mask[0] = 255
    vis = np.zeros(11, np.float32)
    vis[0] = 1
    for e in range(1, num_objects + 1):
        y, x = 40 + 20 * e, 70 + 20 * e  # inside the crop rows 29:221, cols 64:256
        mask[0, y : y + 12, x : x + 12] = 0
        mask[e, y : y + 12, x : x + 12] = 255
        vis[e] = 1
    image = np.zeros((240, 320, 3), np.uint8)
    image[..., 0] = np.minimum(np.arange(320), 255).astype(np.uint8)[None, :]
    zeros = np.zeros(11, np.float32)
    return {
        "image": image,
        "mask": mask,
        "x": zeros,
        "y": zeros,
        "z": zeros,
        "pixel_coords": np.zeros((11, 3)),
        "rotation": zeros,
        "size": np.ones(11, np.uint8),
        "material": np.full(11, 2, np.uint8),
        "shape": np.full(11, 3, np.uint8),
        "color": np.full(11, 4, np.uint8),
        "visibility": vis,
    }


def test_multi_dsprites_fixture_round_trip(tmp_path):
    raw = tmp_path / "raw.tfrecords"
    writer = tfrecord.TFRecordWriter(str(raw))
    examples = [_dsprites_example(i) for i in range(5)]
    for ex in examples:
        write_example(writer, ex, "multi_dsprites")
    writer.close()
    path = tmp_path / "multi_dsprites_colored_on_grayscale.tfrecords"
    _gzip(raw, path)

    parsed = list(iter_examples(path, "multi_dsprites"))
    assert len(parsed) == 5
    for ex, got in zip(examples, parsed):
        assert got["image"].dtype == np.uint8 and np.array_equal(got["image"], ex["image"])
        assert np.array_equal(got["mask"], ex["mask"])  # zeros survive (one byte per element)
        assert np.allclose(got["color"], ex["color"]) and np.allclose(got["visibility"], ex["visibility"])

    cache = convert_tfrecords(path, tmp_path / "cache", "multi_dsprites", num_train=3, num_test=2)
    train, test = CachedMultiObjectDataset(cache, "train"), CachedMultiObjectDataset(cache, "test")
    assert len(train) == 3 and len(test) == 2
    image, labels = test[1]
    assert image.shape == (3, 64, 64) and labels.shape == (64, 64) and labels.dtype == torch.int64
    assert torch.allclose(image, torch.from_numpy(examples[4]["image"]).permute(2, 0, 1).float() / 255)
    expected = examples[4]["mask"][..., 0].argmax(-1)
    assert np.array_equal(labels.numpy(), expected)
    assert set(np.unique(labels.numpy())) == {0, 1, 2}
    with pytest.raises(DataError):
        convert_tfrecords(path, tmp_path / "cache2", "multi_dsprites", num_train=4, num_test=2)


def test_clevr_fixture_filter_crop_resize(tmp_path):
    path = tmp_path / "clevr_with_masks_train.tfrecords"
    writer = tfrecord.TFRecordWriter(str(path))  # uncompressed works too
    for n in (2, 4, 7):
        write_example(writer, _clevr_example(n), "clevr6")
    writer.close()
    parsed = list(iter_examples(path, "clevr6"))
    assert [int(p["visibility"].sum()) for p in parsed] == [3, 5, 8]
    assert parsed[0]["mask"].shape == (11, 240, 320, 1) and parsed[0]["material"].tolist() == [2] * 11

    cache = convert_tfrecords(path, tmp_path / "cache", "clevr6", num_train=1, num_test=0)
    image, labels = CachedMultiObjectDataset(cache, "train")[0]  # only the 4-object scene has 3-6 objects
    assert image.shape == (3, 128, 128)
    assert set(np.unique(labels.numpy())) == {0, 1, 2, 3, 4}
    # Object 1 occupies rows 60:72, cols 90:102 -> crop offset (29, 64), scale 128/192.
    ys, xs = np.nonzero(labels.numpy() == 1)
    assert abs(ys.min() - (60 - 29) * 2 / 3) <= 1 and abs(xs.min() - (90 - 64) * 2 / 3) <= 1
    assert abs(ys.max() + 1 - (72 - 29) * 2 / 3) <= 1
    # Red channel = column index: the crop starts at column 64 and is resized by 2/3.
    red = image[0].numpy() * 255
    assert abs(red[0, 0] - 64.75) < 1.5 and abs(red[0, -1] - 255) < 2
