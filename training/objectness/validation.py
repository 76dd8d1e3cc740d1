"""Validation during stage-1 training: the held-out figures of eval_objectness_net.py every few iterations.

`PeriodicValidation` calls `evaluate()` (main process only) every `period` iterations and after training,
appends `{"iter", **metrics}` to `eval_log.jsonl` and writes the numbers as TensorBoard scalars `val/<name>`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.engine import HookBase
from utils.io import JsonlWriter, read_jsonl

EVAL_LOG_NAME = "eval_log.jsonl"


class PeriodicValidation(HookBase):
    """Runs `evaluate` every `period` iterations and at the end; records of a killed run past the resumed
    iteration are dropped first."""

    def __init__(self, period: int, evaluate: Callable[[], dict[str, float]], output_dir: Path,
                 tensorboard_dir: Path | None, enabled: bool = True, log: Callable[[str], None] = print):
        self.period, self.evaluate, self.enabled, self.log = period, evaluate, enabled, log
        self.path, self.tb_dir = Path(output_dir) / EVAL_LOG_NAME, tensorboard_dir
        self.jsonl: JsonlWriter | None = None
        self.tb: Any = None
        self.ran_at: int | None = None

    def before_train(self) -> None:
        if not self.enabled:
            return
        kept = [r for r in read_jsonl(self.path) if r.get("iter", 0) <= self.trainer.start_iter]
        with JsonlWriter(self.path.with_suffix(".tmp")) as w:
            for r in kept:
                w.write(r)
        self.path.with_suffix(".tmp").replace(self.path)
        self.jsonl = JsonlWriter(self.path)
        if self.tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.tb_dir))

    def after_step(self) -> None:
        if self.due(self.period):
            self.run()

    def after_train(self) -> None:
        if self.ran_at != self.trainer.iter and self.trainer.iter > self.trainer.start_iter:
            self.run()

    def run(self) -> None:
        self.ran_at = self.trainer.iter
        if not self.enabled:
            return
        metrics = self.evaluate()
        record = {"iter": self.trainer.iter, **metrics}
        self.jsonl.write(record)
        if self.tb is not None:
            for name, value in metrics.items():
                self.tb.add_scalar(f"val/{name}", value, self.trainer.iter)
        figures = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        self.log(f"validation at iter {self.trainer.iter}: {figures}")

    def close(self) -> None:
        for w in (self.jsonl, self.tb):
            if w is not None:
                w.close()
        self.jsonl = self.tb = None
