"""COCO JSON checker (each kind of defect on crafted fixtures) and the class-agnostic converter."""

import copy
import importlib.util
import json

import pytest
from helpers import set_at, two_image_coco

from coco_tools.checker import check_coco
from coco_tools.class_agnostic import to_class_agnostic


def _load_script(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _valid():
    more = [
        {"id": 11, "image_id": 2, "category_id": 7, "bbox": [0, 0, 20, 20], "area": 400.0, "iscrowd": 1,
         "segmentation": {"size": [20, 20], "counts": [0, 400]}},
        {"id": 12, "image_id": 2, "category_id": 3, "bbox": [1, 1, 5, 5], "area": 25.0, "iscrowd": 0,
         "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]]},
    ]
    return two_image_coco(3, more, [{"id": 3, "name": "cup"}, {"id": 7, "name": "person"}])


CASES = [
    ("duplicate_annotation_id", "annotation 10", set_at(["annotations", 1, "id"], 10)),
    ("duplicate_image_id", "image 1", set_at(["images", 1, "id"], 1)),
    ("missing_image", "annotation 12", set_at(["annotations", 2, "image_id"], 99)),
    ("missing_category", "annotation 10", set_at(["annotations", 0, "category_id"], 5)),
    ("bbox_outside", "annotation 10", set_at(["annotations", 0, "bbox"], [30, 5, 20, 10])),
    ("negative_size", "annotation 12", set_at(["annotations", 2, "bbox"], [1, 1, -2, 5])),
    ("negative_size", "annotation 12", set_at(["annotations", 2, "area"], -1)),
    ("bbox", "annotation 12", set_at(["annotations", 2, "bbox"], [1, 1, 5])),
    ("rle", "annotation 10", set_at(["annotations", 0, "segmentation", "size"], [40, 30])),
    ("rle", "annotation 11", set_at(["annotations", 1, "segmentation", "counts"], [0, 399])),
    ("rle", "annotation 10", set_at(["annotations", 0, "segmentation", "counts"], "PPP")),
    ("polygon", "annotation 12", set_at(["annotations", 2, "segmentation"], [[1, 1, 6, 1, 6]])),
    ("polygon", "annotation 12", set_at(["annotations", 2, "segmentation"], [[1, 1, 60, 1, 6, 6]])),
    ("iscrowd", "annotation 12", set_at(["annotations", 2, "iscrowd"], 2)),
    ("image_size", "image 2", set_at(["images", 1, "height"], 0)),
    ("duplicate_category_id", "category 3", set_at(["categories", 1, "id"], 3)),
]


def test_valid_fixture_has_no_defects():
    assert check_coco(_valid()) == []
    data = _valid()
    data["annotations"][0]["bbox"] = [10.5, 5, 30, 25.5]  # 0.5 px over the border: within the tolerance
    assert check_coco(data) == []


@pytest.mark.parametrize("kind,where,mutate", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_defect_is_reported(kind, where, mutate):
    data = _valid()
    mutate(data)
    defects = check_coco(data)
    assert defects, kind
    assert any(d.kind == kind and d.where == where for d in defects), [str(d) for d in defects]
    consequences = {"duplicate_category_id": {"missing_category"}, "duplicate_image_id": {"missing_image"}}
    unrelated = consequences.get(kind, set())
    assert all(d.kind == kind or d.kind in unrelated for d in defects), [str(d) for d in defects]


def test_checker_cli_exit_codes(tmp_path, capsys):
    cli = _load_script("tools/check_coco_json.py", "check_coco_json")
    (tmp_path / "ok.json").write_text(json.dumps(_valid()))
    assert cli.main([str(tmp_path / "ok.json")]) == 0
    bad = _valid()
    bad["annotations"][2]["image_id"] = 99
    bad["annotations"][1]["id"] = 10
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert cli.main([str(tmp_path / "bad.json")]) == 1
    out = capsys.readouterr().out
    assert "annotation 12" in out and "annotation 10" in out and "2 defects" in out
    (tmp_path / "broken.json").write_text("{")
    assert cli.main([str(tmp_path / "broken.json")]) == 2


def test_class_agnostic_conversion(tmp_path):
    data = _valid()
    data["images"][0]["neg_category_ids"] = [3]  # LVIS-style field: kept untouched
    del data["annotations"][2]["area"], data["annotations"][2]["iscrowd"]
    before = copy.deepcopy(data)
    out = to_class_agnostic(data)
    assert data == before  # input untouched
    assert out["categories"] == [{"id": 1, "name": "fg", "supercategory": "fg"}]
    assert out["images"] == data["images"]
    assert [a["category_id"] for a in out["annotations"]] == [1, 1, 1]
    assert [a["id"] for a in out["annotations"]] == [10, 11, 12]
    assert out["annotations"][2]["area"] == 25.0 and out["annotations"][2]["iscrowd"] == 0
    assert check_coco(out) == []
    dropped = to_class_agnostic(data, drop_crowd=True)
    assert [a["id"] for a in dropped["annotations"]] == [10, 12]
    cli = _load_script("tools/convert_to_cls_agnostic.py", "convert_to_cls_agnostic")
    (tmp_path / "lvis_val.json").write_text(json.dumps(data))
    assert cli.main(["--input", str(tmp_path / "lvis_val.json"), "--drop_crowd"]) == 0
    written = json.loads((tmp_path / "lvis_val_cls_agnostic.json").read_text())
    assert written["annotations"] == dropped["annotations"]
