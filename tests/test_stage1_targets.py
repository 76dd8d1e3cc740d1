"""Stage-1 targets on analytic shapes: center/boundary fields, crops, background squares."""

import cv2
import numpy as np
import pytest

from datasets.imagenet_votecut import align_mask
from datasets.objectness_targets import (
    CropBox,
    bbox_center,
    center_field,
    crop_targets,
    largest_background_square,
    normalized_distance,
    sample_crop_box,
)
from utils.io import DataError


def disc(size: int, center: tuple[float, float], radius: float) -> np.ndarray:
    r, c = np.mgrid[:size, :size]
    return (r - center[0]) ** 2 + (c - center[1]) ** 2 <= radius**2


def test_disc_center_field_is_unit_radial_inside_and_zero_outside():
    mask = disc(128, (60, 70), 30)
    t = crop_targets(mask, CropBox(0, 0, 128, 128), out_size=128)
    field = t["center_field"]
    assert field.shape == (2, 128, 128)
    np.testing.assert_allclose(t["object_center"], [60, 70])
    r, c = np.mgrid[:128, :128]
    radial = np.stack([r - 60.0, c - 70.0])
    norm = np.linalg.norm(radial, axis=0)
    inside = mask & (norm > 0)
    np.testing.assert_allclose(np.linalg.norm(field, axis=0)[inside], 1.0, atol=1e-5)
    np.testing.assert_allclose(field[:, inside], radial[:, inside] / norm[inside], atol=1e-5)
    assert np.all(field[:, ~mask] == 0)
    assert np.all(field[:, 60, 70] == 0)  # the center pixel itself
    # channel 0 is the row offset: below the center it points down (+row), right of it +column
    assert field[0, 85, 70] == pytest.approx(1.0) and field[1, 60, 95] == pytest.approx(1.0)


def test_disc_sdf_ranges_and_innermost_point():
    mask = disc(128, (60, 70), 30)
    t = crop_targets(mask, CropBox(0, 0, 128, 128), out_size=128, use_bg_sdf=True)
    sdf = t["sdf"]
    assert sdf.max() == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(sdf), sdf.shape) == (60, 70)
    assert sdf[mask].min() > 0 and sdf[mask].max() <= 1
    assert sdf[~mask].max() < 0 and sdf[~mask].min() == pytest.approx(-1.0)
    # distance grows towards the center along a radius
    assert np.all(np.diff(sdf[60, 41:71]) > 0)
    no_bg = crop_targets(mask, CropBox(0, 0, 128, 128), out_size=128, use_bg_sdf=False)["sdf"]
    assert np.all(no_bg[~mask] == 0)
    np.testing.assert_allclose(no_bg[mask], sdf[mask])


def test_resized_crop_keeps_signs_strict():
    mask = disc(400, (210, 180), 120)
    t = crop_targets(mask, CropBox(37, 51, 301, 263), out_size=128)
    m, sdf = t["saliency_mask"], t["sdf"]
    assert m.any() and (~m).any()
    assert sdf[m].min() > 0 and sdf[m].max() <= 1
    assert sdf[~m].max() < 0 and sdf[~m].min() >= -1
    assert sdf.max() > 0.97  # the crop holds the innermost point


def test_crop_cutting_the_object_has_positive_edge_and_outside_center():
    mask = np.zeros((400, 400), bool)
    mask[100:300, 150:350] = True  # bbox center (199.5, 249.5)
    box = CropBox(top=50, left=280, height=200, width=120)  # cuts the object at its left and bottom edges
    t = crop_targets(mask, box, out_size=128)
    sdf = t["sdf"]
    c_row, c_col = t["object_center"]
    assert c_row == pytest.approx((199.5 - 50) * 128 / 200)
    assert c_col == pytest.approx((249.5 - 280) * 128 / 120)
    assert c_col < 0  # the center lies outside the crop
    assert np.all(sdf[33:, 0] > 0)  # the left crop edge cuts through the object (object from crop row 32)
    assert np.all(sdf[64:, 0] > 0.3)  # far from the object's own boundary the distance stays large
    assert np.all(sdf[-1, :40] > 0.2)  # the bottom crop edge cuts through the object too
    assert 0.6 < sdf.max() < 0.75  # normalised over the whole object: the innermost point is not in the crop
    # center field still points away from the (outside) center
    assert np.all(t["center_field"][1][t["saliency_mask"]] > 0)


def test_empty_mask_gives_zero_targets():
    t = crop_targets(np.zeros((50, 50), bool), CropBox(0, 0, 50, 50), out_size=16)
    assert not t["saliency_mask"].any() and np.all(t["sdf"] == 0) and np.all(t["center_field"] == 0)


def test_normalized_distance_and_bbox_center():
    mask = np.zeros((9, 9), bool)
    mask[2:7, 1:8] = True
    d = normalized_distance(mask)
    assert d.max() == pytest.approx(1.0) and np.all(d[~mask] == 0) and np.all(d[mask] > 0)
    assert bbox_center(mask) == (4.0, 4.0)
    assert bbox_center(np.zeros((3, 3), bool)) is None
    assert np.all(center_field(np.zeros((4, 4), bool), (1, 1)) == 0)


def test_sample_crop_box_respects_scale_ratio_and_bounds():
    rng = np.random.default_rng(0)
    for _ in range(300):
        b = sample_crop_box(rng, 400, 400, scale=(0.08, 1.0))
        assert 0 <= b.top and b.top + b.height <= 400 and 0 <= b.left and b.left + b.width <= 400
        area = b.height * b.width / 400**2
        assert 0.07 <= area <= 1.0
        assert 0.7 <= b.width / b.height <= 1.4
    b1 = sample_crop_box(np.random.default_rng(5), 300, 200)
    b2 = sample_crop_box(np.random.default_rng(5), 300, 200)
    assert b1 == b2


def test_largest_background_square_known_hole():
    mask = np.ones((100, 120), bool)
    mask[10:50, 60:100] = False  # a 40x40 hole
    sq = largest_background_square(mask)
    assert sq is not None and sq.height == sq.width
    assert 30 <= sq.height <= 40
    assert 10 <= sq.top and sq.top + sq.height <= 50 and 60 <= sq.left and sq.left + sq.width <= 100
    assert largest_background_square(np.ones((30, 30), bool)) is None


def test_largest_background_square_never_touches_mask():
    rng = np.random.default_rng(1)
    for _ in range(40):
        h, w = rng.integers(40, 120, size=2)
        mask = np.zeros((h, w), bool)
        for _ in range(rng.integers(1, 5)):
            mask |= disc(int(max(h, w)), tuple(rng.uniform(0, max(h, w), 2)), rng.uniform(5, 40))[:h, :w]
        sq = largest_background_square(mask)
        if sq is None:
            continue
        region = mask[sq.top : sq.top + sq.height, sq.left : sq.left + sq.width]
        assert region.shape == (sq.height, sq.width) and not region.any()


def test_rotate_rule_matches_opencv_clockwise():
    mask = np.zeros((30, 20), bool)
    mask[2, 3] = True
    out = align_mask(mask, (20, 30), "m.png")
    np.testing.assert_array_equal(
        out, cv2.rotate(mask.astype(np.uint8), cv2.ROTATE_90_CLOCKWISE).astype(bool)
    )
    assert align_mask(mask, (30, 20), "m.png") is mask
    with pytest.raises(DataError, match="m.png"):
        align_mask(mask, (31, 20), "m.png")
