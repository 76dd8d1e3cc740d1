"""Optimiser groups, LR schedule, gradient clipping, PreciseBN and trainer-state checkpoints."""

import pytest
import torch
from torch import nn

from cad.checkpoint import load_weights, missing_weights_message
from cad.config import get_cfg
from cad.engine.checkpointer import Checkpointer
from cad.engine.precise_bn import update_bn_stats
from cad.engine.solver import WarmupLR, build_lr_scheduler, build_optimizer, clip_gradients, param_groups


def _lrs(sched, opt, iters):
    out = []
    for _ in range(iters):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_recipe_schedule_warmup_then_constant():
    cfg = get_cfg()
    cfg.merge_from_file("cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml")
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p], "lr": 0.01, "initial_lr": 0.01}], lr=0.01)
    sched = build_lr_scheduler(cfg, opt)
    assert sched.steps == []  # step 79999 >= MAX_ITER 30000 is dropped
    lrs = _lrs(sched, opt, 3)
    assert lrs == pytest.approx([1e-5, 0.01 * (0.001 * 0.999 + 0.001), 0.01 * (0.001 * 0.998 + 0.002)])
    assert 0.01 * sched.factor(500) == pytest.approx(0.01 * (0.001 * 0.5 + 0.5))
    assert sched.factor(999) < 1.0
    assert sched.factor(1000) == 1.0 and sched.factor(29999) == 1.0


def test_multistep_and_state_dict_round_trip():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p], "lr": 1.0, "initial_lr": 1.0}], lr=1.0)
    sched = WarmupLR(opt, "WarmupMultiStepLR", 30, steps=(10, 20), gamma=0.1, warmup_factor=0.5,
                     warmup_iters=4, warmup_method="linear")
    lrs = _lrs(sched, opt, 25)
    assert lrs[:4] == pytest.approx([0.5, 0.625, 0.75, 0.875])
    assert lrs[9] == pytest.approx(1.0) and lrs[10] == pytest.approx(0.1) and lrs[20] == pytest.approx(0.01)
    opt2 = torch.optim.SGD([{"params": [p], "lr": 1.0, "initial_lr": 1.0}], lr=1.0)
    sched2 = WarmupLR(opt2, "WarmupMultiStepLR", 30, steps=(10, 20), gamma=0.1, warmup_factor=0.5,
                      warmup_iters=4)
    sched2.load_state_dict(sched.state_dict())
    assert sched2.last_epoch == 25 and sched2.get_lr() == pytest.approx([0.01])


def test_param_groups_no_weight_decay_on_norms():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.GroupNorm(2, 4))
    groups = {g["name"]: g for g in param_groups(model, 0.1, 5e-5, 0.0, None, 2.0)}
    assert groups["0.weight"]["weight_decay"] == 5e-5 and groups["0.weight"]["lr"] == 0.1
    assert groups["0.bias"]["weight_decay"] == 5e-5 and groups["0.bias"]["lr"] == pytest.approx(0.2)
    for k in ("1.weight", "1.bias", "2.weight", "2.bias"):
        assert groups[k]["weight_decay"] == 0.0
    cfg = get_cfg()
    opt = build_optimizer(cfg, model)
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    assert sum(len(g["params"]) for g in opt.param_groups) == 6


def test_gradient_clipping_per_parameter():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    a.grad, b.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])
    clip_gradients([a, b], "norm", 1.0, 2.0)
    assert a.grad.tolist() == pytest.approx([0.6, 0.8], rel=1e-5)  # norm 5 -> 1
    assert b.grad.tolist() == pytest.approx([0.3, 0.4])  # norm 0.5 untouched (a global clip would scale it)
    a.grad = torch.tensor([3.0, -4.0])
    clip_gradients([a], "value", 1.0)
    assert a.grad.tolist() == [1.0, -1.0]
    a.grad, b.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0])
    clip_gradients([a, b], "full_model", 1.0)
    assert a.grad.tolist() == pytest.approx([0.6, 0.8], rel=1e-5)
    with pytest.raises(ValueError, match="CLIP_TYPE"):
        clip_gradients([a], "bogus", 1.0)


