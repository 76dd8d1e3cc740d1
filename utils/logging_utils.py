"""Logging set-up for the entry points: one stdout handler on the root logger.

Library modules only ask for `logging.getLogger(__name__)`; the entry points (`utils.cli.run_cli`, a
detector worker's `cad.engine.defaults.default_setup`, the test session) call `setup_logging` once. The
main process (rank 0) shows the repository's INFO lines; every process shows warnings from everyone.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORMAT = "[%(asctime)s %(name)s] %(message)s"


class _RepositoryInfo(logging.Filter):
    """Lets through INFO lines logged by the repository's own files and warnings from any library."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.pathname.startswith(str(REPO) + os.sep)


class _CurrentStdout(logging.StreamHandler):
    """Writes to `sys.stdout` as it is at each record (pytest and `redirect_stdout` replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def setup_logging(rank: int | None = None) -> None:
    """Send log lines to stdout: INFO and up on rank 0, warnings only on other ranks (`rank=None`: the
    `RANK` that torchrun sets, else 0). Calling it again replaces the handler it added before."""
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _CurrentStdout)]:
        root.removeHandler(handler)
    handler = _CurrentStdout()
    handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    handler.addFilter(_RepositoryInfo())
    root.addHandler(handler)
    root.setLevel(logging.INFO if rank == 0 else logging.WARNING)


def format_metrics(row: dict) -> str:
    """One line `key value ...` of a metrics row, floats to 3 decimals (the probes' progress lines)."""
    return " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
