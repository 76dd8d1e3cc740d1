"""tools/make_synthetic_data.py on tiny sizes: the documented layout, held-out seed, stale-file pruning."""

import json

import numpy as np
from PIL import Image

from tools.make_synthetic_data import main

TINY = ["--num_classes", "2", "--images_per_class", "2", "--heldout_classes", "1",
        "--heldout_images_per_class", "2", "--train_scenes", "2", "--val_scenes", "1",
        "--image_size", "48", "--scene_size", "48x64", "--scene_size_jitter", "0"]


def test_cli_writes_the_documented_layout(tmp_path):
    out = tmp_path / "synthetic"
    assert main(["--out", str(out), "--seed", "0", *TINY]) == 0
    votecut = "annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json"
    for name, n in (("imagenet", 4), ("imagenet_heldout", 2)):
        data = json.loads((out / name / votecut).read_text())
        assert len(data["images"]) == n
        for im in data["images"]:
            assert (out / name / "train" / im["file_name"]).is_file()
            wnid, fname = im["file_name"].split("/")
            mask_dir = out / name / "masks_top1_single_component" / wnid
            assert (mask_dir / fname.replace(".JPEG", ".png")).is_file()
    # the held-out set uses another seed: same names, different pixels
    a = np.asarray(Image.open(out / "imagenet/train/n00000001/n00000001_00000.JPEG"))
    b = np.asarray(Image.open(out / "imagenet_heldout/train/n00000001/n00000001_00000.JPEG"))
    assert a.shape != b.shape or not np.array_equal(a, b)
    for split, n in (("train", 2), ("val", 1)):
        gt = json.loads((out / "scenes/annotations" / f"{split}_cls_agnostic.json").read_text())
        assert [im["file_name"] for im in gt["images"]] == [f"{split}_{i + 1:06d}.jpg" for i in range(n)]
        for im in gt["images"]:
            assert Image.open(out / "scenes" / split / im["file_name"]).size == (64, 48)
        assert gt["annotations"] and gt["categories"] == [{"id": 1, "name": "fg"}]


def test_cli_regeneration_removes_stale_files(tmp_path):
    out = tmp_path / "synthetic"
    assert main(["--out", str(out), *TINY]) == 0
    assert (out / "imagenet/train/n00000002/n00000002_00001.JPEG").is_file()
    smaller = TINY + ["--num_classes", "1", "--train_scenes", "1"]
    assert main(["--out", str(out), *smaller]) == 0
    assert sorted(p.name for p in (out / "imagenet/train").rglob("*.JPEG")) == [
        "n00000001_00000.JPEG", "n00000001_00001.JPEG"]
    assert len(list((out / "imagenet/masks_top1_single_component").rglob("*.png"))) == 2
    assert sorted(p.name for p in (out / "scenes/train").glob("*.jpg")) == ["train_000001.jpg"]
    assert len(list((out / "scenes/val").glob("*.jpg"))) == 1


def test_cli_rejects_bad_size(capsys):
    try:
        main(["--image_size", "12x"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("argparse should exit")
    assert "--image_size" in capsys.readouterr().err
