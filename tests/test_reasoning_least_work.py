"""The least work of the reasoning: each distinct pixel box predicted once, nothing predicted that cannot
change the boxes; the lower bound of the benchmarks; `--batch_size auto`; the benchmark harness's shims."""

import argparse
import io
import runpy
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch

from reasoning.algorithm import Reasoner, ReasoningConfig
from reasoning.oracle import OraclePredictor
from reasoning.predict import auto_batch_size
from reasoning.proposals import generate_proposals
from reasoning.stats import CountingPredictor, LeastWorkReasoner
from utils.io import load_image_rgb, load_json
from utils.masks import mask_to_rle

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "original_reasoning"

pytestmark = pytest.mark.usefixtures("one_thread")


def _gt(masks: list[np.ndarray], h: int, w: int) -> dict:
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": int(m.sum()),
             "bbox": [0, 0, 1, 1], "segmentation": mask_to_rle(m)} for i, m in enumerate(masks)]
    return {"images": [{"id": 1, "height": h, "width": w, "file_name": "x.png"}], "annotations": anns,
            "categories": [{"id": 1, "name": "fg"}]}


def _fixture_image(name: str) -> torch.Tensor:
    return torch.from_numpy(load_image_rgb(FIXTURE / "images" / name).copy()).permute(2, 0, 1).float() / 255


def test_defaults_make_exactly_the_least_work_and_the_boxes_of_predicting_everything():
    gt = load_json(FIXTURE / "gt.json")
    image = _fixture_image("val_000010.jpg")
    counting = CountingPredictor(OraclePredictor(gt))
    reasoner = LeastWorkReasoner(counting, ReasoningConfig(analyze_cc=True))
    ours = reasoner.discover(image, 10)
    assert dict(counting.counts) == reasoner.least_work()        # every evaluation is one the search needs
    everything = CountingPredictor(OraclePredictor(gt))
    cfg = ReasoningConfig(analyze_cc=True, reuse_predictions=False)
    plain = Reasoner(everything, cfg).discover(image, 10)
    assert torch.equal(ours.boxes, plain.boxes) and torch.equal(ours.scores, plain.scores)
    assert counting.counts["objectness"] * 3 < everything.counts["objectness"]
    assert counting.counts["existence"] < everything.counts["existence"]


def test_existence_filter_scores_each_pixel_box_once():
    h, w = 50, 70
    m = np.zeros((h, w), bool)
    m[10:30, 20:45] = True
    gt = _gt([m], h, w)
    proposals = torch.from_numpy(generate_proposals(h, w))
    # clipped grid proposals repeat: the distinct pixel boxes, counted by hand
    distinct = {(int(np.floor(a)), int(np.floor(b)), int(np.ceil(c)), int(np.ceil(d)))
                for a, b, c, d in proposals.tolist()}
    assert len(distinct) < proposals.shape[0]
    counting = CountingPredictor(OraclePredictor(gt))
    reasoner = Reasoner(counting, ReasoningConfig())
    seen: dict = {}
    kept = reasoner.existence_filter(torch.zeros(3, h, w), proposals, 1, seen)
    assert counting.counts["existence"] == len(distinct) == len(seen)
    plain = Reasoner(OraclePredictor(gt)).existence_filter(torch.zeros(3, h, w), proposals, 1)
    assert torch.equal(kept, plain)
    reasoner.existence_filter(torch.zeros(3, h, w), proposals, 1, seen)   # known: no new crop
    assert counting.counts["existence"] == len(distinct)


def test_auto_batch_size_on_cpu_is_a_cache_sized_batch():
    assert auto_batch_size([torch.nn.Identity()], torch.device("cpu")) == 64


