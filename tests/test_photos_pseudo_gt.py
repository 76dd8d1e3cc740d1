"""The real-photo pseudo ground truth (`benchmarks/photos.py`) and the photo set of bench_vs_original."""

import argparse
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.photos import (
    COINS_FIXTURE,
    GRABCUT_OBJECTS,
    PHOTO_SET,
    PHOTOS_FIXTURE,
    SIDE,
    grabcut_pseudo_gt,
    photo,
    photo_set,
)
from coco_tools.checker import load_coco_json, validate_coco
from reasoning.algorithm import ReasoningConfig
from reasoning.oracle import OraclePredictor
from utils.io import load_image_rgb, load_json
from utils.masks import mask_to_box_xyxy, rle_to_mask, xywh_to_xyxy, xyxy_to_xywh

ROOT = Path(__file__).resolve().parents[1]


def _masks(gt: dict, image: dict) -> list[np.ndarray]:
    return [rle_to_mask(a["segmentation"], image["height"], image["width"])
            for a in gt["annotations"] if a["image_id"] == image["id"]]


def _check_masks(gt: dict) -> None:
    """Every mask non-empty, inside its image, disjoint from the others; bbox and area from the mask."""
    for image in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == image["id"]]
        masks = _masks(gt, image)
        assert masks, image["id"]
        for a, m in zip(anns, masks):
            assert m.shape == (image["height"], image["width"]) and m.any()
            assert a["segmentation"]["size"] == [image["height"], image["width"]]
            assert a["bbox"] == xyxy_to_xywh(mask_to_box_xyxy(m)) and a["area"] == m.sum()
        assert np.sum(masks, axis=0).max() == 1  # no pixel owned twice


def test_photos_fixture_loads_and_its_masks_are_the_recipes_objects():
    gt = load_coco_json(str(PHOTOS_FIXTURE))
    assert PHOTOS_FIXTURE.stat().st_size < 200_000
    assert [im["id"] for im in gt["images"]] == list(GRABCUT_OBJECTS)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    for image in gt["images"]:
        assert max(image["height"], image["width"]) == SIDE
        assert (image["height"], image["width"]) == photo(image["id"]).shape[:2]
        objects = [names[a["category_id"]] for a in gt["annotations"] if a["image_id"] == image["id"]]
        assert objects == [obj[0] for obj in GRABCUT_OBJECTS[image["id"]]]
    _check_masks(gt)
    cat = _masks(gt, gt["images"][-1])[0]
    assert 0.5 < cat.mean() < 0.95  # chelsea: the cat fills most of the photo, not all of it


def test_grabcut_recipe_makes_the_fixture_again():
    fixture = load_json(PHOTOS_FIXTURE)
    chelsea = next(im for im in fixture["images"] if im["id"] == "chelsea")
    again = grabcut_pseudo_gt(("chelsea",))
    assert again["images"] == [chelsea]
    (old,), (new,) = _masks(fixture, chelsea), _masks(again, chelsea)
    assert (old & new).sum() / (old | new).sum() > 0.98  # same recipe; exact with the same OpenCV


def test_photo_set_matches_the_fixtures_at_their_size_and_scales_with_the_photos():
    fixtures = [load_json(COINS_FIXTURE), load_json(PHOTOS_FIXTURE)]
    gt, pixels = photo_set(SIDE)
    assert [im["id"] for im in gt["images"]] == list(PHOTO_SET) == list(pixels)
    sizes = {im["id"]: (im["height"], im["width"]) for f in fixtures for im in f["images"]}
    for image in gt["images"]:
        assert (image["height"], image["width"]) == sizes[image["id"]] == pixels[image["id"]].shape[:2]
        original = [m for f in fixtures for im in f["images"] if im["id"] == image["id"]
                    for m in _masks(f, im)]
        assert all((a == b).all() for a, b in zip(_masks(gt, image), original, strict=True))
    small, pixels = photo_set(256)
    assert len(small["annotations"]) == len(gt["annotations"]) == 32   # 24 coins, 3 + 4 + 1 objects
    for image in small["images"]:
        assert max(image["height"], image["width"]) == 256
        assert (image["height"], image["width"]) == pixels[image["id"]].shape[:2]
    _check_masks(small)
    validate_coco(small, "photo set at 256 px")
    with pytest.raises(ValueError, match="rocket"):
        photo_set(64, ("chelsea", "rocket"))


def test_bench_vs_original_photo_set_runs_our_reasoning_at_a_tiny_size(tmp_path):
    bench = runpy.run_path(str(ROOT / "benchmarks" / "bench_vs_original.py"))
    args = argparse.Namespace(sets=["photos"], photo_side=64, val_scenes=0)
    gt_path, image_dir = bench["image_sets"](args, tmp_path)["photos"]
    gt = load_json(gt_path)
    assert [im["id"] for im in gt["images"]] == list(PHOTO_SET)
    for image in gt["images"]:
        pixels = load_image_rgb(image_dir / image["file_name"])
        assert pixels.shape == (image["height"], image["width"], 3) and max(pixels.shape) == 64
    _check_masks(gt)
    chelsea = gt["images"][-1]
    image = torch.from_numpy(load_image_rgb(image_dir / chelsea["file_name"]).copy()).permute(2, 0, 1) / 255.0
    ours = bench["run_ours"](ReasoningConfig(n_round=5), OraclePredictor(gt), image, chelsea["id"])
    cat = np.asarray([xywh_to_xyxy(a["bbox"]) for a in gt["annotations"] if a["image_id"] == "chelsea"])
    assert ours["evaluations"]["objectness"] > 0 and any(bench["match_counts"](ours["boxes"], cat))
