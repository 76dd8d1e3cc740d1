"""Reasoning and scoring with the ground-truth oracle: synthetic-scene recall/AP, seams, no re-prediction."""

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from COCO_evaluator.evaluate import evaluate_class_agnostic
from datasets.synthetic import make_scene_dataset
from reasoning.algorithm import Reasoner, ReasoningConfig
from reasoning.crops import pixel_boxes
from reasoning.images import list_images
from reasoning.oracle import OraclePredictor
from reasoning.scoring import score_boxes
from utils.io import load_image_rgb, load_json
from utils.masks import mask_to_rle, xywh_to_xyxy


class RecordingPredictor:
    """Wraps a predictor and remembers every pixel box it was asked to predict fields (or sdf maps) for."""

    def __init__(self, inner):
        self.inner = inner
        self.field_boxes = []

    def predict(self, image, boxes, want, image_id=None):
        if "fields" in want or "sdf" in want:
            self.field_boxes += list(map(tuple, pixel_boxes(boxes, *image.shape[1:]).tolist()))
        return self.inner.predict(image, boxes, want, image_id)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    out = []
    for layout in ("separated", "touching", "occluding"):
        make_scene_dataset(root, layout, 2, 128, seed=11, layout=layout, max_objects=4)
        ann = root / "annotations" / f"{layout}_cls_agnostic.json"
        out.append((layout, load_json(ann), list_images(root / layout, ann)))
    return out


def _image(rec):
    return torch.from_numpy(load_image_rgb(rec.path).copy()).permute(2, 0, 1).float() / 255


def test_oracle_discovers_separated_touching_and_occluding_objects(scenes):
    hits = total = 0
    all_gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "fg"}]}
    results = []
    for k, (_, gt, records) in enumerate(scenes):
        predictor = OraclePredictor(gt)
        reasoner = Reasoner(predictor, ReasoningConfig(analyze_cc=True))
        for rec in records:
            image = _image(rec)
            found = reasoner.discover(image, rec.image_id)
            anns, masks = score_boxes(predictor, image, found.boxes, rec.image_id)
            assert len(anns) <= 100 and masks.shape[1:] == image.shape[1:]
            gt_boxes = torch.tensor([xywh_to_xyxy(a["bbox"]) for a in gt["annotations"]
                                     if a["image_id"] == rec.image_id])
            det = torch.tensor([xywh_to_xyxy(a["bbox"]) for a in anns]).reshape(-1, 4)
            if len(det):
                hits += int((box_iou(gt_boxes, det).amax(1) >= 0.5).sum())
            total += len(gt_boxes)
            new_id = k * 1000 + rec.image_id  # one combined GT over the three layouts
            for a in anns:
                results.append({**a, "image_id": new_id})
        for im in gt["images"]:
            all_gt["images"].append({**im, "id": k * 1000 + im["id"]})
        for a in gt["annotations"]:
            all_gt["annotations"].append({**a, "id": k * 1000 + a["id"],
                                          "image_id": k * 1000 + a["image_id"]})
    recall = hits / total
    scores = evaluate_class_agnostic(all_gt, results)
    print(f"oracle: box recall@0.5 {recall:.3f}, box AP50 {scores['bbox']['AP50']:.1f}, "
          f"mask AP50 {scores['segm']['AP50']:.1f}")
    assert recall >= 0.95
    assert scores["bbox"]["AP50"] >= 80


def _two_touching_discs():
    """Two overlapping discs; the right one is in front, so the seam is at x = 98."""
    h, w = 120, 200
    yy, xx = np.mgrid[:h, :w]
    right = (yy - 60) ** 2 + (xx - 130) ** 2 <= 32**2
    left = ((yy - 60) ** 2 + (xx - 70) ** 2 <= 32**2) & ~right
    masks = [left, right]
    gt = {"images": [{"id": 1, "height": h, "width": w, "file_name": "x.png"}],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": int(m.sum()),
                           "bbox": [0, 0, 1, 1], "segmentation": mask_to_rle(m)}
                          for i, m in enumerate(masks)],
          "categories": [{"id": 1, "name": "fg"}]}
    return gt, torch.zeros(3, h, w)


def test_split_happens_on_the_seam_between_touching_objects():
    gt, image = _two_touching_discs()
    predictor = OraclePredictor(gt)
    reasoner = Reasoner(predictor)
    box = torch.tensor([[30.0, 20.0, 170.0, 100.0]], dtype=torch.float64)
    passing, new = reasoner.center_reasoning(image, box, 1)
    assert passing.shape[0] == 0 and new.shape[0] == 4
    left, right = new[0], new[1]
    assert abs(left[2].item() - 98) <= 3 and right[0].item() == left[2].item()   # split on the seam x = 98
    found = reasoner.discover(image, 1)
    anns, _ = score_boxes(predictor, image, found.boxes, 1)
    det = torch.tensor([xywh_to_xyxy(a["bbox"]) for a in anns]).reshape(-1, 4)
    iou = box_iou(torch.tensor([[38.0, 28, 98, 93], [98, 28, 163, 93]]), det)
    assert (iou.amax(1) >= 0.7).all()


def test_converged_boxes_are_never_predicted_again_and_results_do_not_change():
    gt, image = _two_touching_discs()
    runs = {}
    for reuse in (True, False):
        rec = RecordingPredictor(OraclePredictor(gt))
        cfg = ReasoningConfig(reuse_predictions=reuse, merge_duplicates=False, n_round=12)
        reasoner = Reasoner(rec, cfg)
        boxes = torch.tensor([[30.0, 20.0, 100.0, 100.0], [35.0, 25.0, 110.0, 95.0],
                              [95.0, 20.0, 170.0, 100.0]], dtype=torch.float64)
        conv, scores = reasoner.boundary_reasoning(image, boxes, 1, cache={})
        runs[reuse] = (conv, scores, rec.field_boxes)
    conv_a, scores_a, predicted_a = runs[True]
    conv_b, scores_b, predicted_b = runs[False]
    assert conv_a.shape[0] >= 2
    assert len(predicted_a) == len(set(predicted_a))        # no pixel box is predicted twice
    assert len(predicted_b) > len(predicted_a)              # the original loop re-predicts converged boxes
    assert torch.equal(conv_a, conv_b) and torch.equal(scores_a, scores_b)


def test_connected_component_boxes_are_mapped_to_the_image():
    h, w = 100, 200
    masks = [np.zeros((h, w), bool), np.zeros((h, w), bool)]
    masks[0][40:60, 60:80] = True
    masks[1][40:60, 130:150] = True
    gt = {"images": [{"id": 1, "height": h, "width": w, "file_name": "x.png"}],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": int(m.sum()),
                           "bbox": [0, 0, 1, 1], "segmentation": mask_to_rle(m)}
                          for i, m in enumerate(masks)],
          "categories": [{"id": 1, "name": "fg"}]}
    box = torch.tensor([[40.0, 20.0, 170.0, 80.0]], dtype=torch.float64)
    for coords, expect_image in (("image", True), ("crop", False)):
        reasoner = Reasoner(OraclePredictor(gt, sdf_mode="union"), ReasoningConfig(analyze_cc=True,
                                                                                   cc_box_coords=coords))
        passing, new = reasoner.center_reasoning(torch.zeros(3, h, w), box, 1)
        assert passing.shape[0] == 1 and new.shape[0] == 2  # two separated objects: one box per component
        iou = box_iou(torch.tensor([[60.0, 40, 80, 60], [130, 40, 150, 60]]), new.float()).amax(1)
        assert bool((iou > 0.3).all()) == expect_image
