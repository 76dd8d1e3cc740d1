"""tools/check_setup.py on an empty, a good and a broken tree; the README's downloads table is the catalog."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cad.config import get_cfg
from cad.modeling import GeneralizedRCNN
from models.checkpoint import save_checkpoint
from models.objectness_net import ExistenceNet, ObjectnessNet
from tools import check_setup
from utils.artifacts import ARTIFACTS, BY_NAME, markdown_table

REPO = Path(__file__).resolve().parents[1]
TINY_DETECTOR = REPO / "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"
pytestmark = pytest.mark.usefixtures("one_thread")


def coco(file_names: list[str], duplicate_id: bool = False) -> dict:
    images = [{"id": i + 1, "file_name": f, "height": 8, "width": 8} for i, f in enumerate(file_names)]
    anns = [{"id": 1 if duplicate_id else i + 1, "image_id": i + 1, "category_id": 1, "bbox": [1, 1, 4, 4],
             "area": 16, "iscrowd": 0} for i in range(len(file_names))]
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "fg"}]}


def run(tmp_path: Path, capsys, *extra: str) -> tuple[int, dict[str, tuple[str, str]]]:
    roots = ["--data_root", str(tmp_path / "data"), "--weights_dir", str(tmp_path / "weights")]
    status = check_setup.main([*roots, "--repo", str(tmp_path), *extra])
    rows = {}
    for line in capsys.readouterr().out.splitlines()[1:-1]:
        _, name, mark, *_ = re.split(r"\s{2,}", line)
        rows[name] = (mark, line)
    return status, rows


@pytest.fixture
def tree(tmp_path):
    """A data root with COCO val2017 (2 images), its class-agnostic JSON, results and small checkpoints."""
    data, weights = tmp_path / "data", tmp_path / "weights"
    (data / "coco" / "val2017").mkdir(parents=True)
    (data / "coco" / "annotations").mkdir()
    (data / "unmore_results").mkdir()
    weights.mkdir()
    for name in ("000000000001.jpg", "000000000002.jpg"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(data / "coco" / "val2017" / name)
    (data / "coco/annotations/coco_cls_agnostic_instances_val2017.json").write_text(
        json.dumps(coco(["000000000001.jpg", "000000000002.jpg"])))
    (data / "unmore_results/unMORE_disc_coco_val17.json").write_text(
        json.dumps([{"image_id": 1, "bbox": [0, 0, 2, 2], "score": 0.9, "category_id": 1}]))
    torch.manual_seed(0)
    objectness = ObjectnessNet("resnet18", "tanh", True)
    save_checkpoint(weights / "center_boundary_model.pth", objectness, None, None, 1)
    save_checkpoint(weights / "existence_model.pth", ExistenceNet("resnet18"), None, None, 1)
    cfg = get_cfg()
    cfg.merge_from_file(str(TINY_DETECTOR))
    torch.save({"model": GeneralizedRCNN(cfg).state_dict()}, weights / "unMORE_model.pth")
    return tmp_path


def test_empty_root_lists_every_artifact_missing_with_its_link(tmp_path, capsys):
    status, rows = run(tmp_path, capsys)
    assert status == 0
    assert set(rows) == {a.name for a in ARTIFACTS}
    for a in ARTIFACTS:
        mark, line = rows[a.name]
        assert mark == "MISSING" and a.url in line


def test_good_tree_is_all_ok(tree, capsys):
    status, rows = run(tree, capsys, "--detector_config", str(TINY_DETECTOR))
    assert status == 0
    for name in ("coco_val2017", "coco_val", "unMORE_disc_coco_val17", "center_boundary_model",
                 "existence_model", "unMORE_model"):
        assert rows[name][0] == "ok", rows[name][1]
    assert "strict load: resnet18" in rows["center_boundary_model"][1]
    assert "2 images, 2 annotations" in rows["coco_val"][1]


def test_broken_tree_names_each_problem(tree, capsys):
    data, weights = tree / "data", tree / "weights"
    (data / "coco/val2017/000000000002.jpg").unlink()  # a sampled image file is gone
    (data / "coco/annotations/COCO_star_val2017_cls_agnostic.json").write_text(
        json.dumps(coco(["000000000001.jpg", "000000000001.jpg"], duplicate_id=True)))
    (data / "unmore_results/unMORE_coco_val17.json").write_text("{not json")
    ckpt = torch.load(weights / "center_boundary_model.pth", weights_only=False)
    del ckpt["model_state_dict"]["sdf_prediction_head.0.weight"]
    torch.save(ckpt, weights / "center_boundary_model.pth")
    det = torch.load(weights / "unMORE_model.pth")
    det["model"].pop(next(iter(det["model"])))
    torch.save(det, weights / "unMORE_model.pth")
    (weights / "existence_model.pth").write_bytes(b"junk")

    status, rows = run(tree, capsys, "--detector_config", str(TINY_DETECTOR))
    assert status == 1
    expected = {
        "coco_val": "1/2 sampled images not found",
        "COCO*_Val_Class_Agnostic": "defects",
        "unMORE_coco_val17": "not valid JSON",
        "center_boundary_model": "sdf_prediction_head.0.weight",
        "unMORE_model": "1 missing",
        "existence_model": "",
    }
    for name, text in expected.items():
        mark, line = rows[name]
        assert mark == "BROKEN" and text in line, line


def test_large_json_is_reported_unchecked(tree, capsys):
    status, rows = run(tree, capsys, "--max_json_mb", "0", "--steps", "stage 2")
    assert status == 0 and rows["coco_val"][0] == "UNCHECKED"
    assert "unMORE_model" not in rows


def test_readme_downloads_table_is_the_catalogs(capsys):
    readme = (REPO / "README.md").read_text()
    assert markdown_table() in readme
    assert check_setup.main(["--downloads"]) == 0
    assert capsys.readouterr().out.strip() == markdown_table()
    for a in ARTIFACTS:  # each source is a URL, or the command that makes the file
        assert re.match(r"https?://|python ", a.url), a.name
    assert BY_NAME["center_boundary_model"].shown_path() == "weights/center_boundary_model.pth"
