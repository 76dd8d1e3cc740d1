"""A small training engine: an iteration loop, one `run_step` per iteration, and hooks around it.

A training loop plugs in by subclassing `TrainerBase` and implementing `run_step()` (one optimisation
step: next batch, forward, backward, optimiser/scheduler step); it may `window.add(...)` its scalars.
Everything periodic is a hook registered with `register_hooks`, called in registration order:
`before_train`, then per iteration `before_step` / `run_step` / `after_step`, then `after_train` (only when
the loop ends normally: `max_iter` reached or a hook called `request_stop()`), and `close` (always, also
after an exception; release files there). `trainer.iter` counts completed steps: `run_step` performs step
`iter + 1`, and `after_step` sees `iter` already incremented, so a hook with period p fires at p, 2p, ...
Provided hooks: `PeriodicWriter` (JSONL + optional TensorBoard), `PeriodicCheckpointer` (atomic files),
`EvalHook` (evaluation), `CurvePlotHook` / `VisualizationHook` (figures), `PeriodicCallback` (their base:
any other periodic work), `Budget` (time/step stop)
and `ProgressBar`.
`DefaultTrainer` assembles a run from override points, in the manner of detectron2's DefaultTrainer:
`build_model`, `build_optimizer`, `build_scheduler` (called by the subclass's constructor, in its order),
`build_loader` and `build_hooks` (called by `fit`). Process groups are started by the scripts and handed
in (`utils.distributed.DistInfo`), never by a constructor.
Resume: build the trainer, `restore_training_state(ckpt, ...)` -> start_iter, then `train(start_iter, max)`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from utils.checkpoint import restore_rng_state, unwrap_model
from utils.io import JsonlWriter, atomic_torch_save, read_jsonl


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(t: torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """Sum of `t` over all processes (itself without torch.distributed); computed on `device`."""
    if not _distributed():
        return t
    out = t.to(device) if device is not None else t.clone()
    dist.all_reduce(out)
    return out.to(t.device)


class ScalarWindow:
    """Sums and counts of fixed scalar keys since the last `pop`; the means are averaged over processes."""

    def __init__(self, keys: Iterable[str], device: torch.device | None = None):
        self.keys, self.device = sorted(keys), device
        self.sums, self.counts = dict.fromkeys(self.keys, 0.0), dict.fromkeys(self.keys, 0)

    def add(self, values: Mapping[str, float]) -> None:
        for k in self.keys:
            if k in values:
                self.sums[k] += float(values[k])
                self.counts[k] += 1

    def pop(self) -> dict[str, float]:
        """Means over the window and all processes (keys seen nowhere are left out); then reset."""
        t = torch.tensor([[self.sums[k], self.counts[k]] for k in self.keys], dtype=torch.float64)
        t = all_reduce_sum(t, self.device)
        self.sums, self.counts = dict.fromkeys(self.keys, 0.0), dict.fromkeys(self.keys, 0)
        return {k: float(t[i, 0] / t[i, 1]) for i, k in enumerate(self.keys) if t[i, 1] > 0}


class HookBase:
    """Does nothing at every point of the loop; `trainer` is set by `TrainerBase.register_hooks`."""

    trainer: TrainerBase

    def before_train(self) -> None: ...
    def before_step(self) -> None: ...
    def after_step(self) -> None: ...
    def after_train(self) -> None: ...
    def close(self) -> None: ...

    def due(self, period: int) -> bool:
        return period > 0 and self.trainer.iter % period == 0


class TrainerBase:
    """The loop; subclasses implement `run_step` and may override `log_record`."""

    def __init__(self) -> None:
        self.hooks: list[HookBase] = []
        self.iter = self.start_iter = 0
        self.max_iter: float = 0
        self.window = ScalarWindow(())
        self.last_record: dict[str, Any] = {}
        self._stop = False

    def register_hooks(self, hooks: Iterable[HookBase | None]) -> None:
        for h in hooks:
            if h is not None:
                h.trainer = self
                self.hooks.append(h)

    def request_stop(self) -> None:
        """End the loop after the current iteration (as if `max_iter` were reached)."""
        self._stop = True

    def run_step(self) -> None:
        raise NotImplementedError

    def log_record(self) -> dict[str, Any]:
        """What `PeriodicWriter` writes (besides `iter`); called on every process (it may all-reduce)."""
        return self.window.pop()

    def train(self, start_iter: int, max_iter: float) -> None:
        """Run steps start_iter+1 ... max_iter (`math.inf`: until a hook stops the loop)."""
        self.iter = self.start_iter = start_iter
        self.max_iter, self._stop = max_iter, False
        try:
            for h in self.hooks:
                h.before_train()
            while self.iter < self.max_iter and not self._stop:
                for h in self.hooks:
                    h.before_step()
                self.run_step()
                self.iter += 1
                for h in self.hooks:
                    h.after_step()
            for h in self.hooks:
                h.after_train()
        finally:
            for h in self.hooks:
                h.close()


class DefaultTrainer(TrainerBase):
    """A trainer built from override points. The constructor of a subclass builds the model, optimizer and
    scheduler with `build_model`, `build_optimizer`, `build_scheduler` (and restores a checkpoint);
    `fit(max_iter)` registers `build_hooks()`, opens `build_loader()` as `self.batches` and trains from the
    current `iter` (a resumed run's) to `max_iter`."""

    batches: Iterator | None = None

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        raise NotImplementedError

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        raise NotImplementedError

    def build_loader(self) -> Iterable:
        """The training batches from the current iteration on (built when training starts)."""
        raise NotImplementedError

    def build_hooks(self) -> list[HookBase | None]:
        """The periodic work of the run, in the order the hooks are called."""
        return []

    def fit(self, max_iter: float) -> None:
        """Run steps iter+1 ... max_iter with `build_hooks()` and the batches of `build_loader()`."""
        self.hooks = []
        self.register_hooks(self.build_hooks())
        self.batches = iter(self.build_loader())
        try:
            TrainerBase.train(self, self.iter, max_iter)  # the loop itself (a subclass may own `train()`)
        finally:
            self.batches = None  # stops a loader's worker processes


class PeriodicWriter(HookBase):
    """Every `period` iterations and at the end: `{"iter", **trainer.log_record()}` as a JSONL line
    in `path` (and numeric entries as TensorBoard scalars `<prefix><key>` when `tensorboard_dir` is set).
    Only processes with `enabled` write; all of them call `log_record`. Records of `path` past `start_iter`
    are dropped first (a killed run may have logged past its checkpoint; a fresh run starts empty)."""

    def __init__(
        self,
        path: Path,
        period: int,
        enabled: bool = True,
        tensorboard_dir: Path | None = None,
        prefix: str = "train/",
    ):
        self.path, self.period, self.enabled = path, period, enabled
        self.tb_dir, self.prefix = tensorboard_dir, prefix
        self.jsonl: JsonlWriter | None = None
        self.tb: Any = None

    def before_train(self) -> None:
        if self.enabled:
            if self.path.exists():
                kept = [r for r in read_jsonl(self.path) if r.get("iter", 0) <= self.trainer.start_iter]
                tmp = self.path.with_suffix(".tmp")
                with JsonlWriter(tmp) as w:
                    for r in kept:
                        w.write(r)
                tmp.replace(self.path)
            self.jsonl = JsonlWriter(self.path)
            if self.tb_dir is not None:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.tb_dir))

    def after_step(self) -> None:
        if self.due(self.period) or self.trainer.iter == self.trainer.max_iter:
            self.write()

    def after_train(self) -> None:
        t = self.trainer  # stopped early: the partial window
        if t.iter > t.start_iter and t.last_record.get("iter") != t.iter:
            self.write()

    def write(self) -> None:
        t = self.trainer
        record = {"iter": t.iter, **t.log_record()}
        t.last_record = record
        if self.jsonl is not None:
            self.jsonl.write(record)
        if self.tb is not None:
            for k, v in record.items():
                if k != "iter" and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{self.prefix}{k}", v, t.iter)

    def close(self) -> None:
        for w in (self.jsonl, self.tb):
            if w is not None:
                w.close()
        self.jsonl = self.tb = None


