"""No silent overwrites and the right names in messages (issue 11, rows 9 and 10)."""

import json

import pytest

import eval_objectness_net
import merge_coco_and_imagenet
import post_process
from tools.make_synthetic_data import main as make_synthetic_data

TINY = ["--num_classes", "1", "--images_per_class", "2", "--skip_scenes", "--heldout_classes", "1",
        "--heldout_images_per_class", "1", "--image_size", "32"]


def test_merge_refuses_to_overwrite_an_existing_output(tmp_path, capsys):
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "height": 8, "width": 8}], "annotations": [],
            "categories": [{"id": 1, "name": "fg"}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    (tmp_path / "i.json").write_text(json.dumps({**coco, "images": []}))
    out = tmp_path / "mine.json"
    out.write_text("precious")
    argv = ["--coco_annotations_training_format_path", str(tmp_path / "c.json"),
            "--imagenet_annotations_training_format_path", str(tmp_path / "i.json"),
            "--output_path", str(out)]
    assert merge_coco_and_imagenet.main(argv) == 2
    assert out.read_text() == "precious"
    assert capsys.readouterr().err.strip() == f"error: {out} already exists; pass --overwrite to replace it"
    assert merge_coco_and_imagenet.main([*argv, "--overwrite"]) == 0
    assert json.loads(out.read_text())["images"][0]["id"] == "coco_1"


def test_generator_refuses_to_overwrite_a_user_file_with_a_generated_name(tmp_path, capsys):
    user = tmp_path / "imagenet" / "train" / "n00000001" / "n00000001_00001.JPEG"
    user.parent.mkdir(parents=True)
    user.write_bytes(b"my holiday photo")
    assert make_synthetic_data(["--out", str(tmp_path), *TINY]) == 1
    assert user.read_bytes() == b"my holiday photo"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"(e.g. {user}); pass --overwrite" in err[0]
    assert make_synthetic_data(["--out", str(tmp_path), *TINY, "--overwrite"]) == 0
    assert user.read_bytes()[:2] == b"\xff\xd8"  # now the generated JPEG
    # files the generator wrote itself (listed in its manifest) are regenerated without --overwrite
    assert make_synthetic_data(["--out", str(tmp_path), *TINY]) == 0


def test_eval_objectness_names_its_own_flag_for_a_missing_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        eval_objectness_net.main(["--checkpoint", str(tmp_path / "none.pth"),
                                  "--imagenet_root", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass its path with --checkpoint" in err[0] and "--resume" not in err[0]


def test_post_process_names_the_bad_image_list_file(tmp_path, capsys):
    pred = tmp_path / "scored.json"
    pred.write_text("[]")
    gt = tmp_path / "list.json"
    gt.write_text(json.dumps({"annotations": []}))
    assert post_process.main(["--pred_annotations_path", str(pred), "--gt_annotations", str(gt)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: image-list annotation file {gt}: has no 'images' list"