def test_precise_bn_averages_batch_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm2d(2, momentum=0.1))
    model.train()
    batches = [torch.randn(4, 2, 3, 3) * (i + 1) + i for i in range(3)]
    n = update_bn_stats(model, batches, num_iter=3)
    assert n == 3
    bn = model[0]
    want_mean = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    want_var = torch.stack([b.var(dim=(0, 2, 3), unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(bn.running_mean, want_mean, atol=1e-5)
    assert torch.allclose(bn.running_var, want_var, atol=1e-4)
    assert bn.momentum == 0.1


def test_checkpoint_round_trip_and_resume(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    opt = torch.optim.SGD([{"params": list(model.parameters()), "lr": 0.1, "initial_lr": 0.1}], momentum=0.9)
    sched = WarmupLR(opt, "WarmupMultiStepLR", 100, warmup_iters=10)
    for _ in range(3):
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        sched.step()
    ck = Checkpointer(model, tmp_path, opt, sched)
    path = ck.save("model_0000002", 2)
    assert path.is_file() and (tmp_path / "last_checkpoint").read_text() == "model_0000002.pth"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    model2 = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    opt2 = torch.optim.SGD([{"params": list(model2.parameters()), "lr": 0.1, "initial_lr": 0.1}],
                           momentum=0.9)
    sched2 = WarmupLR(opt2, "WarmupMultiStepLR", 100, warmup_iters=10)
    start = Checkpointer(model2, tmp_path, opt2, sched2).resume_or_load("", resume=True)
    assert start == 3 and sched2.last_epoch == sched.last_epoch
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k])
    m1 = opt.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(m1, opt2.state_dict()["state"][0]["momentum_buffer"])
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    # without --resume the weights come from MODEL.WEIGHTS and training starts at 0
    assert Checkpointer(model2, tmp_path, opt2, sched2).resume_or_load("", resume=False) == 0


def test_missing_weights_message_names_download():
    msg = missing_weights_message("checkpoints/dino_RN50_pretrain_d2_format.pkl")
    assert "http://dl.fbaipublicfiles.com/cutler/checkpoints/dino_RN50_pretrain_d2_format.pkl" in msg
    assert "1drv.ms" in missing_weights_message("/x/unMORE_model.pth")
    with pytest.raises(FileNotFoundError, match="dino_RN50_pretrain_d2_format.pkl"):
        load_weights(nn.Linear(1, 1), "/nonexistent/model.pth")
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_weights(nn.Linear(1, 1), "http://example.com/model.pkl")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_model_device_cuda_without_cuda_is_an_error(capsys):
    from cad.engine.defaults import resolve_model_device
    from cad.train_net import cli
    from utils.distributed import DistInfo

    cfg = get_cfg()
    with pytest.raises(RuntimeError, match="MODEL.DEVICE cuda requested but CUDA is not available; pass "
                                           "MODEL.DEVICE cpu"):
        resolve_model_device(cfg, DistInfo())
    cfg.MODEL.DEVICE = "cpu"
    assert resolve_model_device(cfg, DistInfo(rank=1, world_size=2, local_rank=1)) == torch.device("cpu")
    with pytest.raises(SystemExit) as e:
        cli(["--eval-only", "--test-dataset", "x"])
    assert e.value.code == 2 and "pass MODEL.DEVICE cpu" in capsys.readouterr().err


def test_auto_scale_workers_linear_rule():
    from cad.engine.defaults import auto_scale_workers

    cfg = get_cfg()
    cfg.merge_from_list(["SOLVER.REFERENCE_WORLD_SIZE", 8, "SOLVER.IMS_PER_BATCH", 16, "SOLVER.BASE_LR", 0.02,
                         "SOLVER.MAX_ITER", 1000, "SOLVER.STEPS", (600, 800), "SOLVER.WARMUP_ITERS", 100])
    cfg.freeze()
    out = auto_scale_workers(cfg, 4)
    s = out.SOLVER
    assert (s.IMS_PER_BATCH, s.MAX_ITER, s.STEPS, s.WARMUP_ITERS) == (8, 2000, (1200, 1600), 200)
    assert s.BASE_LR == pytest.approx(0.01) and out.is_frozen()
    assert auto_scale_workers(cfg, 8) is cfg
