"""Device selection and mixed-precision contexts that work on CPU and CUDA alike."""

from __future__ import annotations

import contextlib

import torch

from utils.distributed import DistInfo
from utils.io import DataError


class DeviceUnavailable(DataError, RuntimeError):
    """A requested device this machine does not have: a one-line input error for every script (DataError),
    and a RuntimeError as before."""


def resolve_device(flag: str | None = None, option: str = "--device") -> torch.device:
    """Device value -> torch.device; None/""/"auto" mean cuda when available, else cpu. Asking for CUDA on a
    machine without it is an error naming ``option`` (the flag or config key the value came from)."""
    if flag in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(flag)
    except RuntimeError:
        raise DeviceUnavailable(f"{option} {flag!r} is not a device (cpu, cuda, cuda:1 ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        instead = "--device cpu" if option == "--gpu_index" else f"{option} cpu"
        raise DeviceUnavailable(f"{option} {flag} requested but CUDA is not available; pass {instead}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceUnavailable(f"{option} {flag} requested but this machine has "
                                f"{torch.cuda.device_count()} GPU(s)")
    return dev


def device_for_rank(flag: str | None, info: DistInfo, option: str = "--device") -> torch.device:
    """Device for this process: under DDP, CUDA means this process's GPU (cuda:LOCAL_RANK)."""
    device = resolve_device(flag, option)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    return device


def autocast(device: torch.device, precision: str = "fp32"):
    """Autocast context for `precision` in {fp32, fp16, bf16}; fp16/bf16 only take effect on CUDA."""
    if precision == "fp32" or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return torch.autocast(device_type="cuda", dtype=dtype)
