"""Stage-1 datasets: file handling (rotate rule, bad files), samples, existence crops, the stream sampler."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from datasets.existence import ExistenceDataset
from datasets.imagenet_votecut import (
    ImageNetVoteCutDataset,
    SkippedSample,
    collate_samples,
    list_images,
)
from training.sampler import StreamSampler
from utils.io import DataError
from utils.masks import mask_to_rle


def _rect(h, w, r0, r1, c0, c1):
    m = np.zeros((h, w), bool)
    m[r0:r1, c0:c1] = True
    return m


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """Tiny ImageNet/VoteCut layout with known objects and one file of every bad kind."""
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    images, annotations = [], []

    def add(name, image, mask, extra_masks=(), mask_override=None, save_mask=True, fmt="JPEG"):
        wnid = name.split("_")[0]
        (root / "train" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "masks_top1_single_component" / wnid).mkdir(parents=True, exist_ok=True)
        if image is not None:
            Image.fromarray(image).save(root / "train" / wnid / f"{name}.JPEG", format=fmt)
        if save_mask:
            m = mask if mask_override is None else mask_override
            Image.fromarray(m.astype(np.uint8) * 255).save(
                root / "masks_top1_single_component" / wnid / f"{name}.png"
            )
        union = np.logical_or.reduce([mask, *extra_masks])
        (root / "full_masks" / wnid).mkdir(parents=True, exist_ok=True)
        Image.fromarray(union.astype(np.uint8) * 255).save(root / "full_masks" / wnid / f"{name}.png")
        img_id = len(images) + 1
        h, w = mask.shape
        images.append({"id": img_id, "file_name": f"{wnid}/{name}.JPEG", "height": h, "width": w})
        for k, m in enumerate((mask, *extra_masks)):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": img_id,
                    "segmentation": mask_to_rle(m),
                    "weight": 1.0 - 0.1 * k,
                    "category_id": 1,
                }
            )

    def noise(h, w):
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)

    for k in range(4):  # good images: a rectangle, and a second VoteCut mask elsewhere
        m = _rect(60, 80, 10 + k, 40, 20, 50 + k)
        add(f"n00000001_{k:05d}", noise(60, 80), m, extra_masks=[_rect(60, 80, 45, 58, 60, 78)])
    m = _rect(60, 80, 5, 30, 10, 60)
    add("n00000002_00000", noise(60, 80), m, mask_override=np.ascontiguousarray(np.rot90(m, k=1)))  # rotated
    add("n00000002_00001", noise(60, 80)[..., 0], _rect(60, 80, 10, 50, 10, 50))  # grayscale
    add(
        "n00000002_00002",
        np.dstack([noise(60, 80), np.full((60, 80), 255, np.uint8)]),
        _rect(60, 80, 10, 50, 10, 50),
        fmt="PNG",
    )  # RGBA stored under .JPEG name
    add("n00000003_00000", noise(60, 80), _rect(60, 80, 0, 10, 0, 10), save_mask=False)  # missing mask
    add(
        "n00000003_00001",
        noise(60, 80),
        _rect(60, 80, 5, 20, 5, 20),
        mask_override=_rect(50, 50, 5, 20, 5, 20),
    )
    add("n00000003_00002", None, _rect(60, 80, 5, 20, 5, 20))  # corrupt image
    (root / "train" / "n00000003" / "n00000003_00002.JPEG").write_bytes(b"not a jpeg")
    add("n00000004_00000", noise(60, 80), np.zeros((60, 80), bool))  # empty mask
    (root / "annotations").mkdir()
    (root / "annotations" / "votecut.json").write_text(
        json.dumps({"images": images, "annotations": annotations})
    )
    return root


BAD = {"n00000003/n00000003_00000.JPEG", "n00000003/n00000003_00001.JPEG", "n00000003/n00000003_00002.JPEG"}


def test_listing_and_missing_roots(data_root, tmp_path):
    names = list_images(data_root)
    assert len(names) == 11 and names == sorted(names)
    with pytest.raises(DataError, match="not found"):
        ImageNetVoteCutDataset(tmp_path / "nope")
    with pytest.raises(DataError, match="mask folder"):
        ImageNetVoteCutDataset(data_root, mask_root=tmp_path / "nomasks")


def test_center_boundary_samples_and_bad_files(data_root):
    ds = ImageNetVoteCutDataset(data_root, image_size=32, seed=3)
    samples = [ds[i] for i in range(len(ds))]
    skipped = {s.name for s in samples if isinstance(s, SkippedSample)}
    assert skipped == BAD
    good = [s for s in samples if not isinstance(s, SkippedSample)]
    for s in good:
        assert s["image"].shape == (3, 32, 32) and s["image"].dtype == torch.float32
        assert 0 <= s["image"].min() and s["image"].max() <= 1
        assert s["center_field"].shape == (2, 32, 32) and s["sdf"].shape == (1, 32, 32)
        m = s["saliency_mask"][0] > 0
        assert torch.all(s["center_field"][:, ~m] == 0)
        if m.any() and (~m).any():
            assert s["sdf"][0][m].min() > 0 and s["sdf"][0][~m].max() < 0
    batch = collate_samples(samples)
    assert batch["size"] == len(good) == 8 and len(batch["skipped"]) == 3
    assert batch["image"].shape == (8, 3, 32, 32)
    empty = collate_samples([samples[i] for i, n in enumerate(ds.names) if n in BAD])
    assert empty["size"] == 0 and "image" not in empty


def test_rotated_mask_and_full_image_sample(data_root):
    ds = ImageNetVoteCutDataset(data_root, image_size=40, random_crop=False)
    i = ds.names.index("n00000002/n00000002_00000.JPEG")
    s = ds[i]
    # 60x80 image resized to 40x40: rows 5..30 -> 3..20, cols 10..60 -> 5..30
    m = s["saliency_mask"][0] > 0
    rows, cols = torch.where(m)
    assert abs(int(rows.min()) - 3) <= 1 and abs(int(rows.max()) - 19) <= 1
    assert abs(int(cols.min()) - 5) <= 1 and abs(int(cols.max()) - 29) <= 1
    assert float(s["sdf"].max()) > 0.9  # full image holds the innermost point


def test_samples_are_deterministic_per_key(data_root):
    ds = ImageNetVoteCutDataset(data_root, image_size=24, seed=1)
    a, b, c = ds[(0, 17)], ds[(0, 17)], ds[(0, 18)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["sdf"], b["sdf"])
    assert not torch.equal(a["image"], c["image"])


@pytest.mark.parametrize("source", ["votecut_json", "full_mask_root"])
def test_existence_negatives_and_positive_crop_rule(data_root, source):
    if source == "votecut_json":
        votecut = data_root / "annotations" / "votecut.json"
        ds = ExistenceDataset(data_root, votecut_json=votecut, image_size=32)
    else:
        ds = ExistenceDataset(data_root, full_mask_root=data_root / "full_masks", image_size=32)
    n_neg = n_pos = 0
    for key in range(120):
        index = key % 4  # the four good images: object rectangle + second VoteCut mask
        s = ds[(index, key)]
        assert not isinstance(s, SkippedSample)
        k = int(ds.names[index].split("_")[1].split(".")[0])
        top1 = _rect(60, 80, 10 + k, 40, 20, 50 + k)
        union = top1 | _rect(60, 80, 45, 58, 60, 78)
        t, l, h, w = s["box"].tolist()
        assert s["image"].shape == (3, 32, 32)
        if s["negative"]:
            n_neg += 1
            assert s["label"].item() == 0 and h == w >= 2
            assert not union[t : t + h, l : l + w].any()
        else:
            n_pos += 1
            assert s["label"].item() == float(top1[t : t + h, l : l + w].sum() > 1)
    assert n_neg > 30 and n_pos > 30
    # without the JSON the top-1 mask alone defines the background: the second object may show up
    ds_top1 = ExistenceDataset(data_root, image_size=32, seed=0)
    assert ds_top1.full_masks is None and not isinstance(ds_top1[0], SkippedSample)


def test_existence_bad_files_and_malformed_json(data_root, tmp_path):
    ds = ExistenceDataset(data_root, votecut_json=data_root / "annotations" / "votecut.json", image_size=16)
    for name in BAD:
        assert isinstance(ds[ds.names.index(name)], SkippedSample)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"id": 1}], "annotations": []}')
    with pytest.raises(DataError, match="bad.json"):
        ExistenceDataset(data_root, votecut_json=bad)
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        ExistenceDataset(data_root, votecut_json=bad)


def _take(it, n):
    return [next(it) for _ in range(n)]


def test_stream_sampler_shards_epochs_and_resumes():
    n, b = 10, 3
    r0 = _take(iter(StreamSampler(n, b, seed=4, rank=0, world_size=2)), 30)
    r1 = _take(iter(StreamSampler(n, b, seed=4, rank=1, world_size=2)), 30)
    positions = sorted(q for _, q in r0 + r1)
    assert positions == list(range(60))  # ranks interleave the global stream without overlap
    by_pos = dict((q, i) for i, q in r0 + r1)
    for epoch in range(6):  # each epoch visits every item exactly once
        assert sorted(by_pos[q] for q in range(epoch * n, (epoch + 1) * n)) == list(range(n))
    resumed = _take(iter(StreamSampler(n, b, seed=4, rank=0, world_size=2, start_step=4)), 18)
    assert resumed == r0[12:30]
