"""training/engine.py: hook order, periodic hooks, budget stop, exact checkpoint/resume of a toy model."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from torch import nn

from models.checkpoint import checkpoint_state, load_checkpoint
from training.engine import (
    Budget,
    HookBase,
    PeriodicCallback,
    PeriodicCheckpointer,
    PeriodicWriter,
    ScalarWindow,
    TrainerBase,
    restore_training_state,
)
from utils.checkpoint import capture_rng_state


class Recorder(HookBase):
    def __init__(self, name: str, calls: list):
        self.name, self.calls = name, calls

    def before_train(self):
        self.calls.append((self.name, "before_train", self.trainer.iter))

    def before_step(self):
        self.calls.append((self.name, "before_step", self.trainer.iter))

    def after_step(self):
        self.calls.append((self.name, "after_step", self.trainer.iter))

    def after_train(self):
        self.calls.append((self.name, "after_train", self.trainer.iter))

    def close(self):
        self.calls.append((self.name, "close", self.trainer.iter))


class Counting(TrainerBase):
    def __init__(self, calls: list | None = None, fail_at: int | None = None):
        super().__init__()
        self.calls, self.fail_at = calls if calls is not None else [], fail_at
        self.window = ScalarWindow(["x"])

    def run_step(self):
        if self.iter + 1 == self.fail_at:
            raise RuntimeError("boom")
        self.calls.append(("trainer", "run_step", self.iter))
        self.window.add({"x": float(self.iter + 1)})


def test_hook_call_order():
    calls: list = []
    t = Counting(calls)
    t.register_hooks([Recorder("a", calls), None, Recorder("b", calls)])
    t.train(0, 2)
    step = [
        ("a", "before_step"),
        ("b", "before_step"),
        ("trainer", "run_step"),
        ("a", "after_step"),
        ("b", "after_step"),
    ]
    expected = [("a", "before_train", 0), ("b", "before_train", 0)]
    for i in range(2):  # run_step sees the completed steps; after_step sees them incremented
        expected += [(n, w, i + (w == "after_step")) for n, w in step]
    expected += [("a", "after_train", 2), ("b", "after_train", 2), ("a", "close", 2), ("b", "close", 2)]
    assert calls == expected


def test_exception_skips_after_train_but_closes():
    calls: list = []
    t = Counting(calls, fail_at=2)
    t.register_hooks([Recorder("a", calls)])
    with pytest.raises(RuntimeError, match="boom"):
        t.train(0, 5)
    assert [c[1] for c in calls if c[0] == "a"][-3:] == ["after_step", "before_step", "close"]
    assert t.iter == 1


def test_periodic_hooks_fire_at_the_right_iterations(tmp_path):
    fired: list[int] = []
    t = Counting()
    writer = PeriodicWriter(tmp_path / "log.jsonl", period=3)
    ckpt = PeriodicCheckpointer(tmp_path, 4, lambda: {"iter": t.iter}, latest="last.pth", keep=2)
    t.register_hooks([writer, ckpt, PeriodicCallback(5, lambda: fired.append(t.iter))])
    t.train(0, 11)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    # window means of x = 1..11 over (1,2,3) (4,5,6) (7,8,9) (10,11); the last iteration always logs
    assert records == [
        {"iter": 3, "x": 2.0},
        {"iter": 6, "x": 5.0},
        {"iter": 9, "x": 8.0},
        {"iter": 11, "x": 10.5},
    ]
    assert t.last_record == records[-1]
    assert fired == [5, 10, 11]  # period 5, plus once at the end
    assert sorted(p.name for p in tmp_path.glob("checkpoint_iter_*.pth")) == [
        "checkpoint_iter_0000004.pth",
        "checkpoint_iter_0000008.pth",
    ]
    assert load_checkpoint(tmp_path / "last.pth")["iter"] == 11  # final save (11 is not a multiple of 4)


def test_final_hooks_do_not_repeat_at_a_period_boundary(tmp_path):
    fired: list[int] = []
    saves: list[int] = []
    t = Counting()
    t.register_hooks(
        [
            PeriodicCheckpointer(tmp_path, 4, lambda: saves.append(t.iter) or {}, latest="l.pth"),
            PeriodicCallback(4, lambda: fired.append(t.iter)),
        ]
    )
    t.train(0, 8)
    assert saves == [4, 8] and fired == [4, 8]
    assert not list(tmp_path.glob("checkpoint_iter_*"))  # keep=0: no numbered copies


def test_budget_stops_by_steps_and_by_time(tmp_path):
    t = Counting()
    t.register_hooks([Budget(steps=3), PeriodicWriter(tmp_path / "log.jsonl", period=5)])
    t.train(5, 100)
    assert t.iter == 8
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records == [{"iter": 8, "x": 7.0}]  # the window (6, 7, 8) is written when the budget stops
    ticks = itertools.count()
    t = Counting()
    t.register_hooks([Budget(seconds=4.0, clock=lambda: float(next(ticks)))])  # one tick per call
    t.train(0, math.inf)
    assert t.iter == 4  # deadline 0 + 4 reached by the clock reading of the 4th step


class Toy(TrainerBase):
    """A linear model trained by SGD with momentum on data from the global torch RNG."""

    def __init__(self, out_dir, ckpt_period: int):
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Linear(4, 2)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=3, gamma=0.5)
        self.register_hooks([PeriodicCheckpointer(out_dir, ckpt_period, self.state, latest="latest.pth")])

    def state(self) -> dict:
        return checkpoint_state(self.model, self.opt, self.sched, self.iter, rng_state=capture_rng_state())

    def run_step(self):
        x = torch.randn(8, 4)
        loss = (self.model(x) - x[:, :2].sin()).pow(2).mean() + torch.rand(()) * 0
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()


def test_checkpoint_resume_is_bit_identical(tmp_path):
    straight = Toy(tmp_path / "a", ckpt_period=100)
    straight.train(0, 10)

    first = Toy(tmp_path / "b", ckpt_period=100)
    first.register_hooks([Budget(steps=4)])
    first.train(0, 10)  # stopped after 4 steps; the final checkpoint is written
    torch.manual_seed(123)  # the resumed run must not depend on the RNG state before the restore
    resumed = Toy(tmp_path / "b", ckpt_period=100)
    start = restore_training_state(
        load_checkpoint(tmp_path / "b" / "latest.pth"), resumed.model, resumed.opt, resumed.sched
    )
    assert start == 4
    resumed.train(start, 10)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert resumed.sched.get_last_lr() == straight.sched.get_last_lr()
