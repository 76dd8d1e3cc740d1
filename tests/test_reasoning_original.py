"""`--original_behaviour`: the original unMORE reasoning's own boxes (fixture), and each deviation switch on
scenes where it changes the result."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from reasoning.algorithm import Reasoner, ReasoningConfig
from reasoning.boxes import enlarge_boxes
from reasoning.cli import main_reasoning, reasoning_parser, scoring_parser
from reasoning.crops import pixel_boxes
from reasoning.fields import component_boxes, union_masks
from reasoning.networks import PredictorConfig
from reasoning.oracle import OraclePredictor
from reasoning.scoring import ScoringConfig, paste_masks, score_boxes
from reasoning.stats import CountingPredictor
from utils.config import default_of, deviation_fields, resolve_deviations
from utils.io import load_image_rgb, load_json
from utils.masks import mask_to_rle

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "original_reasoning"
# fixture images checked through the command line (the fastest ones; each kind of crash guard is covered)
CLI_IMAGES = ("val_000008.jpg", "val_000010.jpg")

pytestmark = pytest.mark.usefixtures("one_thread")


def _gt(masks, h, w):
    return {"images": [{"id": 1, "height": h, "width": w, "file_name": "x.png"}],
            "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": int(m.sum()),
                             "bbox": [0, 0, 1, 1], "segmentation": mask_to_rle(m)}
                            for i, m in enumerate(masks)],
            "categories": [{"id": 1, "name": "fg"}]}


@pytest.mark.parametrize("key", ["analyze_cc", "no_analyze_cc"])
def test_original_behaviour_reproduces_the_original_codes_boxes(tmp_path, key):
    expected = load_json(FIXTURE / "original_discoveries.json")[key]
    gt = load_json(FIXTURE / "gt.json")
    subset = {**gt, "images": [im for im in gt["images"] if im["file_name"] in CLI_IMAGES]}
    (tmp_path / "list.json").write_text(json.dumps(subset))
    assert expected["val_000008.jpg"]["crash_guard_fired"]  # an image where the original would have crashed
    argv = ["--oracle_annotations", str(FIXTURE / "gt.json"), "--annotations", str(tmp_path / "list.json"),
            "--image_dir", str(FIXTURE / "images"), "--output_dir", str(tmp_path / "out"), "--device", "cpu",
            "--num_workers", "0", "--original_behaviour"] + (["--analyze_cc"] if key == "analyze_cc" else [])
    found = load_json(main_reasoning(argv))
    config = load_json(tmp_path / "out" / "configs_object_reasoning.json")
    assert config["crop_mode"] == "loop" and config["nms_score"] == "constant"
    for im in subset["images"]:
        want = np.asarray(expected[im["file_name"]]["boxes"], dtype=np.float64)
        got = np.asarray(found[str(im["id"])], dtype=np.float64).reshape(-1, 4)
        assert got.shape == want.shape                      # same number of boxes ...
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)  # ... in the same order, within 1e-4 px


def test_original_switch_sets_every_deviation_back_and_help_says_which_default_is_original():
    reasoning, scoring = (PredictorConfig, ReasoningConfig), (PredictorConfig, ScoringConfig)
    for parser, configs, extra in ((reasoning_parser(), reasoning, []),
                                   (scoring_parser(), scoring, ["--raw_annotations_path", "x.json"])):
        default = resolve_deviations(parser.parse_args(extra), *configs)
        original = resolve_deviations(parser.parse_args(extra + ["--original_behaviour"]), *configs)
        for d in (f for config in configs for f in deviation_fields(config)):
            ours, theirs, why = default_of(d), d.metadata["original"], d.metadata["why"]
            assert getattr(default, d.name) == ours
            assert getattr(original, d.name) == theirs
            text = next(a.help for a in parser._actions if "--" + d.name in a.option_strings)
            assert ("the original behaviour" in text) == (ours == theirs)
            if ours != theirs:
                assert "NOT the original" in text and why and why in text
    # an explicit flag wins over the switch
    argv = ["--original_behaviour", "--nms_score", "boundary"]
    args = resolve_deviations(reasoning_parser().parse_args(argv), *reasoning)
    assert args.nms_score == "boundary" and args.cc_box_coords == "crop"
    # predicting a pixel box once gives the same boxes, so it is not a deviation and the switch keeps it
    assert args.reuse_predictions is True
    argv = ["--original_behaviour", "--no-reuse_predictions"]
    args = resolve_deviations(reasoning_parser().parse_args(argv), *reasoning)
    assert args.reuse_predictions is False and args.cc_box_coords == "crop"
    # every deviation of the issue has a switch
    dests = {d.name for config in reasoning + scoring for d in deviation_fields(config)}
    assert {"merge_duplicates", "cc_box_coords", "nms_score", "crop_mode",
            "paste_antialias", "keep_empty_masks"} <= dests


def test_cc_box_coords_crop_keeps_the_originals_crop_space_boxes():
    # a wide box over two separated squares: the union mask of its crop has two components
    h, w = 100, 200
    masks = [np.zeros((h, w), bool), np.zeros((h, w), bool)]
    masks[0][40:60, 60:80] = True
    masks[1][40:60, 130:150] = True
    gt = _gt(masks, h, w)
    box = torch.tensor([[40.0, 20.0, 170.0, 80.0]], dtype=torch.float64)
    predictor = OraclePredictor(gt, sdf_mode="union")
    pred = predictor.predict(torch.zeros(3, h, w), box, {"fields"}, 1)
    comps = component_boxes(union_masks(pred["center_fields"], pred["sdf_maps"])[0].numpy())
    assert len(comps) == 2
    out = {}
    for coords in ("image", "crop"):
        reasoner = Reasoner(predictor, ReasoningConfig(analyze_cc=True, cc_box_coords=coords))
        _, out[coords] = reasoner.center_reasoning(torch.zeros(3, h, w), box, 1)
    # original semantics: the 128x128 crop-space component boxes, enlarged 1.5x and clipped to the image
    assert out["crop"].tolist() == [[float(v) for v in b] for b in enlarge_boxes(comps, h, w, 1.5)]
    iou = box_iou(torch.tensor([[60.0, 40, 80, 60], [130, 40, 150, 60]]), out["image"].float()).amax(1)
    assert bool((iou > 0.3).all())                    # ours: around the two objects
    assert not torch.equal(out["crop"], out["image"])


class _FixedBoundary(Reasoner):
    """Reasoner whose boundary reasoning returns two given converged boxes (NMS is what is tested)."""

    def __init__(self, predictor, cfg, boxes, scores):
        super().__init__(predictor, cfg)
        self._result = (boxes, scores)

    def boundary_reasoning(self, image, boxes, image_id, cache, trace=None):
        return self._result


def test_nms_score_constant_keeps_the_first_box_boundary_the_surer_one():
    h, w = 100, 120
    m = np.zeros((h, w), bool)
    m[30:70, 30:90] = True
    predictor = OraclePredictor(_gt([m], h, w))
    boxes = torch.tensor([[25.0, 25.0, 95.0, 75.0], [30.0, 30.0, 90.0, 70.0]], dtype=torch.float64)
    assert box_iou(boxes, boxes)[0, 1] > 0.5
    scores = torch.tensor([0.6, 0.9], dtype=torch.float64)
    kept = {}
    for mode in ("constant", "boundary"):
        reasoner = _FixedBoundary(predictor, ReasoningConfig(nms_score=mode), boxes, scores)
        kept[mode] = reasoner.discover(torch.zeros(3, h, w), 1).boxes
    assert kept["constant"].tolist() == [boxes[0].tolist()]   # original: equal scores, the first box wins
    assert kept["boundary"].tolist() == [boxes[1].tolist()]   # ours: the higher max sdf wins


def test_merge_duplicates_is_off_by_default_and_opt_in_saves_crops():
    gt = load_json(FIXTURE / "gt.json")
    image_id = 10
    image = torch.from_numpy(load_image_rgb(FIXTURE / "images" / "val_000010.jpg").copy()).permute(2, 0, 1)
    runs = {}
    for merge in (False, True):
        predictor = CountingPredictor(OraclePredictor(gt))
        cfg = ReasoningConfig(analyze_cc=True) if not merge else ReasoningConfig(analyze_cc=True,
                                                                                 merge_duplicates=True)
        d = Reasoner(predictor, cfg).discover(image.float() / 255.0, image_id)
        runs[merge] = (d.boxes, predictor.counts["objectness"])
    assert ReasoningConfig().merge_duplicates is False
    assert runs[True][1] < runs[False][1]


def test_paste_without_antialias_is_the_originals_plain_bilinear_and_rounding():
    mask = torch.zeros(1, 128, 128, dtype=torch.bool)
    mask[0, 20:100:3, 10:120] = True            # thin stripes: antialias blurs them away when shrinking
    pix = pixel_boxes(torch.tensor([[5.0, 7.0, 45.0, 40.0]]), 60, 60)
    plain = paste_masks(mask, pix, 60, 60, antialias=False)
    ref = F.interpolate(mask[None].float(), size=(33, 40), mode="bilinear", align_corners=False)[0, 0] > 0.5
    assert torch.equal(plain[0, 7:40, 5:45], ref) and not plain[0, :7].any() and not plain[0, :, 45:].any()
    smooth = paste_masks(mask, pix, 60, 60, antialias=True)
    assert (plain != smooth).sum() > 20


def test_keep_empty_masks_keeps_the_originals_empty_results():
    h, w = 80, 120
    m = np.zeros((h, w), bool)
    m[10:40, 10:50] = True
    predictor = OraclePredictor(_gt([m], h, w))
    # the second box holds no object: its mask is empty
    boxes = torch.tensor([[5.0, 5.0, 55.0, 45.0], [70.0, 40.0, 118.0, 78.0]], dtype=torch.float64)
    kept = {}
    for keep in (False, True):
        cfg = ScoringConfig(keep_empty_masks=keep)
        anns, masks = score_boxes(predictor, torch.zeros(3, h, w), boxes, 1, cfg)
        kept[keep] = [a["bbox"] for a in anns]
        assert masks.shape[0] == len(anns)
    assert kept[False] == [[10.0, 10.0, 40.0, 30.0]]
    assert sorted(kept[True]) == [[0.0, 0.0, 0.0, 0.0], [10.0, 10.0, 40.0, 30.0]]  # original: empty box kept
