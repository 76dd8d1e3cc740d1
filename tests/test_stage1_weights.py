"""Stage-1 initialisation as the original's: DPT from timm's ImageNet ViT file, or a stop in seconds."""

import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torchvision

from models.backbones.weights import (
    NONE,
    missing_original_weights_message,
    original_weight_files,
    training_weights,
)
from models.objectness_net import ExistenceNet, ObjectnessNet
from training.objectness.args import ConfigError, build_train_parser, check_train_args

REPO = Path(__file__).resolve().parents[1]
ORIGINAL_CB_COMMAND = (
    "--dataset ImageNet_votecut_top1_Dataset --backbone_type dpt_large --optimizer adam "
    "--lr_scheduler_gamma 0.1 --learning_rate 0.0001 --batch_size 20 --lr_scheduler_gamma 0.1 "
    "--sdf_loss_type l1 --center_field_loss_type l2 --use_sdf_binary_mask_loss --use_sdf_gradient_loss "
    "--sdf_activation tanh --use_bg_sdf --train_center_and_boundary"
)


def config(flags: str, cwd: Path, monkeypatch):
    monkeypatch.chdir(cwd)
    return check_train_args(build_train_parser().parse_args(shlex.split(flags)))


def test_original_command_without_weights_stops_with_the_recipe(tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as info:
        config(f"{ORIGINAL_CB_COMMAND} --imagenet_root data/imagenet", tmp_path, monkeypatch)
    message = str(info.value)
    assert "\n" not in message
    for part in ("vit_large_patch16_384", "pretrained=True", "weights/vit_large_patch16_384.pth",
                 "--backbone_weights none"):
        assert part in message


def test_weight_file_in_weights_folder_is_picked_up(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "vit_large_patch16_384.safetensors").write_bytes(b"")
    cfg = config(f"{ORIGINAL_CB_COMMAND} --imagenet_root data/imagenet", tmp_path, monkeypatch)
    assert cfg.backbone_weights == str(Path("weights") / "vit_large_patch16_384.safetensors")


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("--backbone_weights none", NONE),  # explicit random init
        ("--backbone_weights my/vit.pth", "my/vit.pth"),  # a named file is used as given
        ("--resume run/checkpoint_last.pth", None),  # resumed weights replace the backbone's
    ],
)
def test_explicit_choices_need_no_weight_file(tmp_path, monkeypatch, extra, expected):
    cfg = config(f"{ORIGINAL_CB_COMMAND} --imagenet_root data/imagenet {extra}", tmp_path, monkeypatch)
    assert cfg.backbone_weights == expected


def test_existence_and_small_backbones_start_random_as_before(tmp_path, monkeypatch):
    existence = ORIGINAL_CB_COMMAND.replace("--train_center_and_boundary", "--train_existence")
    assert config(f"{existence} --imagenet_root x", tmp_path, monkeypatch).backbone_weights is None
    small = ORIGINAL_CB_COMMAND.replace("dpt_large", "resnet18")
    assert config(f"{small} --imagenet_root x", tmp_path, monkeypatch).backbone_weights is None
    assert training_weights(None, "vit_small", tmp_path) is None
    assert original_weight_files("dpt_hybrid", tmp_path)[1] == tmp_path / "vit_base_r50_s16_384.pth"
    with pytest.raises(FileNotFoundError, match="vit_base_r50_s16_384"):
        training_weights(None, "dpt_hybrid", tmp_path)


def test_existence_network_init_is_the_originals_random_resnet50():
    """The original built torchvision resnet50(pretrained=False) + Linear(1000, 1): same layout, random."""
    torch.manual_seed(0)
    net = ExistenceNet()
    reference = torchvision.models.resnet50(weights=None).state_dict()
    own = net.classifier_backbone.state_dict()
    assert own.keys() == reference.keys()
    assert net.binary_classification_head.weight.shape == (1, 1000)
    assert ExistenceNet(backbone_weights=NONE).arch == "resnet50"


def test_none_builds_a_random_backbone():
    net = ObjectnessNet("resnet18", backbone_weights=NONE)
    assert net.backbone_type == "resnet18"


def test_the_cli_stops_in_seconds_with_one_line(tmp_path):
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(REPO / "train_objectness_net.py"), *shlex.split(ORIGINAL_CB_COMMAND)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [f"error: {missing_original_weights_message('dpt_large')}"]
    assert elapsed < 60  # the command imports torch and parses its flags; no network is built
