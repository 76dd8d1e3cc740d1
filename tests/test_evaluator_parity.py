"""Evaluator parity with a direct pycocotools COCOeval run (categories merged by hand), and edge cases."""

import contextlib
import copy
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from COCO_evaluator.evaluate import evaluate_class_agnostic
from COCO_evaluator.main import main as cli_main
from utils.io import DataError
from utils.masks import mask_to_box_xyxy, mask_to_rle, xyxy_to_xywh

KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
H, W = 160, 200


def _ellipse(cy, cx, ry, rx):
    yy, xx = np.mgrid[:H, :W]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def _crafted(seed=0):
    """GT with 3 categories, a crowd region, polygons, an empty image; noisy multi-category predictions."""
    rng = np.random.default_rng(seed)
    images, anns, preds = [], [], []
    for img_id in range(1, 7):
        images.append({"id": img_id, "file_name": f"{img_id}.jpg", "height": H, "width": W})
        if img_id == 6:
            continue  # image without objects
        for _ in range(int(rng.integers(2, 6))):
            ry, rx = rng.uniform(4, 60), rng.uniform(4, 70)
            m = _ellipse(rng.uniform(ry, H - ry), rng.uniform(rx, W - rx), ry, rx)
            box = xyxy_to_xywh(mask_to_box_xyxy(m))
            ann = {"id": len(anns) + 1, "image_id": img_id, "category_id": int(rng.choice([1, 3, 7])),
                   "bbox": box, "area": float(m.sum()), "iscrowd": 0, "segmentation": mask_to_rle(m)}
            if len(anns) % 4 == 1:  # some polygon ground truth
                x, y, w, h = box
                ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
                ann["area"] = float(w * h)
            anns.append(ann)
            if img_id == 5:
                continue  # image without predictions
            for _ in range(int(rng.integers(0, 3))):
                dy, dx = rng.integers(-6, 7, size=2)
                pm = np.roll(m, (int(dy), int(dx)), axis=(0, 1))
                if not pm.any():
                    continue
                preds.append({"image_id": img_id, "category_id": int(rng.choice([1, 3, 7, 50])),
                              "bbox": xyxy_to_xywh(mask_to_box_xyxy(pm)), "segmentation": mask_to_rle(pm),
                              "score": float(rng.uniform(0.05, 1))})
        crowd = np.zeros((H, W), bool)
        crowd[:20, :30] = True
        if img_id == 2:
            anns.append({"id": len(anns) + 1, "image_id": 2, "category_id": 3, "bbox": [0, 0, 30, 20],
                         "area": 600.0, "iscrowd": 1, "segmentation": mask_to_rle(crowd)})
        for _ in range(2):  # false positives
            x, y = rng.uniform(0, W - 40), rng.uniform(0, H - 40)
            fm = np.zeros((H, W), bool)
            fm[int(y):int(y) + 30, int(x):int(x) + 25] = True
            preds.append({"image_id": img_id, "category_id": 1, "bbox": xyxy_to_xywh(mask_to_box_xyxy(fm)),
                          "segmentation": mask_to_rle(fm), "score": float(rng.uniform(0, 0.5))})
    cats = [{"id": c, "name": f"c{c}"} for c in (1, 3, 7)]
    return {"images": images, "annotations": anns, "categories": cats}, preds


def _direct_stats(gt, preds, task):
    gt = copy.deepcopy(gt)
    for a in gt["annotations"]:
        a["category_id"] = 1
    gt["categories"] = [{"id": 1, "name": "fg"}]
    dets = []
    for p in preds:
        d = {"image_id": p["image_id"], "category_id": 1, "score": p["score"]}
        d["bbox" if task == "bbox" else "segmentation"] = copy.deepcopy(
            p["bbox"] if task == "bbox" else p["segmentation"])
        dets.append(d)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), task)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.parametrize("seed", [0, 1])
def test_parity_with_cocoeval(seed):
    gt, preds = _crafted(seed)
    ours = evaluate_class_agnostic(gt, preds, tasks=("bbox", "segm"))
    for task in ("bbox", "segm"):
        stats = _direct_stats(gt, preds, task)
        for k, v in zip(KEYS, stats):
            expected = -1.0 if v < 0 else float(v * 100)
            assert ours[task][k] == expected, (task, k)
        assert 0 < ours[task]["AP"] < 100


