"""Training metrics: ``metrics.json`` (one JSON object per line, Detectron2's name), TensorBoard scalars and
a console line with the ETA. Only the main process writes."""

from __future__ import annotations

import datetime
import logging
import os
from collections import deque
from pathlib import Path

from utils.io import JsonlWriter

logger = logging.getLogger(__name__)


class MetricsWriter:
    def __init__(self, output_dir: str | os.PathLike, max_iter: int, enabled: bool = True,
                 tensorboard: bool = True):
        self.max_iter, self.enabled = max_iter, enabled
        self.iter_times: deque = deque(maxlen=100)
        self.jsonl = JsonlWriter(Path(output_dir) / "metrics.json") if enabled else None
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(log_dir=str(output_dir))
            except ImportError:
                logger.warning("tensorboard is not installed: metrics go to metrics.json only")

    def add_iter_time(self, seconds: float) -> None:
        self.iter_times.append(seconds)

    def eta_seconds(self, iteration: int) -> float | None:
        if not self.iter_times:
            return None
        return sum(self.iter_times) / len(self.iter_times) * (self.max_iter - 1 - iteration)

    def write(self, iteration: int, metrics: dict[str, float], log: bool = True) -> None:
        if not self.enabled:
            return
        record = {"iteration": int(iteration), **{k: float(v) for k, v in metrics.items()}}
        eta = self.eta_seconds(iteration)
        if eta is not None and "total_loss" in metrics:
            record["eta_seconds"] = eta
        self.jsonl.write(record)
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(k, float(v), iteration)
            self.tb.flush()
        if log:
            eta_s = f"eta: {datetime.timedelta(seconds=int(eta))}  " if eta is not None else ""
            vals = "  ".join(f"{k}: {v:.4g}" for k, v in metrics.items())
            logger.info(f"{eta_s}iter: {iteration}  {vals}")

    def close(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
