"""torchrun with 2 CPU processes (gloo backend): stage-1 and R-MONet training run under DDP; only rank 0
writes logs and checkpoints, and checkpoints hold the unwrapped model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from datasets.synthetic import make_single_object_dataset
from training.rmonet.config import config_dict, load_config

REPO = Path(__file__).resolve().parents[1]


def torchrun(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_stage1_center_boundary_under_torchrun(tmp_path):
    root = tmp_path / "imagenet"
    make_single_object_dataset(root, num_classes=2, images_per_class=4, image_size=48, seed=0)
    out = tmp_path / "run"
    flags = (
        f"--imagenet_root {root} --output_dir {out} --backbone_type resnet18 --image_size 32 "
        "--num_workers 0 --no_progress --seed 0 --device cpu --train_center_and_boundary --sdf_loss_type l1 "
        "--center_field_loss_type l2 --use_sdf_binary_mask_loss --use_sdf_gradient_loss "
        "--sdf_activation tanh "
        "--use_bg_sdf --batch_size 2 --max_iters 3 --log_interval 1 --ckpt_interval 3 --vis_interval 3"
    )
    torchrun("train_objectness_net.py", *flags.split())
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == [1, 2, 3]  # one writer: no duplicated records
    state = torch.load(out / "checkpoint_last.pth", weights_only=True)
    assert state["iter"] == 3
    assert not any(k.startswith("module.") for k in state["model_state_dict"])  # saved unwrapped


@pytest.mark.parametrize("variant", ["unet", "monet_fpn"])  # monet_fpn leaves FPN levels unused
def test_rmonet_under_torchrun(tmp_path, variant):
    cfg = load_config(
        None,
        [
            f"model.variant={variant}",
            "model.num_slots=3",
            "model.fpn_channels=16",
            "model.head_channels=8",
            "model.vae_channels=[8,8,32]",
            "data.image_size=32",
            "data.num_train=8",
            "data.num_test=4",
            "data.num_workers=0",
            "train.batch_size=4",
            "train.max_epochs=null",
            "train.max_iters=3",
            "train.log_every=1",
            "train.eval_every=2",
            "train.eval_images=4",
            "train.schedule={unit: iter, warmup: 0, cycle: 1000, reset_decay: 1.0}",
            "eval.batch_size=4",
            "eval.num_figures=2",
            f"output_dir={tmp_path / 'run'}",
        ],
    )
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(config_dict(cfg)))
    torchrun("train_rmonet.py", "--config", str(config), "--device", "cpu")
    run = tmp_path / "run"
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log if "loss" in r] == [1, 2, 3]
    assert [r["iter"] for r in log if "eval" in r] == [2, 3]
    state = torch.load(run / "checkpoint_last.pth", weights_only=False)
    assert state["iter"] == 3
    assert not any(k.startswith("module.") for k in state["model_state_dict"])
    assert len(state["rng_states"]) == 2  # each process's RNGs, restored per rank on resume
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["images_per_s"] > 0 and summary["iterations"] == 3


def _one_process_group(store: Path) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)


def test_process_group_teardown_destroys_the_group_after_success_and_after_an_error(tmp_path, monkeypatch):
    """A finished job waits at a barrier before the group is destroyed; a failed one destroys it without
    waiting (its peers may be gone) and the error propagates."""
    import torch.distributed as dist

    from utils.distributed import process_group_teardown

    barriers = []
    real_barrier = dist.barrier
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: (barriers.append(1), real_barrier(*a, **k)))
    _one_process_group(tmp_path / "store_ok")
    with process_group_teardown():
        pass
    assert not dist.is_initialized() and barriers == [1]

    _one_process_group(tmp_path / "store_failed")
    with pytest.raises(RuntimeError, match="boom"), process_group_teardown():
        raise RuntimeError("boom")
    assert not dist.is_initialized() and barriers == [1]
