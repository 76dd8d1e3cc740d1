"""Resumable, rank-sharded stream of sample keys for iteration-based training."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Sampler


class StreamSampler(Sampler):
    """Endless stream of `(index, position)` keys, `batch_size` per step, starting at `start_step`.

    The global stream visits the dataset in a fresh permutation per epoch (seeded by `(seed, epoch)`);
    position `q = (step * world_size + rank) * batch_size + k` is the k-th sample of `rank` at `step`, so
    ranks read disjoint parts of every epoch (like DistributedSampler) and the stream depends only on the
    seed and the step: a run resumed at step s reads exactly what an uninterrupted run reads from step s.
    Datasets use `position` to seed each sample's augmentation.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
        shuffle: bool = True,
    ):
        if num_items < 1:
            raise ValueError("StreamSampler needs a non-empty dataset")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_step = start_step
        self.shuffle = shuffle

    def permutation(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_items)
        return np.random.default_rng([int(self.seed), int(epoch), 7]).permutation(self.num_items)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        step, cached_epoch, perm = self.start_step, -1, None
        while True:
            for k in range(self.batch_size):
                q = (step * self.world_size + self.rank) * self.batch_size + k
                epoch, offset = divmod(q, self.num_items)
                if epoch != cached_epoch:
                    cached_epoch, perm = epoch, self.permutation(epoch)
                yield int(perm[offset]), q
            step += 1


class ByIndex(Dataset):
    """View of an index-addressed dataset that reads `(index, position)` keys of `StreamSampler` by index
    (for datasets whose samples do not depend on their position in the stream)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        return self.dataset[key[0]]
