"""benchmarks/probe_rmonet_rpn.py: R-MONet's RPN alone on ground-truth boxes, at a tiny size."""

import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
probe = runpy.run_path(str(REPO / "benchmarks" / "probe_rmonet_rpn.py"))


def test_coverage_counts_the_ground_truth_boxes_a_found_box_covers():
    gt = [torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), torch.zeros(0, 4),
          torch.tensor([[5.0, 5, 9, 9]])]
    found = [torch.tensor([[0.0, 0, 10, 12], [0, 0, 32, 32]]), torch.tensor([[0.0, 0, 4, 4]]),
             torch.tensor([[5.0, 5, 9, 13]])]  # IoU 10/12, 0.098 with the second box; 0.5 for the third
    assert probe["coverage"](found, gt, 0.5) == pytest.approx(2 / 3)
    assert probe["coverage"](found, gt, 0.6) == pytest.approx(1 / 3)
    assert probe["coverage"](found, gt, 0.05) == 1.0


def test_scenes_give_the_sprites_tight_boxes():
    from datasets.multi_dsprites import render_multi_dsprites

    images, boxes = probe["scenes"](np.random.default_rng(2), 2, 32)
    _, labels, _ = render_multi_dsprites(np.random.default_rng(2), 32)
    assert images.shape == (2, 3, 32, 32) and len(boxes) == 2
    ids = [i for i in np.unique(labels) if i]
    assert len(boxes[0]) == len(ids)
    for box, i in zip(boxes[0].int().tolist(), ids):
        ys, xs = np.nonzero(labels == i)
        assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_probe_runs_and_reports_fractions(one_thread):
    rows = probe["main"](["--iters", "2", "--eval_every", "1", "--image_size", "32", "--batch_size", "2",
                          "--test_images", "4", "--set", "model.num_slots=3", "--set", "loss.lambda=10"])
    assert [r["iter"] for r in rows] == [1, 2]
    for r in rows:
        assert 0.0 <= r["roi_recall50"] <= r["roi_recall30"] <= 1.0
        assert r["roi_recall50"] <= r["top20_recall50"] <= 1.0
        assert 0.0 <= r["rois_scored"] <= 2.0 and np.isfinite(r["loss"])