def test_batch_size_auto_reaches_the_predictor_of_the_reasoning_command():
    import reasoning.cli as cli
    from reasoning.predict import NetworkPredictor, batch_size_flag
    from reasoning.runner import JobConfig

    assert cli.reasoning_parser().parse_args(["--batch_size", "auto"]).batch_size == "auto"
    assert batch_size_flag("16") == 16
    for bad in ("0", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            batch_size_flag(bad)
    assert JobConfig().batch_size == "auto"
    net = NetworkPredictor(torch.nn.Identity(), None, torch.device("cpu"), batch_size="auto",
                           precision="fp32", crop_mode="batched")
    assert net.batch_size == auto_batch_size([torch.nn.Identity()], torch.device("cpu")) == 64


def test_bench_reasoning_runs_on_cpu_with_a_tiny_size():
    bench = runpy.run_path(str(ROOT / "benchmarks" / "bench_reasoning.py"))
    out = io.StringIO()
    with redirect_stdout(out):
        bench["main"](["--device", "cpu", "--num_images", "3", "--image_size", "64", "--n_round", "1",
                       "--crop_size", "32", "--batch_size", "auto", "--skip_original",
                       "--images_at_once", "2"])  # groups of 2 and 1 images
    rows = {line.split(" | ")[0]: line.split(" | ") for line in out.getvalue().splitlines()}
    one, two = rows["| batched (ours)"], rows["| batched (ours), 2 images at once"]
    assert one[1] == "64" and not any("original-style" in k for k in rows)
    assert one[4:6] == two[4:6] and one[-1] == two[-1]  # same crops per image and boxes


def test_original_harness_shims():
    harness = runpy.run_path(str(ROOT / "benchmarks" / "original_harness.py"))
    image = torch.rand(3, 20, 30)
    resize = harness["_Resize"]((8, 8))
    harness["_Resize"].oracle = True
    try:
        assert resize(image[:, 3:10, 5:9]).tolist() == [[[5, 3, 9, 10]]]   # the crop's pixel box
        assert resize(image[:, 15:40, 25:40]).tolist() == [[[25, 15, 30, 20]]]  # slicing clips at the edge
    finally:
        harness["_Resize"].oracle = False
    crop = resize(image[:, 3:10, 5:9])
    assert crop.shape == (3, 8, 8)
    ramp = torch.arange(12.0).view(1, 1, 3, 4)
    dy, dx = harness["_image_gradients"](ramp)
    assert dy[0, 0, :2].eq(4).all() and dy[0, 0, 2].eq(0).all()
    assert dx[0, 0, :, :3].eq(1).all() and dx[0, 0, :, 3].eq(0).all()


def test_ap50_of_the_benchmark():
    bench = runpy.run_path(str(ROOT / "benchmarks" / "bench_vs_original.py"))
    gt = [np.array([[0.0, 0, 10, 10]])]
    dets = [(np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]]), np.array([0.9, 0.95]))]
    assert bench["ap50"](dets, gt) == pytest.approx((0.5, 1.0))   # a false positive ranked first
    dets = [(np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]]), np.array([0.95, 0.9]))]
    assert bench["ap50"](dets, gt) == pytest.approx((1.0, 1.0))


def test_second_center_pass_knows_the_verdicts_of_the_first():
    h, w = 100, 160
    masks = [np.zeros((h, w), bool), np.zeros((h, w), bool)]
    masks[0][30:70, 40:80] = True
    masks[1][30:70, 80:120] = True                       # touching: the seam fails the singularity check
    gt = _gt(masks, h, w)
    counting = CountingPredictor(OraclePredictor(gt))
    reasoner = Reasoner(counting, ReasoningConfig())
    image = torch.zeros(3, h, w)
    both = torch.tensor([[35.0, 25.0, 125.0, 75.0]], dtype=torch.float64)
    one = torch.tensor([[35.0, 25.0, 80.0, 75.0]], dtype=torch.float64)
    cache, failed = {}, set()
    passing, new = reasoner.center_reasoning(image, torch.cat([both, one, both]), 1, cache, failed=failed)
    assert passing.tolist() == one.tolist() and new.shape == (8, 4)   # `both` splits (twice: same box)
    assert failed == {(35, 25, 125, 75)} and set(cache) == {(35, 25, 80, 75)}
    assert counting.counts["objectness"] == 2                          # each distinct pixel box once
    again, _ = reasoner.center_reasoning(image, torch.cat([one, both]), 1, cache, False, failed)
    assert again.tolist() == one.tolist() and counting.counts["objectness"] == 2   # no new crop
