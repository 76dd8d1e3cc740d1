"""R-MONet resume is exact: a run stopped at a checkpoint and resumed ends with the uninterrupted run's
weights, optimizer and scheduler state, bit for bit (tiny config, CPU)."""

import pytest
import torch
from helpers import tiny_cfg

from training.rmonet.loop import train
from utils.distributed import DistInfo

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(tmp_path, name: str, max_iters: int, resume: bool = False) -> dict:
    cfg = tiny_cfg(tmp_path / name, "model.variant=lite", "train.ckpt_every=3",
                   f"train.max_iters={max_iters}")
    train(cfg, torch.device("cpu"), DistInfo(), resume=resume)
    return torch.load(tmp_path / name / "run" / "checkpoint_last.pth", weights_only=False)


def test_stopped_and_resumed_run_equals_the_uninterrupted_run(tmp_path):
    full = _run(tmp_path, "full", 5)  # 2 batches per epoch: the resume point (3) is inside an epoch
    _run(tmp_path, "cut", 3)
    resumed = _run(tmp_path, "cut", 5, resume=True)
    assert resumed["iter"] == full["iter"] == 5
    a, b = full["model_state_dict"], resumed["model_state_dict"]
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
    assert full["lr_scheduler_state_dict"] == resumed["lr_scheduler_state_dict"]
    sa, sb = full["optimizer_state_dict"]["state"], resumed["optimizer_state_dict"]["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)
