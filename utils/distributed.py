"""Process-group setup for torchrun and sharding of per-image work across processes or machines."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None, timeout: timedelta | None = None) -> DistInfo:
    """Initialise torch.distributed from torchrun's environment (NCCL on CUDA, gloo on CPU); ``timeout``:
    of collective operations (None: torch's default).

    Without torchrun variables this is a single process and nothing is initialised.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        kwargs = {} if timeout is None else {"timeout": timeout}
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", **kwargs)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def cleanup_distributed(finished: bool = False) -> None:
    """Destroy the process group. `finished` (every rank ended its work normally): the ranks first wait for
    each other, so that none closes its connections while a peer still uses them. Objects that still hold the
    group (a DDP reducer in a reference cycle) are freed first, so gloo's threads do not outlive it."""
    if dist.is_available() and dist.is_initialized():
        if finished:
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()


@contextmanager
def process_group_teardown() -> Iterator[None]:
    """Wrap the work of a distributed job: on success `cleanup_distributed(finished=True)`; on an error the
    group is destroyed without waiting for peers that may be gone."""
    try:
        yield
    except BaseException:
        cleanup_distributed()
        raise
    cleanup_distributed(finished=True)


def parse_shard(spec: str | None, info: DistInfo | None = None) -> tuple[int, int]:
    """Return (shard_index, num_shards) from `--shard i/N`, else from the torchrun rank, else (0, 1)."""
    if spec:
        try:
            i, n = (int(x) for x in spec.split("/"))
        except ValueError as e:
            raise ValueError(f"--shard must look like i/N (e.g. 0/4), got {spec!r}") from e
        if not (n >= 1 and 0 <= i < n):
            raise ValueError(f"--shard {spec!r}: need 0 <= i < N")
        if info is not None and info.enabled:
            return i * info.world_size + info.rank, n * info.world_size
        return i, n
    if info is not None and info.enabled:
        return info.rank, info.world_size
    return 0, 1


def shard_items(items: list, shard_index: int, num_shards: int) -> list:
    """Every num_shards-th item starting at shard_index (interleaved, so shards get similar work)."""
    return items[shard_index::num_shards]
