"""Training and test data loaders.

Training: records of all ``DATASETS.TRAIN`` names (images without annotations removed when
``DATALOADER.FILTER_EMPTY_ANNOTATIONS``), an infinite shuffled index stream honouring per-image repeat
factors and sharded over ranks, mapping in ``DATALOADER.NUM_WORKERS`` worker processes, batches of
``SOLVER.IMS_PER_BATCH / world_size`` images grouped by aspect ratio (landscape vs portrait). Images that
cannot be read are skipped with a counted warning.

Test: one image per batch, this rank's contiguous share of the dataset, order kept.
"""

from __future__ import annotations

import logging
import pickle
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from cad.data.catalog import get_dataset_dicts
from cad.data.mapper import DatasetMapper
from cad.data.samplers import TrainingSampler, inference_indices
from utils.io import DataError

logger = logging.getLogger(__name__)


def _as_list(batch):
    return batch


class _SkipCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, record: dict, err: Exception) -> None:
        self.count += 1
        logger.warning(f"skipping image {record.get('file_name')} ({err}); {self.count} skipped so far "
                       "in this worker")


def map_at(mapper: DatasetMapper, record: dict, seed: int, rank: int, position: int) -> dict:
    """Map the record at `position` of rank `rank`'s stream; its random resize/flip depend only on
    (seed, rank, position), so the stream can restart at any position and reproduce every item."""
    mapper.rng = random.Random(f"{seed}:{rank}:{position}")
    return mapper(record)


class _TrainStream(IterableDataset):
    """``(position, index, mapped example or None)`` from position ``start`` of this rank's index stream,
    endlessly; None marks an image that could not be read (skipped with a counted warning). Worker ``k`` of
    ``n`` maps every ``n``-th position, so DataLoader's round robin delivers the positions in order."""

    def __init__(self, records, mapper: DatasetMapper, sampler: TrainingSampler, seed: int, start: int = 0):
        self.records, self.mapper, self.sampler, self.seed = records, mapper, sampler, seed
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int, dict | None]]:
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info is not None else (0, 1)
        skip = _SkipCounter()
        failures_in_a_row = 0
        for pos, idx in enumerate(self.sampler):
            if pos < self.start or (pos - self.start) % nworkers != wid:
                continue
            record = self.records[idx]
            try:
                item = map_at(self.mapper, record, self.seed, self.sampler.rank, pos)
            except DataError as e:
                skip(record, e)
                failures_in_a_row += 1
                if failures_in_a_row >= max(len(self.records), 100):
                    raise DataError(f"{failures_in_a_row} training images in a row could not be read; check "
                                    "the dataset paths ($DETECTRON2_DATASETS, --train-image-root)") from e
                yield pos, idx, None
                continue
            failures_in_a_row = 0
            yield pos, idx, item


class _Grouper:
    """Batches of ``batch_size`` items from a positioned stream; with ``grouping`` each batch holds only
    landscape (W > H) or only portrait/square images. Keeps the position state of the batches handed out:
    the next stream position and the (position, index) of the items waiting in the buckets."""

    def __init__(self, batch_size: int, grouping: bool, pending: list[tuple[int, int, dict]], start: int):
        self.batch_size, self.grouping = batch_size, grouping
        self.buckets: dict[bool, list] = {True: [], False: []}
        self.next_position = start
        for entry in pending:
            self.buckets[self._key(entry[2])].append(entry)

    def _key(self, item: dict) -> bool:
        h, w = item["image"].shape[-2:]
        return bool(w > h) if self.grouping else True

    def state(self) -> dict:
        pending = sorted((pos, idx) for bucket in self.buckets.values() for pos, idx, _ in bucket)
        return {"next_position": self.next_position, "pending": [list(p) for p in pending]}

    def batches(self, stream) -> Iterator[list[dict]]:
        for pos, idx, item in stream:
            self.next_position = pos + 1
            if item is None:
                continue
            key = self._key(item)
            self.buckets[key].append((pos, idx, item))
            if len(self.buckets[key]) == self.batch_size:
                batch, self.buckets[key] = self.buckets[key], []
                yield [entry[2] for entry in batch]


def per_rank_batch_size(cfg, world_size: int) -> int:
    total = int(cfg.SOLVER.IMS_PER_BATCH)
    if total % world_size != 0:
        raise ValueError(f"SOLVER.IMS_PER_BATCH ({total}) must be divisible by the number of processes "
                         f"({world_size})")
    return total // world_size


