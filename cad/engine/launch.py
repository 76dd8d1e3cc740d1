"""Process launching: ``--num-gpus N`` local workers (``torch.multiprocessing`` spawn), several machines
(``--num-machines/--machine-rank/--dist-url``), or an environment already set up by ``torchrun``.

NCCL is used when CUDA is available, gloo otherwise (so ``--num-gpus 2`` on a CPU machine runs two CPU
processes). ``--dist-url auto`` (the default) picks a free local port; several machines need an explicit
``tcp://HOST:PORT`` of machine 0.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from utils.distributed import DistInfo, init_distributed, process_group_teardown

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = timedelta(minutes=30)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def launched_by_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def dist_info() -> DistInfo:
    """Rank/world size/local rank of this process (single process when torch.distributed is not set up)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def _worker(local_rank: int, main_func: Callable, world_size: int, num_gpus_per_machine: int,
            machine_rank: int, dist_url: str, args: tuple) -> None:
    rank = machine_rank * num_gpus_per_machine + local_rank
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(world_size),
                       "LOCAL_WORLD_SIZE": str(num_gpus_per_machine)})
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group(_backend(), init_method=dist_url, world_size=world_size, rank=rank,
                            timeout=DEFAULT_TIMEOUT)
    with process_group_teardown():
        dist.barrier()
        main_func(*args)


def launch(main_func: Callable, num_gpus_per_machine: int, num_machines: int = 1, machine_rank: int = 0,
           dist_url: str | None = "auto", args: tuple = ()) -> None:
    """Run ``main_func(*args)`` in every process of the job."""
    if launched_by_torchrun():
        init_distributed(timeout=DEFAULT_TIMEOUT)
        with process_group_teardown():
            main_func(*args)
        return
    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1:
        main_func(*args)
        return
    if torch.cuda.is_available() and num_gpus_per_machine > torch.cuda.device_count():
        raise ValueError(f"--num-gpus {num_gpus_per_machine} but only {torch.cuda.device_count()} GPUs are "
                         "visible")
    if not dist_url or dist_url == "auto":
        if num_machines != 1:
            raise ValueError("--dist-url auto only works on one machine; pass "
                             "tcp://<machine-0 address>:<port>")
        dist_url = f"tcp://127.0.0.1:{_free_port()}"
    elif num_machines == 1 and "50155" in dist_url:
        dist_url = dist_url.replace("50155", str(_free_port()))
    logger.info(f"launching {num_gpus_per_machine} processes on machine {machine_rank} of {num_machines} "
                f"({_backend()}, {dist_url})")
    mp.start_processes(_worker, nprocs=num_gpus_per_machine,
                       args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args),
                       daemon=False, start_method="spawn")
