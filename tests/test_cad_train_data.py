"""Dataset registry, COCO records, mapper, sampler and loader of the class-agnostic detector."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cad.data import catalog
from cad.data.build import TrainLoader
from cad.data.mapper import DatasetMapper
from cad.data.samplers import TrainingSampler, inference_indices
from cad.data.transforms import masks_to_boxes, shortest_edge_size
from utils.io import DataError
from utils.masks import mask_to_rle

# name -> (annotation file, first image folder), relative to the dataset root (the original README's layout)
EXPECTED = {
    "coco_train_with_imagenet_train": ("coco/annotations/COCO_merged_IN_training_format.json",
                                       "coco/train2017"),
    "cls_agnostic_coco_train_17": ("coco/annotations/coco_cls_agnostic_instances_train2017.json",
                                   "coco/train2017"),
    "cls_agnostic_coco_val_17": ("coco/annotations/coco_cls_agnostic_instances_val2017.json", "coco/val2017"),
    "cls_agnostic_coco": ("coco/annotations/coco_cls_agnostic_instances_val2017.json", "coco/val2017"),
    "cls_agnostic_coco*_val_17": ("coco/annotations/COCO_star_val2017_cls_agnostic.json", "coco/val2017"),
    "cls_agnostic_coco20k": ("coco/annotations/coco20k_trainval_gt.json", "coco/train2014"),
    "cls_agnostic_lvis": ("coco/annotations/lvis1.0_cocofied_val_cls_agnostic.json", "coco"),
    "cls_agnostic_kitti": ("kitti/annotations/trainval_cls_agnostic.json", "kitti/JPEGImages"),
    "cls_agnostic_voc": ("voc/annotations/trainvaltest_2007_cls_agnostic.json", "voc/VOC2007/JPEGImages"),
    "cls_agnostic_objects365": ("objects365/annotations/zhiyuan_objv2_val_cls_agnostic.json",
                                "objects365/val"),
    "cls_agnostic_openimages": ("openImages/annotations/openimages_val_cls_agnostic.json",
                                "openImages/validation"),
    "coco_2017_val": ("coco/annotations/instances_val2017.json", "coco/val2017"),
    "coco_2017_train": ("coco/annotations/instances_train2017.json", "coco/train2017"),
    "synthetic_scenes_train": ("synthetic/scenes/annotations/train_cls_agnostic.json",
                               "synthetic/scenes/train"),
    "synthetic_scenes_val": ("synthetic/scenes/annotations/val_cls_agnostic.json", "synthetic/scenes/val"),
}


def test_every_builtin_name_resolves(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    assert catalog.dataset_root() == tmp_path
    for name in catalog.BUILTIN_NAMES:
        assert name in EXPECTED, name
    for name, (js, img) in EXPECTED.items():
        spec = catalog.get_spec(name)
        if not (tmp_path / js).exists():  # two names share the COCO val file
            with pytest.raises(DataError, match=re.escape(f"dataset '{name}' not found")):
                spec.json_path()
        (tmp_path / js).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / js).write_text('{"images": [], "annotations": []}')
        assert spec.json_path() == tmp_path / js
        assert spec.image_dirs()[0] == tmp_path / img
        assert catalog.get_dataset_dicts(name) == []


def test_original_spellings_are_fallbacks(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    js = tmp_path / "coco/annotation/COCO_star_val2017_cls_agnostic.json"
    js.parent.mkdir(parents=True)
    js.write_text('{"images": [], "annotations": []}')
    assert catalog.get_spec("cls_agnostic_coco*_val_17").json_path() == js
    assert tmp_path / "COCO/val2017" in catalog.get_spec("cls_agnostic_coco*_val_17").image_dirs()


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError, match="cls_agnostic_voc"):
        catalog.get_dataset_dicts("no_such_dataset")


def _merged_json(path: Path) -> None:
    rle = mask_to_rle(np.ones((4, 4), dtype=bool))
    data = {
        "images": [
            {"id": "coco_139", "file_name": "000000000139.jpg", "height": 4, "width": 4},
            {"id": "coco_7", "file_name": "000000000007.jpg", "height": 4, "width": 4},
            {"id": "imagenet_5", "file_name": "train/n01440764/n01440764_5.JPEG", "height": 4, "width": 4},
            {"id": "imagenet_6", "file_name": "n01443537_6.JPEG", "height": 4, "width": 4},
        ],
        "annotations": [
            {"id": 0, "image_id": "coco_139", "category_id": 1, "bbox": [0, 0, 4, 4], "segmentation": rle,
             "iscrowd": 0, "score": 0.8},
            {"id": 1, "image_id": "imagenet_5", "category_id": 1, "bbox": [0, 0, 4, 4], "segmentation": rle,
             "iscrowd": 0, "weight": 0.9, "score": 0.9},
            {"id": 2, "image_id": "imagenet_6", "category_id": 7, "bbox": [0, 0, 2, 2], "segmentation": rle,
             "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "fg"}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_merged_coco_imagenet_records_and_repeat(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    _merged_json(tmp_path / "coco/annotations/COCO_merged_IN_training_format.json")
    recs = catalog.get_dataset_dicts("coco_train_with_imagenet_train", filter_empty=True)
    by_id = {r["image_id"]: r for r in recs}
    assert set(by_id) == {"coco_139", "imagenet_5", "imagenet_6"}  # coco_7 has no annotation
    assert by_id["coco_139"]["file_name"] == str(tmp_path / "coco/train2017/000000000139.jpg")
    assert by_id["imagenet_5"]["file_name"] == str(tmp_path / "imagenet/train/n01440764/n01440764_5.JPEG")
    assert by_id["imagenet_6"]["file_name"] == str(tmp_path / "imagenet/train/n01443537/n01443537_6.JPEG")
    assert [by_id[k]["repeat"] for k in ("coco_139", "imagenet_5", "imagenet_6")] == [5, 1, 1]
    assert by_id["coco_139"]["annotations"][0]["score"] == pytest.approx(0.8)
    assert by_id["imagenet_6"]["annotations"][0]["score"] == 1.0  # no score -> 1
    # one epoch of the sampler holds the COCO image 5 times and each ImageNet image once
    sampler = TrainingSampler(len(recs), [r["repeat"] for r in recs], seed=3)
    it = iter(sampler)
    epoch = [next(it) for _ in range(7)]
    counts = {recs[i]["image_id"]: epoch.count(i) for i in set(epoch)}
    assert counts == {"coco_139": 5, "imagenet_5": 1, "imagenet_6": 1}


def test_sampler_shards_ranks_and_fractional_repeats():
    a = iter(TrainingSampler(10, seed=1, rank=0, world_size=2))
    b = iter(TrainingSampler(10, seed=1, rank=1, world_size=2))
    first = [next(a) for _ in range(5)] + [next(b) for _ in range(5)]
    assert sorted(first) == list(range(10))  # the two ranks split one permutation
    s = iter(TrainingSampler(200, [1.0] * 100 + [2.5] * 100, seed=0))
    draws = np.array([next(s) for _ in range(3500)])
    ratio = (draws >= 100).sum() / (draws < 100).sum()
    assert 2.35 < ratio < 2.65
    assert inference_indices(10, 3, 4) == [9] and inference_indices(10, 0, 4) == [0, 1, 2]


class _FixedRng:
    """Stands in for random.Random: fixed size choice and flip decision."""

    def __init__(self, flip: bool):
        self.flip = flip

    def random(self):
        return 0.0 if self.flip else 0.99

    def choice(self, seq):
        return seq[0]


def _record(tmp_path: Path, crowd: bool = False) -> dict:
    img = np.zeros((40, 60, 3), dtype=np.uint8)
    img[..., 0] = 200  # red channel
    img[10:20, 5:25] = (0, 255, 0)
    Image.fromarray(img).save(tmp_path / "a.png")
    mask = np.zeros((40, 60), dtype=bool)
    mask[10:20, 5:25] = True
    anns = [{"bbox": [5, 10, 20, 10], "segmentation": mask_to_rle(mask), "iscrowd": 0, "score": 0.6},
            {"bbox": [40, 0, 10, 10], "segmentation": [[40, 0, 50, 0, 50, 10, 40, 10]], "iscrowd": 0,
             "score": 1.0}]
    if crowd:
        anns.append({"bbox": [0, 0, 60, 40], "segmentation": None, "iscrowd": 1, "score": 1.0})
    return {"file_name": str(tmp_path / "a.png"), "image_id": 1, "height": 40, "width": 60,
            "annotations": anns}


def test_resize_rule():
    assert shortest_edge_size(480, 640, 800, 1333) == (800, 1067)
    assert shortest_edge_size(100, 1000, 800, 1333) == (133, 1333)
    assert shortest_edge_size(40, 60, 20, 1000) == (20, 30)


def test_mapper_sizes_flip_consistency_and_fields(tmp_path):
    rec = _record(tmp_path, crowd=True)
    plain = DatasetMapper(True, (20,), 1000, rng=_FixedRng(False))(rec)
    flipped = DatasetMapper(True, (20,), 1000, rng=_FixedRng(True))(rec)
    for out in (plain, flipped):
        assert out["image"].shape == (3, 20, 30) and out["image"].dtype == torch.uint8
        assert (out["height"], out["width"]) == (40, 60)
        inst = out["instances"]
        assert len(inst) == 2  # crowd dropped
        assert inst.image_size == (20, 30)
        assert inst.gt_masks.shape == (2, 20, 30) and inst.gt_masks.dtype == torch.bool
        assert inst.gt_classes.tolist() == [0, 0]
        assert inst.gt_scores.tolist() == pytest.approx([0.6, 1.0])
        # boxes agree with the tight boxes of the (resized, flipped) masks
        assert torch.allclose(inst.gt_boxes.tensor, masks_to_boxes(inst.gt_masks), atol=1.0)
    assert plain["instances"].gt_boxes.tensor[0].tolist() == pytest.approx([2.5, 5.0, 12.5, 10.0])
    assert flipped["instances"].gt_boxes.tensor[0].tolist() == pytest.approx([17.5, 5.0, 27.5, 10.0])
    assert torch.equal(flipped["instances"].gt_masks, plain["instances"].gt_masks.flip(-1))
    assert torch.equal(flipped["image"], plain["image"].flip(-1))
    # RGB by default: the object is green, background red
    assert plain["image"][:, 7, 5].tolist() == [0, 255, 0] and plain["image"][0, 0, 0] == 200
    bgr = DatasetMapper(True, (20,), 1000, image_format="BGR", rng=_FixedRng(False))(rec)
    assert torch.equal(bgr["image"], plain["image"].flip(0))
    test = DatasetMapper(False, (20,), 1000)(rec)
    assert "instances" not in test and test["image"].shape == (3, 20, 30)


def test_mapper_size_mismatch_and_missing_image(tmp_path):
    rec = _record(tmp_path)
    with pytest.raises(DataError, match="40x60"):
        DatasetMapper(True, (20,), 1000)({**rec, "height": 41})
    with pytest.raises(DataError, match="not found"):
        DatasetMapper(True, (20,), 1000)({**rec, "file_name": str(tmp_path / "missing.png")})


def test_train_loader_skips_bad_images_and_groups(tmp_path):
    from cad.config import get_cfg

    good = _record(tmp_path)
    bad = {**good, "file_name": str(tmp_path / "gone.jpg"), "image_id": 2}
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    broken = {**good, "file_name": str(tmp_path / "broken.jpg"), "image_id": 3}
    cfg = get_cfg()
    cfg.merge_from_list(["SOLVER.IMS_PER_BATCH", 2, "INPUT.MIN_SIZE_TRAIN", (20, 30),
                         "INPUT.MAX_SIZE_TRAIN", 1000, "DATALOADER.NUM_WORKERS", 0])
    loader = TrainLoader(cfg, records=[good, bad, broken], seed=0)
    it = iter(loader)
    for _ in range(3):
        batch = next(it)
        assert len(batch) == 2 and all(b["image_id"] == 1 for b in batch)
        h, w = batch[0]["image"].shape[-2:]
        assert all((b["image"].shape[-1] > b["image"].shape[-2]) == (w > h) for b in batch)


def test_register_coco_json_route_and_single_object_flag(tmp_path):
    js = tmp_path / "merged.json"
    _merged_json(js)
    data = json.loads(js.read_text())
    for im in data["images"]:  # our merge script also marks each image's dataset
        im["dataset"] = "imagenet" if im["id"].startswith("imagenet_") else "coco"
    js.write_text(json.dumps(data))
    in_root = tmp_path / "in_train"
    (in_root / "n01440764").mkdir(parents=True)
    Image.fromarray(np.full((4, 4, 3), 128, dtype=np.uint8)).save(in_root / "n01440764/n01440764_5.JPEG")
    catalog.register_coco_json("my_train", js, tmp_path / "coco_imgs", imagenet_root=in_root, coco_repeat=5)
    recs = {r["image_id"]: r for r in catalog.get_dataset_dicts("my_train", filter_empty=True)}
    assert recs["coco_139"]["file_name"] == str(tmp_path / "coco_imgs/000000000139.jpg")
    assert recs["coco_139"]["repeat"] == 5 and recs["imagenet_5"]["repeat"] == 1
    rec = recs["imagenet_5"]
    assert rec["source"] == "imagenet"
    out = DatasetMapper(True, (8,), 100, imagenet_single_object=True)(rec)
    assert out["is_single_object"] is True and out["image"].shape == (3, 8, 8)
    assert "is_single_object" not in DatasetMapper(True, (8,), 100)(rec)


def test_train_loader_stops_when_no_image_can_be_read(tmp_path):
    from cad.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_list(["SOLVER.IMS_PER_BATCH", 1, "DATALOADER.NUM_WORKERS", 0])
    bad = {**_record(tmp_path), "file_name": str(tmp_path / "gone.jpg")}
    with pytest.raises(DataError, match="in a row could not be read"):
        next(iter(TrainLoader(cfg, records=[bad], seed=0)))
