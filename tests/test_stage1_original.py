"""Stage-1 data deviations and their original counterparts (train_objectness_net.py --original_behaviour)."""

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from datasets.existence import positive_label
from datasets.objectness_targets import (
    CropBox,
    bbox_center,
    crop_targets,
    largest_background_square,
    resize_mask,
)
from training.objectness.args import TRAIN_DEVIATIONS, build_train_parser, check_train_args
from utils.config import default_of


def test_original_mask_resize_is_torchvisions_tensor_nearest():
    # one True column at x = 1 of 10: the original's floor(i * 2) samples 0, 2, 4 ... and misses it,
    # pixel-center sampling floor((i + 0.5) * 2) = 1, 3, 5 ... hits it
    mask = np.zeros((10, 10), bool)
    mask[:, 1] = True
    assert not resize_mask(mask, 5, "nearest").any()
    assert resize_mask(mask, 5, "nearest_exact")[:, 0].all()
    rng = np.random.default_rng(0)
    blob = np.zeros((300, 270), bool)
    blob[40:230, 55:211] = rng.random((190, 156)) > 0.3
    for size in (128, 400):
        ref = TF.resize(torch.from_numpy(blob.astype(np.uint8))[None], [size, size],
                        InterpolationMode.NEAREST)[0]
        assert np.array_equal(resize_mask(blob, size, "nearest"), ref.numpy() > 0)
    # the crop targets follow the mode: the original's mask is shifted towards the bottom-right
    square = np.zeros((400, 400), bool)
    square[101:301, 101:301] = True
    box = CropBox(0, 0, 400, 400)
    orig = crop_targets(square, box, 128, mask_resize="nearest")["saliency_mask"]
    ours = crop_targets(square, box, 128, mask_resize="nearest_exact")["saliency_mask"]
    assert not np.array_equal(orig, ours)
    assert bbox_center(orig)[0] >= bbox_center(ours)[0] and bbox_center(orig)[1] >= bbox_center(ours)[1]


def test_original_negatives_keep_the_discs_bounding_square():
    yy, xx = np.mgrid[:100, :100]
    mask = (yy - 50) ** 2 + (xx - 50) ** 2 > 20**2          # background: a disc of radius 20
    ours = largest_background_square(mask)
    orig = largest_background_square(mask, mask_free=False)
    region = lambda b: mask[b.top:b.top + b.height, b.left:b.left + b.width]  # noqa: E731
    assert region(orig).sum() > 0 and region(ours).sum() == 0  # the original's corners hold object pixels
    # the original: rows and columns [int(c - r), int(c + r)) around c = (50, 50) with 19 < r <= 20
    assert (orig.top, orig.left, orig.height, orig.width) == (30, 30, 39, 39)
    assert ours.height < orig.height


def test_original_positive_rule_sums_the_resized_crop_mask():
    crop = np.zeros((512, 512), bool)
    crop[20:23, 20:23] = True       # 9 object pixels, one output pixel's worth after the 4x bilinear shrink
    assert positive_label(crop, 128, "any_pixel") == 1.0
    assert positive_label(crop, 128, "resized_sum") == 0.0
    crop[20:40, 20:40] = True
    assert positive_label(crop, 128, "resized_sum") == 1.0


def test_train_original_switch_sets_all_data_deviations(tmp_path):
    parser = build_train_parser()
    base = ["--train_existence", "--imagenet_root", str(tmp_path)]
    default = parser.parse_args(base)
    check_train_args(default)
    original = parser.parse_args(base + ["--original_behaviour"])
    check_train_args(original)
    mixed = parser.parse_args(base + ["--original_behaviour", "--mask_resize", "nearest_exact"])
    check_train_args(mixed)
    for d in TRAIN_DEVIATIONS:
        ours, theirs = default_of(d), d.metadata["original"]
        assert getattr(default, d.name) == ours and getattr(original, d.name) == theirs
        assert ours != theirs and d.metadata["why"]
    assert mixed.mask_resize == "nearest_exact" and mixed.existence_negatives == "original"
    text = parser.format_help()
    assert text.count("NOT the original") == len(TRAIN_DEVIATIONS)
