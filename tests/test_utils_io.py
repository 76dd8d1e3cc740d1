"""Shared I/O helpers: atomic writes, JSON-lines resume after a kill, robust image loading."""

import json

import numpy as np
import pytest
from PIL import Image

from coco_tools.checker import load_coco_json
from utils.io import (
    DataError,
    JsonlWriter,
    atomic_write_json,
    load_image_rgb,
    load_json,
    read_jsonl,
)


def test_jsonl_resume_after_truncated_line(tmp_path):
    path = tmp_path / "r.jsonl"
    with JsonlWriter(path) as w:
        w.write({"id": 1})
        w.write({"id": 2})
    with open(path, "a") as f:
        f.write('{"id": 3, "bo')  # a writer killed mid-record
    assert [r["id"] for r in read_jsonl(path)] == [1, 2]
    with JsonlWriter(path) as w:
        w.write({"id": 3})
    assert [r["id"] for r in read_jsonl(path)] == [1, 2, 3]


def test_atomic_json_and_errors(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": [1, 2]})
    assert load_json(tmp_path / "a.json") == {"x": [1, 2]}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json.*not valid JSON"):
        load_json(tmp_path / "bad.json")
    with pytest.raises(DataError, match="not found"):
        load_json(tmp_path / "missing.json")
    (tmp_path / "noimg.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(DataError, match="no 'images'"):
        load_coco_json(tmp_path / "noimg.json")


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16"])
def test_load_image_modes(tmp_path, mode):
    arr = (np.arange(12 * 10).reshape(12, 10) % 256).astype(np.uint8)
    if mode == "I;16":
        im = Image.fromarray(arr.astype(np.uint16) * 257)
    else:
        im = Image.fromarray(arr).convert(mode)
    path = tmp_path / ("x.tiff" if mode in ("CMYK", "I;16") else "x.png")
    im.save(path)
    out = load_image_rgb(path)
    assert out.shape == (12, 10, 3) and out.dtype == np.uint8
    if mode in ("L", "I;16"):
        np.testing.assert_array_equal(out[..., 0], arr)


def test_corrupt_image_names_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError, match="broken.jpg"):
        load_image_rgb(path)


def test_exif_orientation_applied_on_request(tmp_path):
    arr = np.zeros((4, 6, 3), np.uint8)
    arr[0, 0] = 255
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = tmp_path / "rotated.jpg"
    im.save(path, exif=exif, quality=100)
    assert load_image_rgb(path).shape == (4, 6, 3)
    upright = load_image_rgb(path, exif_transpose=True)
    assert upright.shape == (6, 4, 3)
    assert upright[0, -1].mean() > 128  # the top-left pixel moved to the top-right corner
