"""post_process.py (pseudo-label selection) and merge_coco_and_imagenet.py."""

import json

import numpy as np
import pytest

import merge_coco_and_imagenet
import post_process
from coco_tools.checker import check_coco
from coco_tools.pseudo_labels import merge_coco_and_imagenet as merge_fn
from coco_tools.pseudo_labels import select_pseudo_labels
from coco_tools.splits import split_annotation_path
from utils.io import DataError
from utils.masks import mask_to_rle

GT = {"images": [{"id": 1, "file_name": "a.jpg", "height": 20, "width": 30},
                 {"id": 2, "file_name": "b.jpg", "height": 20, "width": 30},
                 {"id": 3, "file_name": "c.jpg", "height": 20, "width": 30}],
      "annotations": [], "categories": [{"id": 1, "name": "fg"}]}


def _result(image_id, e, c, b, area_score, x0=2):
    mask = np.zeros((20, 30), bool)
    mask[3:9, x0:x0 + 5] = True
    return {"image_id": image_id, "category_id": 1, "bbox": [x0, 3, 5, 6], "segmentation": mask_to_rle(mask),
            "score": e * c * b * area_score, "existence_score": e, "center_score": c, "boundary_score": b,
            "area_score": area_score}


RESULTS = [
    _result(1, 0.9, 0.9, 0.9, 1.0),        # kept
    _result("2", 0.5, 0.8, 0.75, 0.7),     # kept: thresholds are inclusive; string id normalised
    _result(2, 0.49, 0.9, 0.9, 1.0),       # existence too low
    _result(3, 0.9, 0.79, 0.9, 1.0),       # center too low
    _result(3, 0.9, 0.9, 0.74, 1.0),       # boundary too low
    _result(1, 0.9, 0.95, 0.8, 0.5, x0=20),  # kept
    _result(99, 0.9, 0.95, 0.8, 0.5),      # image not in the list: dropped with a warning
]


def test_selection_rules():
    out = select_pseudo_labels(RESULTS, GT)
    assert out["images"] == GT["images"]
    assert out["categories"] == [{"id": 1, "name": "fg", "supercategory": "fg"}]
    anns = out["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3]
    assert [a["image_id"] for a in anns] == [1, 2, 1]
    assert [a["score"] for a in anns] == [1.0, 0.7, 0.5]  # score := area_score
    assert all(a["area"] == 30.0 and a["iscrowd"] == 0 and "existence_score" in a for a in anns)
    assert check_coco(out) == []
    assert len(select_pseudo_labels(RESULTS, GT, existence_thres=0.0, center_thres=0.0,
                                    boundary_thres=0.0)["annotations"]) == 6
    with pytest.raises(DataError, match="result #0 .*lacks center_score"):
        select_pseudo_labels([{k: v for k, v in RESULTS[0].items() if k != "center_score"}], GT)


def test_post_process_cli(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "object_discovery_with_scores.json").write_text(json.dumps(RESULTS))
    root = tmp_path / "data"
    (root / "coco" / "annotations").mkdir(parents=True)
    (root / "coco" / "annotations" / "coco_cls_agnostic_instances_train2017.json").write_text(json.dumps(GT))
    args = ["--pred_annotations_path", str(run / "object_discovery_with_scores.json"),
            "--existence_score_thres", "0.5", "--center_score_thres", "0.8", "--boundary_score_thres", "0.75"]
    assert post_process.main(args + ["--dataset", "COCO", "--split", "train", "--data_root", str(root)]) == 0
    out = json.loads((run / "selected_training_annotations.json").read_text())
    assert len(out["annotations"]) == 3
    assert json.loads((run / "configs_post_process.json").read_text())["center_score_thres"] == 0.8
    monkeypatch.setenv("DETECTRON2_DATASETS", str(root))
    val_path = root / "coco/annotations/coco_cls_agnostic_instances_val2017.json"
    assert split_annotation_path("COCO", "test") == val_path
    gt_path = root / "coco" / "annotations" / "coco_cls_agnostic_instances_train2017.json"
    assert post_process.main(args + ["--gt_annotations", str(gt_path), "--output_path",
                                     str(tmp_path / "o.json")]) == 0
    assert json.loads((tmp_path / "o.json").read_text()) == out
    assert post_process.main(args + ["--dataset", "COCO", "--split", "test"]) == 2  # val file absent


def _imagenet():
    mask = np.zeros((16, 16), bool)
    mask[2:10, 3:12] = True
    rle = mask_to_rle(mask)
    images = [{"id": 1, "file_name": "n01440764/n01440764_1.JPEG", "height": 16, "width": 16},
              {"id": 2, "file_name": "n01440764/n01440764_2.JPEG", "height": 16, "width": 16}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 2, 9, 8], "segmentation": rle, "area": 72,
             "iscrowd": 0, "weight": 0.9},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [3, 2, 9, 8], "segmentation": rle, "area": 72,
             "iscrowd": 0, "weight": 0.3},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [3, 2, 9, 8], "segmentation": rle, "area": 72,
             "iscrowd": 0, "weight": 0.5}]
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "fg"}]}


def test_merge_coco_and_imagenet(tmp_path):
    coco = select_pseudo_labels(RESULTS, GT)
    merged = merge_fn(coco, _imagenet())
    ids = [img["id"] for img in merged["images"]]
    assert ids == ["imagenet_1", "imagenet_2", "coco_1", "coco_2", "coco_3"]
    assert [img["dataset"] for img in merged["images"]] == ["imagenet"] * 2 + ["coco"] * 3
    assert merged["images"][0]["file_name"] == "n01440764/n01440764_1.JPEG"
    assert merged["images"][2]["file_name"] == "a.jpg"
    anns = merged["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3, 4, 5]
    assert [a["image_id"] for a in anns] == ["imagenet_1", "imagenet_2", "coco_1", "coco_2", "coco_1"]
    assert [a["score"] for a in anns] == [0.9, 0.5, 1.0, 0.7, 0.5]
    assert merged["categories"] == [{"id": 1, "name": "fg", "supercategory": "fg"}]
    assert check_coco(merged) == []
    assert merge_fn(coco, _imagenet(), min_weight=0.95)["annotations"][0]["image_id"] == "coco_1"
    # CLI: default output folder next to the COCO file
    (tmp_path / "sel.json").write_text(json.dumps(coco))
    (tmp_path / "votecut.json").write_text(json.dumps(_imagenet()))
    assert merge_coco_and_imagenet.main([
        "--coco_annotations_training_format_path", str(tmp_path / "sel.json"),
        "--imagenet_annotations_training_format_path", str(tmp_path / "votecut.json")]) == 0
    written = tmp_path / "merged_with_imagenet" / "COCO_merged_IN_training_format.json"
    assert json.loads(written.read_text()) == json.loads(json.dumps(merged))