def prune_numbered(directory: Path, prefix: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` files `<prefix><7-digit iter>.pth` (`keep` -1: none); returns them."""
    if keep < 0:
        return []
    numbered = sorted(Path(directory).glob(f"{prefix}*.pth"))
    doomed = numbered[: max(len(numbered) - keep, 0)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


class PeriodicCheckpointer(HookBase):
    """Every `period` iterations and after training, `state()` is written atomically to `directory/latest`
    (after training only if that iteration is not saved yet). With `keep` != 0 each periodic save also
    writes `<prefix><iter:07d>.pth`, keeping the newest `keep` of them (-1: all)."""

    def __init__(
        self,
        directory: Path,
        period: int,
        state: Callable[[], dict],
        latest: str,
        keep: int = 0,
        prefix: str = "checkpoint_iter_",
        enabled: bool = True,
    ):
        self.directory, self.period, self.state, self.latest = Path(directory), period, state, latest
        self.keep, self.prefix, self.enabled = keep, prefix, enabled
        self.saved_iter: int | None = None

    def save(self, numbered: bool) -> None:
        state = self.state()  # in every process: a state may gather from all of them (per-rank RNGs)
        if not self.enabled:
            return
        it = self.trainer.iter
        atomic_torch_save(state, self.directory / self.latest)
        if numbered and self.keep != 0:
            atomic_torch_save(state, self.directory / f"{self.prefix}{it:07d}.pth")
            prune_numbered(self.directory, self.prefix, self.keep)
        self.saved_iter = it

    def after_step(self) -> None:
        if self.due(self.period):
            self.save(numbered=True)

    def after_train(self) -> None:
        if self.saved_iter != self.trainer.iter:
            self.save(numbered=False)


class PeriodicCallback(HookBase):
    """`fn()` every `period` iterations and, with `final`, after training unless it just ran."""

    def __init__(self, period: int, fn: Callable[[], None], final: bool = True):
        self.period, self.fn, self.final = period, fn, final
        self.ran_at: int | None = None

    def after_step(self) -> None:
        if self.due(self.period):
            self.fn()
            self.ran_at = self.trainer.iter

    def after_train(self) -> None:
        if self.final and self.ran_at != self.trainer.iter:
            self.fn()


class EvalHook(PeriodicCallback):
    """Evaluation: `fn()` every `period` iterations and, with `final`, after training unless it just
    ran (`fn` writes or logs its own results)."""


class CurvePlotHook(PeriodicCallback):
    """Training-curve figures from the run's log: `fn()` every `period` iterations and after training."""


class VisualizationHook(PeriodicCallback):
    """Pictures of the model's predictions on fixed samples: `fn()` every `period` iterations and after
    training."""


class Budget(HookBase):
    """Stops the loop after `seconds` on `clock` or `steps` steps of this run, whichever comes first.
    Under torch.distributed all processes stop together (`device`: where the flag is all-reduced)."""

    def __init__(
        self,
        seconds: float | None = None,
        steps: int | None = None,
        clock: Callable[[], float] = time.time,
        device: torch.device | None = None,
    ):
        self.seconds, self.steps, self.clock, self.device = seconds, steps, clock, device
        self.deadline = math.inf

    def before_train(self) -> None:
        if self.seconds is not None:
            self.deadline = self.clock() + self.seconds

    def after_step(self) -> None:
        over = self.clock() >= self.deadline
        over = over or (self.steps is not None and self.trainer.iter - self.trainer.start_iter >= self.steps)
        if self.seconds is not None:
            over = bool(all_reduce_sum(torch.tensor([float(over)]), self.device).item() > 0)
        if over:
            self.trainer.request_stop()


class ProgressBar(HookBase):
    """A tqdm bar over the iterations; its postfix is `postfix(trainer.last_record)` when that changes.

    `mininterval`: seconds between redraws (long runs whose output goes to a log file want a few seconds).
    """

    def __init__(
        self,
        desc: str,
        enabled: bool = True,
        postfix: Callable[[dict[str, Any]], dict[str, str]] | None = None,
        mininterval: float = 0.1,
    ):
        self.desc, self.enabled, self.postfix, self.mininterval = desc, enabled, postfix, mininterval
        self.bar: tqdm | None = None
        self.shown: dict[str, Any] = {}

    def before_train(self) -> None:
        t = self.trainer
        total = None if t.max_iter == math.inf else int(t.max_iter)
        self.bar = tqdm(
            total=total,
            initial=t.start_iter,
            desc=self.desc,
            dynamic_ncols=True,
            disable=not self.enabled,
            mininterval=self.mininterval,
        )

    def after_step(self) -> None:
        assert self.bar is not None
        self.bar.update(1)
        if self.postfix is not None and self.trainer.last_record is not self.shown:
            self.shown = self.trainer.last_record
            self.bar.set_postfix(self.postfix(self.shown))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def restore_training_state(
    ckpt: Mapping[str, Any],
    model: nn.Module,
    optimizer: Any = None,
    scheduler: Any = None,
    scaler: Any = None,
    rng: bool = True,
) -> int:
    """Load a `models.checkpoint` layout checkpoint into the training objects; returns its iteration.

    Each part is restored when the checkpoint holds it (the scaler only when enabled)."""
    from models.checkpoint import model_state_from_checkpoint

    unwrap_model(model).load_state_dict(model_state_from_checkpoint(ckpt), strict=True)
    if optimizer is not None and ckpt.get("optimizer_state_dict"):
        optimizer.load_state_dict(ckpt["optimizer_state_dict"])
    if scheduler is not None and ckpt.get("lr_scheduler_state_dict"):
        scheduler.load_state_dict(ckpt["lr_scheduler_state_dict"])
    if scaler is not None and scaler.is_enabled() and ckpt.get("scaler_state_dict"):
        scaler.load_state_dict(ckpt["scaler_state_dict"])
    if rng and ckpt.get("rng_state"):
        restore_rng_state(ckpt["rng_state"])
    return int(ckpt.get("iter", 0))
