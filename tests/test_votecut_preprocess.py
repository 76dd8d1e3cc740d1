"""VoteCut preprocessing: top-weight selection, largest 4-connected component, naming, resume, errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets.synthetic import VOTECUT_JSON_NAME, make_single_object_dataset
from datasets.votecut import (
    largest_component,
    mask_relpath,
    parse_votecut,
    select_top1,
)
from tools.preprocess_votecut import main as preprocess_main
from utils.io import DataError
from utils.masks import mask_to_rle

REPO_ROOT = Path(__file__).resolve().parents[1]
H, W = 20, 24


def _staircase_mask() -> np.ndarray:
    """A 2x3 block (6 px) plus 8 pixels joined to it and to each other only diagonally, plus a 5-px bar."""
    m = np.zeros((H, W), bool)
    m[0:2, 0:3] = True
    for k in range(8):
        m[2 + k, 3 + k] = True
    m[15, 2:7] = True
    return m


def _ann(ann_id, image_id, mask, weight):
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "segmentation": mask_to_rle(mask),
            "weight": weight, "bbox": [0, 0, 1, 1], "area": int(mask.sum()), "iscrowd": 0}


def _crafted(tmp_path: Path) -> tuple[Path, dict]:
    a = np.zeros((H, W), bool)
    a[2:6, 2:6] = True
    b = np.zeros((H, W), bool)
    b[10:18, 10:20] = True
    c = np.zeros((H, W), bool)
    c[0:3, 20:24] = True
    data = {
        "images": [
            {"id": 7, "file_name": "n01440764/n01440764_10026.JPEG", "height": H, "width": W},
            {"id": 8, "file_name": "n01440764/n01440764_10027.JPEG", "height": H, "width": W},
            {"id": 9, "file_name": "n02102040/n02102040_1.JPEG", "height": H, "width": W},
            {"id": 10, "file_name": "n02102040/n02102040_2.JPEG", "height": W, "width": H},
            {"id": 11, "file_name": "n02102040/n02102040_3.JPEG", "height": H, "width": W},
        ],
        "annotations": [
            _ann(1, 7, a, 0.3), _ann(2, 7, b, 0.9), _ann(3, 7, c, 0.5),  # top: b
            _ann(4, 8, _staircase_mask(), 0.8), _ann(5, 8, b, 0.2),  # top: staircase -> its 2x3 block
            _ann(6, 9, np.zeros((H, W), bool), 0.7), _ann(7, 9, a, 0.1),  # top mask is empty
            # image 10 has no annotation; image 11: a tie, the first one wins
            _ann(8, 11, c, 0.6), _ann(9, 11, a, 0.6),
        ],
    }
    path = tmp_path / "votecut.json"
    path.write_text(json.dumps(data))
    return path, {"a": a, "b": b, "c": c}


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_largest_component_uses_4_connectivity():
    out = largest_component(_staircase_mask())
    expected = np.zeros((H, W), bool)
    expected[0:2, 0:3] = True
    np.testing.assert_array_equal(out, expected)
    assert not largest_component(np.zeros((3, 3), bool)).any()


def test_select_top1_highest_weight_first_on_ties():
    anns = [{"weight": w, "k": k} for k, w in enumerate([0.2, 0.9, 0.9, 0.5])]
    assert select_top1(anns)["k"] == 1
    assert select_top1([]) is None


def test_mask_relpath_follows_imagenet_naming():
    assert mask_relpath("n01440764/n01440764_10026.JPEG") == "n01440764/n01440764_10026.png"
    assert mask_relpath("train/n01440764/n01440764_10026.JPEG") == "n01440764/n01440764_10026.png"
    assert mask_relpath("n01440764_10026.JPEG") == "n01440764/n01440764_10026.png"


def test_preprocess_crafted_json(tmp_path):
    path, m = _crafted(tmp_path)
    out = tmp_path / "out"
    assert preprocess_main(["--votecut_json", str(path), "--out_dir", str(out)]) == 0
    root = out / "masks_top1_single_component"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.png")) == [
        "n01440764/n01440764_10026.png", "n01440764/n01440764_10027.png",
        "n02102040/n02102040_1.png", "n02102040/n02102040_2.png", "n02102040/n02102040_3.png"]
    first = _read(root / "n01440764/n01440764_10026.png")
    assert first.dtype == np.uint8 and set(np.unique(first)) == {0, 255}
    np.testing.assert_array_equal(first > 0, m["b"])
    block = np.zeros((H, W), bool)
    block[0:2, 0:3] = True
    np.testing.assert_array_equal(_read(root / "n01440764/n01440764_10027.png") > 0, block)
    empty = _read(root / "n02102040/n02102040_1.png")
    assert empty.shape == (H, W) and not empty.any()
    no_ann = _read(root / "n02102040/n02102040_2.png")
    assert no_ann.shape == (W, H) and not no_ann.any()
    np.testing.assert_array_equal(_read(root / "n02102040/n02102040_3.png") > 0, m["c"])


def test_preprocess_resumes_and_overwrites(tmp_path):
    path, m = _crafted(tmp_path)
    out = tmp_path / "out"
    args = ["--votecut_json", str(path), "--out_dir", str(out)]
    assert preprocess_main(args) == 0
    target = out / "masks_top1_single_component/n01440764/n01440764_10026.png"
    Image.fromarray(np.zeros((H, W), np.uint8)).save(target)
    assert preprocess_main(args) == 0
    assert not _read(target).any()  # existing file skipped
    assert preprocess_main(args + ["--overwrite", "--num_workers", "2"]) == 0
    np.testing.assert_array_equal(_read(target) > 0, m["b"])


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"images": [', "not valid JSON"),
        ('{"images": []}', "'annotations'"),
        ('{"images": [{"id": 1, "file_name": "a/b.JPEG", "height": 4}], "annotations": []}', "'width'"),
        ('{"images": [{"id": 1, "file_name": "a/b.JPEG", "height": 4, "width": 4}], '
         '"annotations": [{"image_id": 1, "segmentation": {}}]}', "'weight'"),
        ('{"images": [], "annotations": [{"image_id": 3, "segmentation": {}, "weight": 1}]}',
         "unknown image_id"),
    ],
)
def test_malformed_json_gives_one_clear_error(tmp_path, capsys, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert preprocess_main(["--votecut_json", str(path), "--out_dir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and needle in err


def test_parse_votecut_raises_data_error_naming_the_file():
    with pytest.raises(DataError, match=r"x\.json.*annotations\[0\] has a non-numeric weight"):
        parse_votecut({"images": [{"id": 1, "file_name": "a/b.JPEG", "height": 4, "width": 4}],
                       "annotations": [{"image_id": 1, "segmentation": {}, "weight": "high"}]}, "x.json")


def test_cli_error_has_no_traceback(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"images": 3, "annotations": []}')
    proc = subprocess.run([sys.executable, "utils/preprocess_votecut.py", "--votecut_json", str(path),
                           "--out_dir", str(tmp_path / "o")], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: VoteCut JSON {path}: 'images' and 'annotations' must be lists"]


def test_generator_masks_equal_preprocessed_masks(tmp_path):
    root = tmp_path / "imagenet"
    make_single_object_dataset(root, 2, 4, (48, 64), 5, size_jitter=0.2)
    out = tmp_path / "pre"
    js = root / "annotations" / VOTECUT_JSON_NAME
    assert preprocess_main(["--votecut_json", str(js), "--out_dir", str(out)]) == 0
    gen = {p.relative_to(root / "masks_top1_single_component"): p.read_bytes()
           for p in (root / "masks_top1_single_component").rglob("*.png")}
    pre = {p.relative_to(out / "masks_top1_single_component"): p.read_bytes()
           for p in (out / "masks_top1_single_component").rglob("*.png")}
    assert len(gen) == 8 and gen == pre


def test_undecodable_mask_is_skipped_and_counted(tmp_path):
    path, m = _crafted(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"][1]["segmentation"] = 5  # the top mask of image 7 cannot be decoded
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    assert preprocess_main(["--votecut_json", str(path), "--out_dir", str(out)]) == 0
    root = out / "masks_top1_single_component"
    assert not (root / "n01440764/n01440764_10026.png").exists()
    assert len(list(root.rglob("*.png"))) == 4
