"""Logging set-up shared by the command-line scripts (rank-0 prints, others stay quiet)."""

from __future__ import annotations

import logging
import sys


def get_logger(name: str = "unmore", rank: int = 0) -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    return logger
