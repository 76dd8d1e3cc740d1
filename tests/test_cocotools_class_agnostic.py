"""One class-agnostic conversion: the converter's and the evaluator's (strict) results agree on the fixtures,
and differ only where strict mode is documented to."""

import copy
import json
from pathlib import Path

import pytest

from COCO_evaluator.evaluate import _load_gt
from coco_tools.class_agnostic import to_class_agnostic
from utils.io import DataError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["original_reasoning/gt.json", "coins_pseudo_gt.json",
                                  "photos_pseudo_gt.json"])
def test_converter_and_evaluator_agree_on_the_fixtures(name):
    data = json.loads((FIXTURES / name).read_text())
    before = copy.deepcopy(data)
    converted = to_class_agnostic(data)
    evaluated = _load_gt(str(FIXTURES / name))
    assert data == before
    for key in ("images", "annotations", "categories"):
        assert converted[key] == evaluated[key]
    assert {a["category_id"] for a in evaluated["annotations"]} == {1}
    assert all("area" in a and a["iscrowd"] in (0, 1) for a in evaluated["annotations"])


def _edge_cases() -> dict:
    return {"info": {"v": 1}, "licenses": [],
            "images": [{"id": 1, "height": 10, "width": 10}],
            "annotations": [{"id": 4, "image_id": 1, "category_id": 3, "bbox": [1, 1, 3, 4],
                             "segmentation": [[1, 1, 4, 1, 4, 5, 1, 5]]},
                            {"id": 4, "image_id": 9, "category_id": 2, "bbox": [0, 0, 2, 2], "iscrowd": 1}]}


def test_strict_mode_drops_orphans_and_extra_keys_and_renumbers():
    strict = to_class_agnostic(_edge_cases(), strict=True)
    loose = to_class_agnostic(_edge_cases())
    assert list(strict) == ["info", "images", "annotations", "categories"]
    assert "licenses" in loose
    assert [a["id"] for a in strict["annotations"]] == [4]
    assert [(a["id"], a["iscrowd"], a["area"]) for a in loose["annotations"]] == [(1, 0, 12.0), (2, 1, 4.0)]
    assert [a["id"] for a in to_class_agnostic(_edge_cases(), drop_crowd=True)["annotations"]] == [4]


def test_strict_mode_refuses_what_cannot_be_scored():
    no_area = {"images": [{"id": 1}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1}]}
    assert "area" not in to_class_agnostic(no_area)["annotations"][0]
    with pytest.raises(DataError, match="neither 'area', 'segmentation' nor 'bbox'"):
        to_class_agnostic(no_area, strict=True)
    with pytest.raises(DataError, match=r"images\[0\] has no 'id'"):
        to_class_agnostic({"images": [{}], "annotations": []}, strict=True)
    with pytest.raises(DataError, match=r"annotations\[0\] has no 'image_id'"):
        to_class_agnostic({"images": [], "annotations": [{"id": 1}]}, strict=True)
