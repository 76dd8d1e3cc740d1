"""VIA (1.x, 2.x export/project, 3.x project) and COCO box files -> boxes-only COCO datasets."""

import json

import pytest

from coco_tools.box_sources import load_box_annotations, parse_coco_boxes, parse_via
from utils.io import DataError

REFERENCE = {
    "images": [{"id": 397133, "file_name": "000000397133.jpg", "height": 427, "width": 640},
               {"id": 37777, "file_name": "000000037777.jpg", "height": 230, "width": 352}],
    "categories": [{"id": 44, "name": "bottle"}, {"id": 90, "name": "toothbrush"}],
}


def _rect(x, y, w, h):
    return {"name": "rect", "x": x, "y": y, "width": w, "height": h}


def _via2_export():
    first = [
        {"shape_attributes": _rect(10, 20, 30, 40), "region_attributes": {"category": "Bottle"}},
        {"shape_attributes": _rect(100, 50, 60, 20), "region_attributes": {"category": "lamp"}},
    ]
    second = [  # checkbox attribute: one option ticked
        {"shape_attributes": _rect(1, 2, 3, 4),
         "region_attributes": {"category": {"pillow": True, "x": False}}},
    ]
    return {
        "000000397133.jpg1234": {"filename": "000000397133.jpg", "size": 1234, "file_attributes": {},
                                 "regions": first},
        "000000037777.jpg99": {"filename": "000000037777.jpg", "size": 99, "file_attributes": {},
                               "regions": second},
    }


def test_via2_export_and_project_with_reference():
    for data in (_via2_export(), {"_via_settings": {}, "_via_img_metadata": _via2_export(),
                                  "_via_attributes": {}}):
        out = parse_via(data, reference=REFERENCE)
        assert [img["id"] for img in out["images"]] == [397133, 37777]
        assert out["images"][1]["height"] == 230
        assert out["categories"] == [{"id": 44, "name": "bottle"}, {"id": 91, "name": "lamp"},
                                     {"id": 92, "name": "pillow"}]
        assert [(a["image_id"], a["category_id"], a["bbox"]) for a in out["annotations"]] == [
            (397133, 44, [10.0, 20.0, 30.0, 40.0]), (397133, 91, [100.0, 50.0, 60.0, 20.0]),
            (37777, 92, [1.0, 2.0, 3.0, 4.0])]
        assert [a["id"] for a in out["annotations"]] == [1, 2, 3]


def test_via1_regions_dict_without_reference():
    data = {"000000000042.jpg5": {"filename": "000000000042.jpg", "size": 5, "regions": {
        "1": {"shape_attributes": _rect(5, 5, 10, 10), "region_attributes": {"label": "cup"}},
        "0": {"shape_attributes": _rect(0, 0, 4, 4), "region_attributes": {"label": "plate"}}}}}
    out = parse_via(data, category_attribute="label")
    assert out["images"] == [{"id": 42, "file_name": "000000000042.jpg"}]
    assert [c["name"] for c in out["categories"]] == ["plate", "cup"]
    assert out["annotations"][0]["bbox"] == [0.0, 0.0, 4.0, 4.0]


def test_via3_project():
    data = {
        "project": {"pname": "coco*"},
        "attribute": {"1": {"aname": "category", "anchor_id": "FILE1_Z0_XY1", "type": 3,
                            "options": {"0": "lamp", "1": "sink"}}},
        "file": {"1": {"fid": "1", "fname": "000000397133.jpg", "type": 2, "loc": 1, "src": ""}},
        "view": {"1": {"fid_list": ["1"]}},
        "metadata": {
            "1_a": {"vid": "1", "flg": 0, "z": [], "xy": [2, 11, 12, 13, 14], "av": {"1": "1"}},
            "1_b": {"vid": "1", "flg": 0, "z": [], "xy": [2, 1, 2, 3, 4], "av": {"1": "0"}},
        },
    }
    out = parse_via(data, reference=REFERENCE)
    assert [(a["category_id"], a["bbox"]) for a in out["annotations"]] == [(91, [11.0, 12.0, 13.0, 14.0]),
                                                                          (92, [1.0, 2.0, 3.0, 4.0])]
    assert [c["name"] for c in out["categories"]] == ["sink", "lamp"]
    data["metadata"]["1_b"]["av"] = {}
    with pytest.raises(DataError, match=r"image '000000397133.jpg' region 1 .*'category'"):
        parse_via(data)


def test_missing_or_bad_attributes_name_the_region():
    data = _via2_export()
    del data["000000037777.jpg99"]["regions"][0]["region_attributes"]["category"]
    with pytest.raises(DataError, match=r"image '000000037777.jpg' region 0: no 'category' region attribute"):
        parse_via(data)
    data = _via2_export()
    data["000000397133.jpg1234"]["regions"][1]["region_attributes"]["category"] = ""
    with pytest.raises(DataError, match="region 1: 'category' must name exactly one category"):
        parse_via(data)
    data = _via2_export()
    data["000000397133.jpg1234"]["regions"][0]["shape_attributes"] = {"name": "polygon", "all_points_x": [1]}
    with pytest.raises(DataError, match="region 0: region shape is 'polygon'"):
        parse_via(data)
    with pytest.raises(DataError, match="not among the reference images"):
        parse_via({"x.jpg1": {"filename": "x.jpg", "size": 1, "regions": []}}, reference=REFERENCE)


def test_coco_boxes_and_file_detection(tmp_path):
    coco = {"images": REFERENCE["images"], "categories": REFERENCE["categories"],
            "annotations": [{"id": 5, "image_id": 397133, "category_id": 44, "bbox": [1, 2, 3, 4],
                             "segmentation": [[0, 0, 1, 0, 1, 1]], "area": 9}]}
    out = parse_coco_boxes(coco)
    assert out["annotations"] == [{"id": 5, "image_id": 397133, "category_id": 44,
                                   "bbox": [1.0, 2.0, 3.0, 4.0], "iscrowd": 0}]
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    (tmp_path / "via.json").write_text(json.dumps(_via2_export()))
    assert load_box_annotations(tmp_path / "coco.json")["annotations"][0]["id"] == 5
    assert len(load_box_annotations(tmp_path / "via.json")["annotations"]) == 3
    bad = dict(coco, annotations=[{"id": 7, "image_id": 397133, "bbox": [1, 2, 3, 4]}])
    with pytest.raises(DataError, match="annotation 7 .*no 'category_id'"):
        parse_coco_boxes(bad)
    zero = dict(coco, annotations=[{"id": 8, "image_id": 397133, "category_id": 44, "bbox": [1, 2, 0, 4]}])
    (tmp_path / "zero.json").write_text(json.dumps(zero))
    with pytest.raises(DataError, match="annotation 8"):
        load_box_annotations(tmp_path / "zero.json")
