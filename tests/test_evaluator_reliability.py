"""The evaluator validates its inputs with the checker's rules: no silent wrong number (issue 11)."""

import copy
import json
import logging

import numpy as np
import pytest

from COCO_evaluator.evaluate import evaluate_class_agnostic
from COCO_evaluator.main import main as evaluator_cli
from tools.check_coco_json import main as checker_cli
from utils.io import DataError
from utils.masks import mask_to_rle

H, W = 40, 50


@pytest.fixture
def warnings_seen():
    """Messages of the evaluator's logger."""
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    log = logging.getLogger("COCO_evaluator.evaluate")
    log.addHandler(handler)
    yield seen
    log.removeHandler(handler)


def _gt():
    images, anns = [], []
    for img_id in (1, 2):
        images.append({"id": img_id, "file_name": f"{img_id}.jpg", "height": H, "width": W})
        for y, x in ((4, 5), (20, 25)):
            m = np.zeros((H, W), bool)
            m[y:y + 10, x:x + 12 + img_id] = True
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": 1, "iscrowd": 0,
                         "bbox": [x, y, 12 + img_id, 10], "area": float(m.sum()),
                         "segmentation": mask_to_rle(m)})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "fg"}]}


def _perfect(gt):
    return [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"],
             "segmentation": a["segmentation"], "score": 0.9} for a in gt["annotations"]]


def _negative_width(gt):
    gt["annotations"][0]["bbox"][2] = -13


def _wrong_size_rle(gt):
    m = np.ones((H + 1, W), bool)
    gt["annotations"][1]["segmentation"] = mask_to_rle(m)


def _corrupt_rle(gt):
    gt["annotations"][2]["segmentation"]["counts"] = gt["annotations"][2]["segmentation"]["counts"][:-2]


@pytest.mark.parametrize("mutate, kind", [(_negative_width, "negative_size"), (_wrong_size_rle, "rle"),
                                          (_corrupt_rle, "rle")])
def test_gt_the_checker_flags_is_refused(tmp_path, capsys, mutate, kind):
    gt = _gt()
    preds = _perfect(gt)
    mutate(gt)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    expected = rf"{path}: 1 defects the evaluator cannot score correctly \({kind}: 1\)"
    with pytest.raises(DataError, match=expected):
        evaluate_class_agnostic(str(path), preds, tasks=("bbox",))
    # one shared validator: the checker CLI flags the very same file
    assert checker_cli([str(path)]) == 1
    assert f"[{kind}] annotation" in capsys.readouterr().out
    res = tmp_path / "res.json"
    res.write_text(json.dumps(preds))
    assert evaluator_cli(["--gt_annotations", str(path), "--pred_annotations", str(res)]) == 2
    assert "cannot score correctly" in capsys.readouterr().err


def test_repairable_gt_defects_still_score():
    gt = _gt()
    preds = _perfect(gt)
    for a in gt["annotations"]:
        del a["id"]  # renumbered by the evaluator
    gt["annotations"][0]["category_id"] = 7  # every category becomes "fg"
    assert evaluate_class_agnostic(gt, preds)["segm"]["AP"] == pytest.approx(100.0)


def test_predictions_without_score_are_counted(warnings_seen):
    gt = _gt()
    preds = _perfect(gt)
    for p in preds[:3]:
        del p["score"]
    out = evaluate_class_agnostic(gt, preds, tasks=("bbox",))
    assert out["bbox"]["AP"] == pytest.approx(100.0)
    assert any("3 of 4 results have no 'score' (nor 'weight')" in m for m in warnings_seen)


def test_skipped_predictions_are_counted_and_do_not_count(warnings_seen):
    gt = _gt()
    preds = _perfect(gt)
    bad = copy.deepcopy(preds[0])
    bad["bbox"][2] = -5.0
    del bad["segmentation"]
    out = evaluate_class_agnostic(gt, [*preds, bad], tasks=("bbox",))
    assert any(m.startswith("1 results with a negative or non-finite box") for m in warnings_seen)
    assert out == evaluate_class_agnostic(gt, preds, tasks=("bbox",))
    with pytest.raises(DataError, match="negative or non-finite"):
        evaluate_class_agnostic(gt, [*preds, bad], tasks=("bbox",), strict_image_ids=True)


def test_corrupt_prediction_mask_is_an_error():
    gt = _gt()
    preds = _perfect(gt)
    preds[1]["segmentation"] = mask_to_rle(np.ones((H, W + 3), bool))
    with pytest.raises(DataError, match=r"result #1 \(image 1\): RLE size \[40, 53\] differs"):
        evaluate_class_agnostic(gt, preds, tasks=("segm",))