def test_perfect_prediction_gives_100():
    gt, _ = _crafted(3)
    gt["annotations"] = [a for a in gt["annotations"] if not a["iscrowd"]]
    preds = []
    for a in gt["annotations"]:
        seg = a["segmentation"]
        if isinstance(seg, list):  # polygon GT: predict its exact mask
            from pycocotools import mask as mu
            rle = mu.merge(mu.frPyObjects(seg, H, W))
            seg = {"size": rle["size"], "counts": rle["counts"].decode()}
        preds.append({"image_id": a["image_id"], "category_id": 99, "bbox": a["bbox"], "segmentation": seg,
                      "score": 0.9})
    out = evaluate_class_agnostic(gt, preds)
    assert out["bbox"]["AP"] == pytest.approx(100.0)
    assert out["segm"]["AP"] == pytest.approx(100.0)
    assert out["bbox"]["AR100"] == pytest.approx(100.0)


def test_discovery_format_string_ids_and_unknown_images():
    gt, _ = _crafted(0)
    disc = {}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        disc.setdefault(str(a["image_id"]), []).append([x, y, x + w, y + h])
    disc["not_an_image"] = [[0, 0, 5, 5]]
    out = evaluate_class_agnostic(gt, disc)
    assert set(out) == {"bbox"}  # boxes only: no segm task
    assert out["bbox"]["AP50"] == pytest.approx(100.0)
    with pytest.raises(DataError, match="not in the ground truth"):
        evaluate_class_agnostic(gt, disc, strict_image_ids=True)


def test_empty_results_and_extra_max_dets():
    gt, preds = _crafted(0)
    out = evaluate_class_agnostic(gt, [], max_dets=(1, 10, 100, 1000))
    assert out["bbox"]["AP"] == 0.0 and out["segm"]["AR1000"] == 0.0
    out = evaluate_class_agnostic(gt, preds, tasks=("bbox",), max_dets=(1000,))
    assert out["bbox"]["AR1000"] >= out["bbox"]["AR100"] >= out["bbox"]["AR10"]
    assert out["bbox"]["AP"] == evaluate_class_agnostic(gt, preds, tasks=("bbox",))["bbox"]["AP"]


def test_cli_writes_ap_score_and_reports_malformed_json(tmp_path, capsys):
    gt, preds = _crafted(1)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    args = ["--gt_annotations", str(tmp_path / "gt.json"), "--pred_annotations", str(tmp_path / "pred.json"),
            "--output_dir", str(tmp_path / "out")]
    r = subprocess.run([sys.executable, "COCO_evaluator/main.py", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "out" / "ap_score.json").read_text())
    assert saved == evaluate_class_agnostic(gt, preds)
    assert "AP50" in r.stdout
    (tmp_path / "bad.json").write_text("[{")
    args[3] = str(tmp_path / "bad.json")
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "not valid JSON" in err and "bad.json" in err


def test_result_forms_normalised():
    gt, preds = _crafted(2)
    reference = evaluate_class_agnostic(gt, preds)
    # string image ids, masks without boxes (bbox derived from the mask), score from 'weight'
    alt = [{"image_id": f"{p['image_id']:012d}", "segmentation": p["segmentation"], "weight": p["score"]}
           for p in preds]
    out = evaluate_class_agnostic(gt, alt)
    assert out["segm"] == reference["segm"]
    from pycocotools import mask as mu
    derived = [dict(p, bbox=[float(v) for v in mu.toBbox(p["segmentation"])]) for p in preds]
    assert out["bbox"] == evaluate_class_agnostic(gt, derived)["bbox"]
    bad = [dict(preds[0], segmentation={"size": [H + 1, W], "counts": preds[0]["segmentation"]["counts"]})]
    with pytest.raises(DataError, match="differs from the image size"):
        evaluate_class_agnostic(gt, bad)
    mixed = [preds[0], {k: v for k, v in preds[1].items() if k != "segmentation"}]
    with pytest.raises(DataError, match="1 of 2 results have no 'segmentation'"):
        evaluate_class_agnostic(gt, mixed)
    assert set(evaluate_class_agnostic(gt, mixed, tasks=("bbox",))) == {"bbox"}