def train_records(cfg) -> list[dict]:
    names = cfg.DATASETS.TRAIN
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ValueError("DATASETS.TRAIN is empty; pass --train-dataset NAME or "
                         "--train-json/--train-image-root")
    records = []
    for name in names:
        recs = get_dataset_dicts(name, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
        logger.info(f"training set {name}: {len(recs)} images")
        records.extend(recs)
    if not records:
        raise DataError(f"training datasets {names} contain no images with annotations")
    return records


class SerializedRecords:
    """Records pickled into one numpy byte buffer. DataLoader workers share it without copying: a plain list
    of dicts would be copied page by page as the workers touch Python reference counts."""

    def __init__(self, records: list[dict]):
        self.repeats = [float(r.get("repeat", 1)) for r in records]
        blobs = [np.frombuffer(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL), dtype=np.uint8)
                 for r in records]
        self._ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
        self._data = np.concatenate(blobs) if blobs else np.zeros(0, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> dict:
        start = int(self._ends[i - 1]) if i > 0 else 0
        return pickle.loads(memoryview(self._data[start:int(self._ends[i])]))


class TrainLoader:
    """Iterable of per-rank training batches (lists of mapped dicts); ``iter()`` starts the workers.

    The stream is a pure function of (seed, rank, position): ``state()`` after a batch, passed back as
    ``state`` to a new loader, continues with exactly the batches that would have followed.
    """

    def __init__(self, cfg, rank: int = 0, world_size: int = 1, seed: int = 0, num_workers: int | None = None,
                 pin_memory: bool = False, records: list[dict] | SerializedRecords | None = None,
                 state: dict | None = None):
        if records is None:
            records = train_records(cfg)
        if not isinstance(records, SerializedRecords):
            records = SerializedRecords(records)
        self.records = records
        repeats = records.repeats
        sampler = TrainingSampler(len(records), repeats if any(f != 1 for f in repeats) else None,
                                  seed=seed, rank=rank, world_size=world_size)
        self.mapper = DatasetMapper.from_config(cfg, is_train=True)
        self.seed, self.rank = seed, rank
        state = state or {"next_position": 0, "pending": []}
        self.start = int(state["next_position"])
        self.pending = [(int(pos), int(idx)) for pos, idx in state["pending"]]
        self.stream = _TrainStream(self.records, self.mapper, sampler, seed, self.start)
        self.batch_size = per_rank_batch_size(cfg, world_size)
        self.grouping = bool(cfg.DATALOADER.ASPECT_RATIO_GROUPING)
        self._grouper: _Grouper | None = None
        nw = cfg.DATALOADER.NUM_WORKERS if num_workers is None else num_workers
        # its own generator: creating the iterator must not draw from the global torch RNG (exact resume)
        self.loader = DataLoader(self.stream, batch_size=None, num_workers=int(nw), collate_fn=_as_list,
                                 pin_memory=pin_memory, persistent_workers=False,
                                 prefetch_factor=4 if nw > 0 else None,
                                 generator=torch.Generator().manual_seed(seed))

    def __iter__(self) -> Iterator[list[dict]]:
        pending = [(pos, idx, map_at(self.mapper, self.records[idx], self.seed, self.rank, pos))
                   for pos, idx in self.pending]
        self._grouper = _Grouper(self.batch_size, self.grouping, pending, self.start)
        return self._grouper.batches(iter(self.loader))

    def state(self) -> dict:
        """Position of the batches handed out so far (JSON-serialisable)."""
        if self._grouper is None:
            return {"next_position": self.start, "pending": [list(p) for p in self.pending]}
        return self._grouper.state()


class _TestSet(Dataset):
    def __init__(self, records: list[dict], indices: list[int], mapper: DatasetMapper):
        self.records, self.indices, self.mapper = records, indices, mapper

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict | None:
        record = self.records[self.indices[i]]
        try:
            return self.mapper(record)
        except DataError as e:
            logger.warning(f"skipping test image {record.get('file_name')}: {e}")
            return None


def _drop_none(batch):
    return [b for b in batch if b is not None]


def build_test_loader(cfg, records: list[dict], rank: int = 0, world_size: int = 1,
                      num_workers: int | None = None, pin_memory: bool = False) -> DataLoader:
    """Batches (lists) of one mapped test image each, for this rank's share of ``records``."""
    mapper = DatasetMapper.from_config(cfg, is_train=False)
    ds = _TestSet(records, inference_indices(len(records), rank, world_size), mapper)
    nw = cfg.DATALOADER.NUM_WORKERS if num_workers is None else num_workers
    return DataLoader(ds, batch_size=1, shuffle=False, num_workers=int(nw), collate_fn=_drop_none,
                      pin_memory=pin_memory)


def to_device(batch: list[dict], device: torch.device) -> list[dict]:
    """Move images and instances of a batch to ``device`` (non-blocking from pinned memory)."""
    out = []
    for d in batch:
        d = dict(d)
        d["image"] = d["image"].to(device, non_blocking=True)
        if "instances" in d:
            d["instances"] = d["instances"].to(device)
        out.append(d)
    return out
