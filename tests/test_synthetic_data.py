"""Synthetic data: determinism, on-disk layout, scene layouts and COCO ground truth with known answers."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from datasets.synthetic import (
    VOTECUT_JSON_NAME,
    make_scene_dataset,
    make_single_object_dataset,
    render_scene,
    render_scene_full,
    render_single_object,
    scene_for_index,
)
from datasets.votecut import MASK_DIRNAME
from utils.masks import mask_to_box_xyxy, rle_to_mask, xyxy_to_xywh

SEED = 3


def _write_all(root: Path, seed: int) -> None:
    make_single_object_dataset(root / "imagenet", 2, 3, 64, seed, size_jitter=0.25)
    make_scene_dataset(root / "scenes", "val", 4, (72, 96), seed, "mixed", min_objects=2, max_objects=4)


def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    _write_all(root, SEED)
    return root


def test_same_seed_gives_identical_files_and_other_seed_differs(generated, tmp_path):
    _write_all(tmp_path / "again", SEED)
    _write_all(tmp_path / "other", SEED + 1)
    first, again = _all_files(generated), _all_files(tmp_path / "again")
    other = _all_files(tmp_path / "other")
    assert first.keys() == again.keys()
    assert all(first[k] == again[k] for k in first)
    jpgs = [k for k in first if k.endswith((".JPEG", ".jpg"))]
    assert first.keys() == other.keys() and not any(first[k] == other[k] for k in jpgs)


def test_single_object_layout_on_disk(generated):
    root = generated / "imagenet"
    data = json.loads((root / "annotations" / VOTECUT_JSON_NAME).read_text())
    assert [im["file_name"] for im in data["images"]] == [
        f"n0000000{c}/n0000000{c}_0000{k}.JPEG" for c in (1, 2) for k in range(3)]
    sizes = set()
    for im in data["images"]:
        image = np.asarray(Image.open(root / "train" / im["file_name"]))
        mask = np.asarray(Image.open(root / MASK_DIRNAME / im["file_name"].replace(".JPEG", ".png")))
        assert image.shape == (im["height"], im["width"], 3) and mask.shape == image.shape[:2]
        assert 48 <= im["height"] <= 64 and 48 <= im["width"] <= 64
        sizes.add(image.shape[:2])
        assert set(np.unique(mask)) == {0, 255}
        assert ndimage.label(mask > 0)[1] == 1
        anns = [a for a in data["annotations"] if a["image_id"] == im["id"]]
        assert 2 <= len(anns) <= 3
        top = max(anns, key=lambda a: a["weight"])
        assert sum(a["weight"] == top["weight"] for a in anns) == 1
        top_mask = rle_to_mask(top["segmentation"], im["height"], im["width"])
        np.testing.assert_array_equal(top_mask, mask > 0)
        for a in anns:
            m = rle_to_mask(a["segmentation"], im["height"], im["width"])
            assert a["area"] == int(m.sum()) > 0 and a["bbox"] == xyxy_to_xywh(mask_to_box_xyxy(m))
            assert a["category_id"] == 1
    assert len(sizes) > 1  # jittered, non-square sizes


def test_scene_coco_ground_truth_matches_rendered_masks(generated):
    root = generated / "scenes"
    data = json.loads((root / "annotations" / "val_cls_agnostic.json").read_text())
    assert data["categories"] == [{"id": 1, "name": "fg"}]
    assert [im["id"] for im in data["images"]] == [1, 2, 3, 4]
    ann_ids = [a["id"] for a in data["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids)
    for i, im in enumerate(data["images"]):
        image = np.asarray(Image.open(root / "val" / im["file_name"]))
        assert image.shape == (im["height"], im["width"], 3) == (72, 96, 3)
        anns = [a for a in data["annotations"] if a["image_id"] == im["id"]]
        masks = [rle_to_mask(a["segmentation"], 72, 96) for a in anns]
        assert 1 <= len(masks) <= 4
        assert np.sum(masks, axis=0).max() == 1  # disjoint, non-empty
        for a, m in zip(anns, masks):
            assert a["area"] == int(m.sum()) and a["bbox"] == xyxy_to_xywh(mask_to_box_xyxy(m))
            assert a["iscrowd"] == 0 and a["category_id"] == 1
        # the JSON holds exactly the visible masks the renderer produced for this image
        scene, scene_layout = scene_for_index(SEED, "val", i, (72, 96), "mixed", min_objects=2, max_objects=4)
        assert scene_layout == im["layout"] and len(scene.masks) == len(masks)
        assert all(np.array_equal(a, b) for a, b in zip(scene.masks, masks))


@pytest.mark.parametrize("seed", range(4))
def test_touching_layout_masks_share_a_seam_without_overlap(seed):
    scene = render_scene_full(np.random.default_rng(seed), 96, 128, 4, "touching")
    masks = scene.masks
    assert len(masks) >= 2 and scene.relations[1:] == ["touching"] * (len(masks) - 1)
    assert np.sum(masks, axis=0).max() == 1
    for i in range(1, len(masks)):
        others = np.logical_or.reduce([m for j, m in enumerate(masks) if j != i])
        assert (ndimage.binary_dilation(masks[i]) & others).any()  # 4-neighbour contact


@pytest.mark.parametrize("seed", range(3))
def test_occluding_layout_hides_part_of_an_object(seed):
    scene = render_scene_full(np.random.default_rng(seed), 96, 128, 4, "occluding")
    assert len(scene.masks) >= 2
    assert np.sum(scene.masks, axis=0).max() == 1
    visible = [int(v.sum()) for v in scene.masks]
    full = [int(f.sum()) for f in scene.full_masks]
    assert all(not (v & ~f).any() for v, f in zip(scene.masks, scene.full_masks))
    assert any(v < f for v, f in zip(visible, full))
    assert all(v >= 30 and v >= 0.01 * f for v, f in zip(visible, full))
    assert scene.full_masks[-1].sum() == scene.masks[-1].sum()  # the last object is in front


def test_separated_layout_keeps_a_gap():
    image, masks = render_scene(np.random.default_rng(5), 96, 128, 5, "separated")
    assert image.shape == (96, 128, 3) and image.dtype == np.uint8 and len(masks) >= 2
    for i, m in enumerate(masks):
        grown = ndimage.binary_dilation(m, iterations=3)
        assert not any((grown & o).any() for j, o in enumerate(masks) if j != i)


def test_mixed_layout_and_bad_layout():
    scene = render_scene_full(np.random.default_rng(11), 96, 128, 6, "mixed")
    assert len(scene.masks) >= 3 and set(scene.relations) <= {"separated", "touching", "occluding"}
    with pytest.raises(ValueError, match="layout"):
        render_scene(np.random.default_rng(0), 64, 64, 2, "stacked")


def test_single_object_properties_and_colour_overlap():
    fg, bg = np.zeros(64), np.zeros(64)
    areas = []
    for i in range(24):
        image, mask = render_single_object(np.random.default_rng(i), (56, 72))
        assert image.shape == (56, 72, 3) and image.dtype == np.uint8 and mask.dtype == bool
        assert ndimage.label(mask)[1] == 1
        areas.append(mask.mean())
        q = (image // 64).astype(int)
        idx = q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]
        fg += np.bincount(idx[mask], minlength=64)
        bg += np.bincount(idx[~mask], minlength=64)
    assert min(areas) >= 0.01 and max(areas) <= 0.9 and max(areas) > 4 * min(areas)
    # object and background colours come from one distribution: colour alone does not separate them
    assert np.minimum(fg / fg.sum(), bg / bg.sum()).sum() > 0.35


def test_votecut_masks_leave_background_for_existence_negatives(generated):
    root = generated / "imagenet"
    data = json.loads((root / "annotations" / VOTECUT_JSON_NAME).read_text())
    for im in data["images"]:
        union = np.zeros((im["height"], im["width"]), bool)
        for a in data["annotations"]:
            if a["image_id"] == im["id"]:
                union |= rle_to_mask(a["segmentation"], im["height"], im["width"])
        assert union.mean() < 0.95


def test_scene_ground_truth_is_valid_coco(generated):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(generated / "scenes" / "annotations" / "val_cls_agnostic.json"))
    results = [{"image_id": a["image_id"], "category_id": 1, "segmentation": a["segmentation"],
                "bbox": a["bbox"], "score": 1.0} for a in gt.dataset["annotations"]]
    for task in ("bbox", "segm"):
        ev = COCOeval(gt, gt.loadRes(results), task)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        assert ev.stats[0] == pytest.approx(1.0)  # the ground truth scores AP 100 against itself
