"""The original unMORE README's commands, as written, on a COCO/ImageNet-layout tree in a temporary `data/`.

The tree holds two synthetic scenes as COCO val2017 (`data/coco/val2017`, `instances_val2017.json` and its
class-agnostic copy) and synthetic single-object images in the ImageNet/VoteCut layout (`data/imagenet`); the
stage-2 networks are random resnet18 checkpoints. Only the `{...}` placeholders of the original commands are
filled in, plus the data root where the original hard-coded one; size flags keep the runs small.
"""

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import merge_coco_and_imagenet
import post_process
import reasoning.cli as cli
import train_objectness_net
from COCO_evaluator import main as coco_evaluator
from datasets.synthetic import make_scene_dataset, make_single_object_dataset
from models.checkpoint import save_checkpoint
from models.objectness_net import RELEASED_OBJECTNESS, ExistenceNet, ObjectnessNet
from utils.io import DataError

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[1]
SMALL = ["--n_round", "3", "--num_workers", "0"]


@pytest.fixture
def coco_tree(tmp_path, monkeypatch):
    """`data/coco/{val2017,annotations}` from two synthetic scenes; the working directory is `tmp_path`."""
    generated = tmp_path / "generated"
    make_scene_dataset(generated, "val", 2, 96, seed=3, max_objects=3)
    gt = json.loads((generated / "annotations" / "val_cls_agnostic.json").read_text())
    images = tmp_path / "data" / "coco" / "val2017"
    images.mkdir(parents=True)
    for im in gt["images"]:
        shutil.copy(generated / "val" / Path(im["file_name"]).name, images / f"{im['id']:012d}.jpg")
        im["file_name"] = f"{im['id']:012d}.jpg"
    annotations = tmp_path / "data" / "coco" / "annotations"
    annotations.mkdir()
    for name in ("instances_val2017.json", "coco_cls_agnostic_instances_val2017.json"):
        (annotations / name).write_text(json.dumps(gt))
    torch.manual_seed(0)
    nets = tmp_path / "weights"
    nets.mkdir()
    arch = dataclasses.replace(RELEASED_OBJECTNESS, backbone_type="resnet18")
    save_checkpoint(nets / "center_boundary_model.pth", ObjectnessNet.from_config(arch), None, None, 0)
    save_checkpoint(nets / "existence_model.pth", ExistenceNet(arch="resnet18"), None, None, 0)
    make_single_object_dataset(tmp_path / "data" / "imagenet", num_classes=2, images_per_class=3,
                               image_size=48, seed=0)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def original(command: str) -> list[str]:
    return shlex.split(command.replace("{center_boundary_model_path}", "weights/center_boundary_model.pth")
                       .replace("{existence_model_path}", "weights/existence_model.pth"))


def test_reasoning_scoring_post_process_and_evaluation_as_written(coco_tree):
    discovered = cli.main_reasoning(original(
        "--sdf_activation tanh --use_bg_sdf --objectness_resume {center_boundary_model_path} "
        "--binary_classifier_resume {existence_model_path} --start_idx 0 --end_idx 20 --analyze_cc") + SMALL)
    assert discovered.resolve() == coco_tree / "results_reasoning" / "val2017_0_20" / "discovery_results.json"
    assert sorted(json.loads(discovered.read_text())) == ["1", "2"]

    scored = cli.main_scoring(original(
        "--sdf_activation tanh --use_bg_sdf --objectness_resume {center_boundary_model_path} "
        "--binary_classifier_resume {existence_model_path} --start_idx 0 --end_idx 20 "
        f"--raw_annotations_path {discovered}") + ["--num_workers", "0"])
    results = json.loads(scored.read_text())
    assert scored.name == "object_discovery_with_scores.json" and isinstance(results, list)

    assert post_process.main(shlex.split(
        f"--pred_annotations_path {scored} --existence_score_thres 0.5 --center_score_thres 0.8 "
        "--boundary_score_thres 0.75 --dataset COCO --split test")) == 0
    selected = json.loads((scored.parent / "selected_training_annotations.json").read_text())
    assert {im["id"] for im in selected["images"]} <= {1, 2}

    assert coco_evaluator.main(shlex.split(
        "--gt_annotations data/coco/annotations/coco_cls_agnostic_instances_val2017.json "
        f"--pred_annotations {scored}")) == 0
    assert (scored.parent / "ap_score.json").is_file()


