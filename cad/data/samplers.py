"""Index samplers: an infinite shuffled training stream with per-image repeat factors, sharded over
distributed ranks, and an ordered inference split."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch


class TrainingSampler:
    """Infinite stream of dataset indices for one rank.

    Each epoch is a random permutation of the dataset in which image ``i`` appears ``floor(f_i)`` times plus
    once more with probability ``frac(f_i)`` (Detectron2's RepeatFactorTrainingSampler rounding), where
    ``f_i`` is its repeat factor (1 for all when ``repeat_factors`` is None). Rank ``r`` of ``w`` takes
    every ``w``-th index of the shared stream starting at ``r``; all ranks use the same ``seed``.
    """

    def __init__(self, size: int, repeat_factors: list[float] | None = None, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        if size <= 0:
            raise ValueError("TrainingSampler needs a non-empty dataset")
        self.size = size
        self.repeat = None if repeat_factors is None else torch.as_tensor(repeat_factors, dtype=torch.float64)
        if self.repeat is not None and len(self.repeat) != size:
            raise ValueError("repeat_factors must have one entry per dataset item")
        self.seed, self.rank, self.world_size = int(seed), rank, world_size

    def _epoch(self, g: torch.Generator) -> torch.Tensor:
        if self.repeat is None:
            return torch.randperm(self.size, generator=g)
        whole = self.repeat.floor()
        extra = (torch.rand(self.size, generator=g, dtype=torch.float64) < self.repeat - whole).long()
        counts = whole.long() + extra
        idx = torch.repeat_interleave(torch.arange(self.size), counts)
        return idx[torch.randperm(len(idx), generator=g)]

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed)
        pos = 0
        while True:
            for i in self._epoch(g).tolist():
                if pos % self.world_size == self.rank:
                    yield i
                pos += 1


def inference_indices(size: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """Contiguous chunk of ``range(size)`` for ``rank``: ``ceil(size / world_size)`` items (fewer at the
    end)."""
    per = math.ceil(size / world_size) if world_size else size
    return list(range(min(rank * per, size), min((rank + 1) * per, size)))
