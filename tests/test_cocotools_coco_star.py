"""COCO*: merging extra labels into COCO val2017, the class-agnostic file, and category statistics."""

import copy
import importlib.util
import json

import numpy as np
import pytest

from coco_tools.checker import check_coco
from coco_tools.coco_star import category_stats, merge_extra_labels, merge_with_class_agnostic
from utils.io import DataError
from utils.masks import mask_to_rle


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, f"COCO*/utils/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rle(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return mask_to_rle(m)


def _original():
    return {
        "info": {"description": "COCO 2017"}, "licenses": [{"id": 1}],
        "images": [{"id": 139, "file_name": "000000000139.jpg", "height": 20, "width": 30},
                   {"id": 285, "file_name": "000000000285.jpg", "height": 25, "width": 25}],
        "annotations": [
            {"id": 900100, "image_id": 139, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 20.5,
             "iscrowd": 0, "segmentation": [[0, 0, 5, 0, 5, 5, 0, 5]]},
            {"id": 42, "image_id": 285, "category_id": 90, "bbox": [1, 1, 3, 3], "area": 9.0, "iscrowd": 1,
             "segmentation": _rle(25, 25, 1, 4, 1, 4)},
        ],
        "categories": [{"id": 1, "name": "person", "supercategory": "person"},
                       {"id": 44, "name": "bottle", "supercategory": "kitchen"},
                       {"id": 90, "name": "toothbrush", "supercategory": "indoor"}],
    }


def _extra():
    return {
        "images": [{"id": 139, "file_name": "000000000139.jpg", "height": 20, "width": 30},
                   {"id": 7, "file_name": "000000000285.jpg"}],  # matched by file name
        "annotations": [
            {"id": 1, "image_id": 139, "category_id": 1, "bbox": [2, 2, 6, 6],
             "segmentation": _rle(20, 30, 2, 8, 2, 6), "area": 999},
            {"id": 2, "image_id": 7, "category_id": 2, "bbox": [0, 0, 10, 10],
             "segmentation": _rle(25, 25, 0, 10, 0, 10)},
            {"id": 3, "image_id": 7, "category_id": 101, "bbox": [5, 5, 4, 4],
             "segmentation": _rle(25, 25, 5, 9, 5, 8)},
            {"id": 4, "image_id": 139, "category_id": 44, "bbox": [0, 0, 3, 3],
             "segmentation": _rle(20, 30, 0, 3, 0, 3)},
        ],
        "categories": [{"id": 1, "name": "lamp"}, {"id": 2, "name": "Bottle"}, {"id": 44, "name": "pillow"},
                       {"id": 101, "name": "cabinet"}, {"id": 102, "name": "prize"}],
    }


def test_merge_keeps_originals_and_appends_categories():
    original, extra = _original(), _extra()
    before = copy.deepcopy(original)
    merged, agnostic = merge_with_class_agnostic(original, extra)
    assert original == before
    assert merged["annotations"][:2] == before["annotations"]  # unchanged, same order
    assert merged["info"] == before["info"] and merged["licenses"] == before["licenses"]
    assert merged["images"] == before["images"]
    cats = {c["name"]: c["id"] for c in merged["categories"]}
    assert cats["person"] == 1 and cats["bottle"] == 44  # name match reuses COCO's id ("Bottle")
    assert cats["cabinet"] == 101 and cats["prize"] == 102  # free ids after COCO's max are kept
    assert cats["lamp"] == 103 and cats["pillow"] == 104  # colliding ids get fresh ones
    assert merged["categories"][:3] == before["categories"]
    new = merged["annotations"][2:]
    assert [a["id"] for a in new] == [900101, 900102, 900103, 900104]
    assert [a["image_id"] for a in new] == [139, 285, 285, 139]
    assert [a["category_id"] for a in new] == [103, 44, 101, 104]
    assert [a["area"] for a in new] == [24.0, 100.0, 12.0, 9.0]  # from the masks, not the given 999
    assert all(a["iscrowd"] == 0 for a in new)
    assert len({a["id"] for a in merged["annotations"]}) == len(merged["annotations"])
    assert check_coco(merged) == []
    assert agnostic["categories"] == [{"id": 1, "name": "fg", "supercategory": "fg"}]
    assert [a["id"] for a in agnostic["annotations"]] == [a["id"] for a in merged["annotations"]]
    assert {a["category_id"] for a in agnostic["annotations"]} == {1}
    assert check_coco(agnostic) == []


def test_merge_errors():
    extra = _extra()
    extra["images"].append({"id": 5, "file_name": "000000999999.jpg"})
    with pytest.raises(DataError, match="000000999999.jpg"):
        merge_extra_labels(_original(), extra)
    extra = _extra()
    del extra["annotations"][1]["segmentation"]
    with pytest.raises(DataError, match="extra annotation 2: no mask"):
        merge_extra_labels(_original(), extra)
    extra = _extra()
    extra["annotations"][0]["segmentation"] = _rle(21, 30, 0, 2, 0, 2)
    with pytest.raises(DataError, match="extra annotation 1: mask size"):
        merge_extra_labels(_original(), extra)


def test_category_stats_and_scripts(tmp_path, capsys):
    stats = category_stats(_extra())
    assert stats == [{"id": 1, "name": "lamp", "count": 1}, {"id": 2, "name": "Bottle", "count": 1},
                     {"id": 44, "name": "pillow", "count": 1}, {"id": 101, "name": "cabinet", "count": 1},
                     {"id": 102, "name": "prize", "count": 0}]
    (tmp_path / "instances_val2017.json").write_text(json.dumps(_original()))
    (tmp_path / "extra.json").write_text(json.dumps(_extra()))
    out = tmp_path / "COCO_star_val2017.json"
    merge = _load_script("merge_extra_labels_with_original")
    assert merge.main(["--original", str(tmp_path / "instances_val2017.json"), "--extra",
                       str(tmp_path / "extra.json"), "--out", str(out)]) == 0
    agnostic = json.loads((tmp_path / "COCO_star_val2017_cls_agnostic.json").read_text())
    assert len(agnostic["annotations"]) == 6 and len(agnostic["categories"]) == 1
    stats_cli = _load_script("compute_category_stats")
    assert stats_cli.DEFAULT_OUT.name == "category_stats.json"
    assert stats_cli.DEFAULT_OUT.parent.name == "COCO*"
    assert stats_cli.main(["--labels", str(tmp_path / "extra.json"), "--out",
                           str(tmp_path / "stats.json")]) == 0
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    (tmp_path / "bad.json").write_text("nope")
    assert stats_cli.main(["--labels", str(tmp_path / "bad.json"), "--out", str(tmp_path / "s.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