def test_merge_as_written(coco_tree, tmp_path):
    imagenet = {"images": [{"id": 1, "file_name": "n01440764/n01440764_1.JPEG", "height": 8, "width": 8}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16,
                                 "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]], "weight": 0.9}],
                "categories": [{"id": 1, "name": "fg"}]}
    votecut = tmp_path / "imagenet_train_votecut_kmax_3_tuam_0.2.json"
    votecut.write_text(json.dumps(imagenet))
    coco = tmp_path / "data" / "coco" / "annotations" / "coco_cls_agnostic_instances_val2017.json"
    assert merge_coco_and_imagenet.main(shlex.split(
        f"--coco_annotations_training_format_path {coco} "
        f"--imagenet_annotations_training_format_path {votecut}")) == 0
    merged = list((tmp_path / "data" / "coco" / "annotations").rglob("COCO_merged_IN_training_format.json"))
    assert len(merged) == 1
    assert len(json.loads(merged[0].read_text())["images"]) == 3


def test_missing_default_data_is_one_line_with_the_download(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DETECTRON2_DATASETS", raising=False)
    for split, url in (("test", "val2017.zip"), ("train", "train2017.zip")):
        with pytest.raises(DataError) as info:
            cli.main_reasoning(["--dataset", "COCO", "--dataset_split", split, "--objectness_resume", "x",
                                "--binary_classifier_resume", "y"])
        message = str(info.value)
        assert "\n" not in message and url in message and "README.md#downloads" in message


def test_missing_post_process_split_names_how_to_make_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DETECTRON2_DATASETS", raising=False)
    (tmp_path / "scored.json").write_text("[]")
    assert post_process.main(shlex.split(
        "--pred_annotations_path scored.json --existence_score_thres 0.5 --center_score_thres 0.8 "
        "--boundary_score_thres 0.75 --dataset COCO --split train")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "coco_cls_agnostic_instances_train2017.json not found" in err[0]
    assert "tools/convert_to_cls_agnostic.py --input data/coco/annotations/instances_train2017.json" in err[0]


def test_missing_detector_dataset_names_its_download(tmp_path, monkeypatch):
    from cad.data.catalog import gt_json_path

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    with pytest.raises(DataError, match="drive.google.com.*1Vam0DamGADy_rClswNCIDpheGhiPKmYf"):
        gt_json_path("cls_agnostic_coco20k")


def test_stage1_existence_command_as_written(coco_tree):
    """The original's existence command (it names dpt_large, which the existence task does not use)."""
    summary = train_objectness_net.main(shlex.split(
        "--dataset ImageNet_votecut_top1_Dataset --backbone_type dpt_large --optimizer adam "
        "--lr_scheduler_gamma 0.1 --learning_rate 0.0001 --batch_size 20 --lr_scheduler_gamma 0.1 "
        "--sdf_loss_type l1 --center_field_loss_type l2 --use_sdf_binary_mask_loss --use_sdf_gradient_loss "
        "--sdf_activation tanh --use_bg_sdf --train_existence"
        " --imagenet_root data/imagenet --train_iter 2 --image_size 32 --num_workers 0 --no_progress"))
    assert summary["iter"] == 2
    assert (coco_tree / "outputs/objectness/existence_resnet50/checkpoint_last.pth").is_file()


def test_check_setup_finds_the_tree(coco_tree, capsys):
    from tools import check_setup

    assert check_setup.main(["--steps", "stage 1", "stage 2"]) == 0
    out = capsys.readouterr().out
    for name in ("imagenet_train", "votecut_imagenet_train", "votecut_top1_masks", "coco_val2017",
                 "coco_instances_val2017", "coco_val"):
        line = next(row for row in out.splitlines() if f" {name} " in row)
        assert " ok " in line, line


DETECTOR_ON_CPU = ["MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"]


def run_as_written(command: str, tree: Path, extra: list[str]) -> subprocess.CompletedProcess:
    """`VAR=... python cad/train_net.py ...` run from the tree (its `cad/` links to the repository's), with
    `extra` options appended: what a CPU machine and a tiny test size need."""
    if not (tree / "cad").exists():
        (tree / "cad").symlink_to(REPO / "cad", target_is_directory=True)
    words = shlex.split(command)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    env.pop("DETECTRON2_DATASETS", None)  # the original's data root: data/ under the working directory
    return subprocess.run([sys.executable, *words[1:], *extra], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=900)


def test_detector_train_and_eval_as_written(coco_tree):
    """The original's detector commands: train on the merged COCO + ImageNet labels with `--num-gpus 4`, then
    evaluate the trained weights on COCO* with `--num-gpus 2` (worker processes on the CPU). Appended: the
    CPU device, random initial weights instead of the DINO file, and small sizes."""
    annotations = coco_tree / "data" / "coco" / "annotations"
    shutil.copytree(coco_tree / "data" / "coco" / "val2017", coco_tree / "data" / "coco" / "train2017")
    shutil.copy(annotations / "coco_cls_agnostic_instances_val2017.json",
                annotations / "COCO_star_val2017_cls_agnostic.json")
    assert merge_coco_and_imagenet.main(shlex.split(
        "--coco_annotations_training_format_path "
        "data/coco/annotations/coco_cls_agnostic_instances_val2017.json "
        "--imagenet_annotations_training_format_path "
        "data/imagenet/annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json")) == 0

    trained = run_as_written(
        "CUDA_VISIBLE_DEVICES=1,2,3,4 python cad/train_net.py --num-gpus 4 "
        "--config-file cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml", coco_tree,
        DETECTOR_ON_CPU + ["MODEL.WEIGHTS", "", "SOLVER.MAX_ITER", "1", "SOLVER.IMS_PER_BATCH", "4",
                           "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96",
                           "DATALOADER.NUM_WORKERS", "0", "TEST.PRECISE_BN.ENABLED", "False"])
    assert trained.returncode == 0, trained.stderr[-3000:]
    weights = coco_tree / "cad_results" / "coco_train_with_imagenet_train" / "model_final.pth"
    assert weights.is_file()

    evaluated = run_as_written(
        "CUDA_VISIBLE_DEVICES=1,2 python cad/train_net.py "
        "--config-file cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml --num-gpus 2 "
        f"--eval-only --test-dataset 'cls_agnostic_coco*_val_17' MODEL.WEIGHTS {weights} "
        "OUTPUT_DIR 'cad_eval/cls_agnostic_coco*_val_17'", coco_tree, DETECTOR_ON_CPU)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    out = coco_tree / "cad_eval" / "cls_agnostic_coco*_val_17"
    assert "AP50" in json.loads((out / "ap_score.json").read_text()).get("bbox", {})
    assert isinstance(json.loads((out / "inference" / "coco_instances_results.json").read_text()), list)


def test_detector_commands_as_written_without_cuda_say_how(coco_tree):
    """On a machine without CUDA the command as written stops with one line naming the fix."""
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the command would start training")
    ran = run_as_written(
        "CUDA_VISIBLE_DEVICES=1,2,3,4 python cad/train_net.py --num-gpus 4 "
        "--config-file cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml", coco_tree, [])
    lines = ran.stderr.strip().splitlines()
    assert ran.returncode != 0 and len(lines) == 1 and "MODEL.DEVICE cpu" in lines[0], ran.stderr
