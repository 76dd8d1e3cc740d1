"""Shared pytest set-up: run from the repository root on CPU with few threads."""

import os

import pytest
import torch

from utils.logging_utils import setup_logging

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(min(2, os.cpu_count() or 1))
setup_logging()  # the test session is the entry point: log lines go to the captured stdout


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny-tensor tests: they gain nothing from more threads, and on a
    busy 2-core machine more threads only oversubscribe it. Use via `pytestmark`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
