"""R-MONet building blocks with known answers: stick-breaking, ROI masking, pseudo boxes, schedule."""

import math

import numpy as np
import pytest
import torch

from models.rmonet.heads import paste_logits
from models.rmonet.pseudo_boxes import PseudoBoxConfig, boxes_from_mask, pseudo_boxes
from models.rmonet.roi_masking import expand_boxes, roi_mask_features, ternary_roi_masks
from models.rmonet.stick_breaking import log_stick_breaking, stick_breaking
from training.rmonet.schedule import WarmupCosineRestarts


def test_stick_breaking_follows_equations_4_to_7():
    a = torch.tensor([0.5, 0.25, 0.8]).view(1, 3, 1, 1)
    m = stick_breaking(a).view(-1)
    # s0=1; m1=0.5, s1=0.5; m2=0.5*0.25=0.125, s2=0.375; m3=0.375*0.8=0.3, s3=0.075; m4=s3
    assert torch.allclose(m, torch.tensor([0.5, 0.125, 0.3, 0.075]))
    assert torch.isclose(m.sum(), torch.tensor(1.0))


def test_stick_breaking_sums_to_one_and_log_version_matches():
    logits = torch.randn(2, 5, 7, 9) * 3
    m = stick_breaking(torch.sigmoid(logits))
    assert m.shape == (2, 6, 7, 9)
    assert torch.allclose(m.sum(1), torch.ones(2, 7, 9), atol=1e-6)
    assert (m >= 0).all()
    assert torch.allclose(log_stick_breaking(logits).exp(), m, atol=1e-6)


def test_ternary_roi_mask_inside_ring_outside():
    # Box x 4..8, y 2..6 on a stride-1 10x12 map, ratio 0.5 -> enlarged x 2..10, y 0..8.
    box = torch.tensor([[4.0, 2.0, 8.0, 6.0]])
    assert torch.equal(expand_boxes(box, 0.5), torch.tensor([[2.0, 0.0, 10.0, 8.0]]))
    m = ternary_roi_masks(box, 10, 12, stride=1, ratio=0.5)[0, 0]
    expected = torch.zeros(10, 12)
    expected[0:8, 2:10] = -1
    expected[2:6, 4:8] = 1
    assert torch.equal(m, expected)
    # Stride 2: cell centres at 1, 3, 5, ... -> inside x in {5, 7}, y in {3, 5}.
    m2 = ternary_roi_masks(box, 5, 6, stride=2, ratio=0.5)[0, 0]
    assert m2[1:3, 2:4].eq(1).all() and m2.eq(1).sum() == 4
    assert m2[0, 1] == -1 and m2[4, 0] == 0


def test_roi_mask_features_multiplies_per_roi():
    feats = torch.ones(2, 3, 10, 12)
    boxes = torch.tensor(
        [[[4.0, 2.0, 8.0, 6.0], [0.0, 0.0, 2.0, 2.0]], [[0.0, 0.0, 12.0, 10.0], [6.0, 6.0, 8.0, 8.0]]]
    )
    out = roi_mask_features(feats, boxes, stride=1, ratio=0.5)
    assert out.shape == (4, 3, 10, 12)
    for i in range(4):
        expected = ternary_roi_masks(boxes.view(-1, 4)[i : i + 1], 10, 12, 1, 0.5)[0]
        assert torch.equal(out[i], expected.expand(3, -1, -1))


def test_paste_logits_places_box_content_and_outside_value():
    logits = torch.full((1, 1, 4, 4), 3.0)
    out = paste_logits(logits, torch.tensor([[2.0, 4.0, 6.0, 8.0]]), (10, 10), outside=-10.0)[0, 0]
    assert torch.allclose(out[4:8, 2:6], torch.full((4, 4), 3.0))
    assert torch.allclose(out[0:2], torch.full((2, 10), -10.0))
    assert torch.allclose(out[:, 8:], torch.full((10, 2), -10.0))


def test_pseudo_boxes_are_the_blob_boxes():
    m = np.zeros((3, 40, 40))
    m[0, 2:10, 3:12] = 0.9  # blob A: box (3, 2, 12, 10)
    m[0, 20:30, 20:27] = 0.6  # blob B: box (20, 20, 27, 30)
    m[0, 35:37, 35:37] = 1.0  # 2x2: below min_size 3 -> dropped
    m[1, 15:17, 0:20] = 0.8  # 2x20: too thin (and aspect 10 > 3) -> dropped
    m[1, 2:10, 3:12] = 0.85  # same box as blob A in another slot -> removed by NMS (lower score)
    m[2, 30:39, 2:6] = 0.7  # 4x9: aspect 2.25 kept; box (2, 30, 6, 39)
    m[2, 0:3, 30:40] = 0.5  # 3x10: aspect 3.33 > 3 -> dropped
    m[2] += 0.0005  # values under 0.001 are set to 0 first
    boxes, scores = pseudo_boxes(m, PseudoBoxConfig(min_size=3, max_aspect=3, nms_thresh=0.7))
    got = {tuple(b): s for b, s in zip(boxes.tolist(), scores.tolist())}
    assert set(got) == {(3.0, 2.0, 12.0, 10.0), (20.0, 20.0, 27.0, 30.0), (2.0, 30.0, 6.0, 39.0)}
    assert got[(3.0, 2.0, 12.0, 10.0)] == pytest.approx(0.9)
    assert got[(20.0, 20.0, 27.0, 30.0)] == pytest.approx(0.6)
    assert got[(2.0, 30.0, 6.0, 39.0)] == pytest.approx(0.7005)


def test_pseudo_box_score_is_mean_mask_inside_box():
    m = np.zeros((20, 20))
    m[5:15, 5:8] = 0.9  # an L-shaped blob: its box also covers zeros
    m[12:15, 5:15] = 0.9
    boxes, scores = boxes_from_mask(m, PseudoBoxConfig(min_size=3))
    assert {tuple(b) for b in boxes.tolist()} == {(5.0, 5.0, 15.0, 15.0)}
    assert scores[0] == pytest.approx(0.9 * (30 + 21) / 100)


def test_schedule_warmup_cosine_and_restarts():
    f = WarmupCosineRestarts(steps_per_unit=10, warmup=1, cycle=2, reset_decay=0.1)
    assert f(0) == pytest.approx(1 / 11) and f(9) == pytest.approx(10 / 11)
    assert f(10) == pytest.approx(1.0)  # end of warm-up: peak
    assert f(20) == pytest.approx(0.5)  # half a cycle
    assert f(30) == pytest.approx(0.1)  # restart: peak * reset_decay
    assert f(40) == pytest.approx(0.05)
    assert f(50) == pytest.approx(0.01)
    assert f(15) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))
