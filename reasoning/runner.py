"""The per-image job loop shared by reasoning and scoring: inputs, shards, resume, progress, merge.

`JobConfig` holds how a job runs; none of it changes the results, so partial results are tied to every
other setting only. `Run` is one running job: `start` -> `results` -> `prepare` -> `process` -> `finish`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from coco_tools.splits import DATASETS, NAMED_SPLITS, SPLITS, default_data_root
from reasoning.images import ImageRecord, image_loader, list_images
from reasoning.predict import batch_size_flag
from reasoning.results import ShardedResults
from reasoning.shared_calls import SharedCalls
from utils.artifacts import missing_data_message
from utils.config import option
from utils.device import device_for_rank
from utils.distributed import (
    DistInfo,
    barrier,
    cleanup_distributed,
    init_distributed,
    parse_shard,
    shard_items,
)
from utils.io import DEFAULT_MAX_IMAGE_PIXELS, DataError, atomic_write_json, remove_stale_temp_files
from utils.runtime_config import runtime_option

INPUT = "input images"
EXECUTION = "execution"
FAILED_NAME = "failed_images.json"
SCORING_FAILED_NAME = "failed_images_scoring.json"  # scoring writes next to reasoning's results

# one image's record from its uint8 [3, H, W] pixels (raise DataError to record the image as failed)
Process = Callable[[ImageRecord, torch.Tensor], dict]


@dataclass
class JobConfig:
    """Which images, where results go, on what hardware."""

    dataset: str = option(
        DATASETS[0], "images when no --image_dir is given: COCO (<data_root>/coco/val2017 or train2017 "
        "listed by annotations/instances_{val,train}2017.json, as the original) or synthetic "
        "(data/synthetic/scenes/{val,train}, made by tools/make_synthetic_data.py)", group=INPUT,
        choices=DATASETS)
    dataset_split: str = option(SPLITS[0], "split of --dataset: test (COCO val2017) or train", group=INPUT,
                                choices=SPLITS)
    data_root: str | None = option(
        None, "root of --dataset (COCO: $DETECTRON2_DATASETS or data; synthetic: its synthetic/ folder)",
        group=INPUT)
    image_dir: str | None = option(None, "folder of images (instead of --dataset)", group=INPUT)
    annotations: str | None = option(
        None, "COCO JSON whose `images` give the image list and ids (else ids are file stems)", group=INPUT)
    start_idx: int = option(-1, "first image (sorted by file name)", group=INPUT)
    end_idx: int = option(-1, "end image (exclusive); both -1 = all", group=INPUT)
    max_image_pixels: int = option(
        DEFAULT_MAX_IMAGE_PIXELS,
        "larger images are skipped (counted, with the reason) before they are decoded", group=INPUT, min=1)
    output_dir: str | None = runtime_option(
        "output_dir", "default: results_reasoning/RUN_NAME for reasoning, the folder of "
        "--raw_annotations_path for scoring", group=EXECUTION)
    device: str | None = runtime_option("device", "default: cuda if any", group=EXECUTION)
    gpu_index: int | None = option(None, "original flag: same as --device cuda:INDEX", group=EXECUTION, min=0)
    batch_size: int | str = option(
        "auto", "crops per network call, or auto: the largest power of two whose batch fits 70%% of the free "
        "GPU memory (measured on a few crops), 64 on a CPU (larger batches are slower per crop there)",
        group=EXECUTION, min=1,
        type=batch_size_flag)
    num_workers: int = runtime_option("num_workers", "DataLoader workers decoding images ahead", default=2,
                                      group=EXECUTION)
    images_at_once: int = option(
        1, "images searched at the same time, one thread each, whose crops share network calls: fuller "
        "batches for a GPU, where a round of one image's search often has fewer crops than --batch_size (on "
        "a CPU it measured 1.1x slower: keep 1 there). 1: one image after the other. Results are "
        "reproducible for a given N; batches that mix images change float rounding as any batch size does "
        "(boxes within 3e-5 px of N=1 in our test)", group=EXECUTION, min=1)
    shard: str | None = option(None, "i/N: process every N-th image from the i-th", group=EXECUTION)
    merge_only: bool = option(False, "only merge finished shard results", group=EXECUTION)
    overwrite: bool = option(
        False, "discard partial results in --output_dir (needed when they were made with other settings or "
        "networks)", group=EXECUTION)
    vis_dir: str | None = option(None, "write an overlay PNG per image here", group=EXECUTION)


def input_paths(job: JobConfig) -> tuple[Path, Path | None]:
    """(image folder, image-list JSON or None): --image_dir/--annotations, else --dataset's split."""
    if job.image_dir is not None:
        return Path(job.image_dir), Path(job.annotations) if job.annotations else None
    root = Path(job.data_root or default_data_root(job.dataset))
    split = NAMED_SPLITS[(job.dataset, job.dataset_split)]
    return root / split.images, Path(job.annotations) if job.annotations else root / split.image_list


def resolve_inputs(job: JobConfig) -> list[ImageRecord]:
    """The job's images; DataError (one line: the missing path and where it comes from) for none."""
    image_dir, annotations = input_paths(job)
    if job.image_dir is None:
        flag = f"--dataset {job.dataset} --dataset_split {job.dataset_split}"
        for path in (image_dir, annotations):
            if path is not None and not path.exists():
                if job.dataset == "synthetic":
                    raise DataError(f"{path} not found ({flag}): generate the synthetic data with `python "
                                    "tools/make_synthetic_data.py --out data/synthetic --seed 0`")
                raise DataError(missing_data_message(path, flag, job.data_root or default_data_root("COCO"))
                                + "; or pass --image_dir")
    if not Path(image_dir).is_dir():
        raise DataError(f"--image_dir {image_dir} is not a folder")
    records = list_images(image_dir, annotations, job.start_idx, job.end_idx)
    if not records:
        raise DataError(f"no images to process in {annotations or image_dir}"
                        + (f" (slice {job.start_idx}:{job.end_idx})" if job.start_idx != -1 else ""))
    return records


@dataclass
class Run:
    """One running job of one process: its distributed rank, device, shard and logger."""

    job: JobConfig
    info: DistInfo
    device: torch.device
    shard_index: int
    num_shards: int
    logger: logging.Logger

    @classmethod
    def start(cls, job: JobConfig, program: str) -> Run:
        info = init_distributed(job.device)
        flag = job.device or (f"cuda:{job.gpu_index}" if job.gpu_index is not None else None)
        shard_index, num_shards = parse_shard(job.shard, info)
        logger = logging.getLogger(program)
        option = "--device" if job.device or job.gpu_index is None else "--gpu_index"
        return cls(job, info, device_for_rank(flag, info, option), shard_index, num_shards, logger)

    def results(self, output_dir: Path, name: str) -> ShardedResults:
        self.logger.info("output folder %s (shard %d/%d)", output_dir, self.shard_index, self.num_shards)
        return ShardedResults(output_dir, name, self.shard_index, self.num_shards)

    def prepare(self, results: ShardedResults, settings: dict, outputs: tuple[str, ...], config_name: str,
                config: dict) -> None:
        """Clear stale temp files, refuse partial results made with other settings (`--overwrite` starts
        fresh, deleting the merged `outputs` too) and write the job's configuration as `config_name`."""
        remove_stale_temp_files(results.output_dir)
        if self.info.is_main:
            results.check_settings(settings, self.job.overwrite, outputs)
        barrier(self.info)
        if not self.info.is_main:
            results.check_settings(settings)
        if self.info.is_main:
            atomic_write_json(results.output_dir / config_name, config, indent=2)

    def process(self, records: list[ImageRecord], results: ShardedResults, process: Process | list[Process],
                desc: str, shared: SharedCalls | None = None) -> tuple[int, int]:
        """Process this shard's unfinished images; one flushed JSON line per image. Returns (done, failed).

        `process` may be a list of processes, one per image searched at once (`--images_at_once`), whose
        predictors are `shared`'s members: the loaded images then go through them in groups of that size.
        """
        processes = process if isinstance(process, list) else [process]
        mine = shard_items(records, self.shard_index, self.num_shards)
        todo = results.missing(mine)
        self.logger.info("%d images in this shard, %d already finished, %d to do", len(mine),
                         len(mine) - len(todo), len(todo))
        counts = [0, 0]  # done, failed
        if not todo:
            return 0, 0
        start = time.perf_counter()
        with results.writer() as writer:

            def record(rec: ImageRecord, outcome: dict | None, error: str | None) -> None:
                if error is None:
                    writer.write({"image_id": rec.image_id, **outcome})
                    counts[0] += 1
                    return
                counts[1] += 1
                self.logger.warning("skipping image %s: %s (%d failed so far)", rec.image_id, error,
                                    counts[1])
                writer.write({"image_id": rec.image_id, "error": error})

            loader = image_loader(todo, self.job.num_workers, self.device, self.job.max_image_pixels)
            group: list[dict] = []
            for item in tqdm(loader, total=len(todo), desc=desc, ncols=90, disable=not self.info.is_main):
                group.append(item)
                if len(group) == len(processes):
                    self._process_group(group, todo, processes, shared, record)
                    group = []
            if group:
                self._process_group(group, todo, processes, shared, record)
        if counts[0]:
            elapsed = time.perf_counter() - start
            self.logger.info("%d images in %.1f s (%.3f images/s)", counts[0], elapsed, counts[0] / elapsed)
        return counts[0], counts[1]

    @staticmethod
    def _process_group(items: list[dict], todo: list[ImageRecord], processes: list[Process],
                       shared: SharedCalls | None, record: Callable) -> None:
        """Loaded images -> `record(rec, outcome, error)` in order; a DataError fails only its image, any
        other exception is raised once the group's other results are recorded."""
        ok = [item for item in items if item["error"] is None]
        tasks = [partial(processes[i], todo[item["index"]], item["image"]) for i, item in enumerate(ok)]
        if shared is None:
            outcomes = []
            for task in tasks:
                try:
                    outcomes.append(task())
                except DataError as e:
                    outcomes.append(e)
        else:  # even a single task: its member predictor needs the coordinating loop
            outcomes = shared.run(tasks)
        by_index = {item["index"]: outcome for item, outcome in zip(ok, outcomes)}
        fatal = None
        for item in items:
            rec, outcome = todo[item["index"]], by_index.get(item["index"])
            if item["error"] is not None:
                record(rec, None, item["error"])
            elif isinstance(outcome, DataError):
                record(rec, None, str(outcome))
            elif isinstance(outcome, BaseException):
                fatal = fatal or outcome
            else:
                record(rec, outcome, None)
        if fatal is not None:
            raise fatal

    def finish(self, results: ShardedResults, records: list[ImageRecord],
               combine: Callable[[list[dict]], object], out_name: str, force: bool = False,
               failed_name: str = FAILED_NAME) -> Path | None:
        """Merge every shard's records into `out_name` once all images are finished (or `force`); the
        failed images' reasons go to `failed_name`.

        Returns its path, or None while images are missing; DataError when every image failed.
        """
        barrier(self.info)
        path, n_ok, n_failed = None, 0, 0
        if self.info.is_main:
            missing = results.missing(records)
            if missing and not force:
                self.logger.info("%d images of the split are not finished yet (other shards?): merge later "
                                 "with --merge_only or by re-running", len(missing))
            else:
                if missing:
                    self.logger.warning("merging with %d images still unfinished", len(missing))
                path, n_ok, n_failed = results.merge(records, combine, out_name, failed_name)
                self.logger.info("wrote %s (%d images, %d failed)", path, n_ok, n_failed)
        cleanup_distributed(finished=True)
        if path is not None and n_ok == 0 and n_failed:
            raise DataError(f"all {n_failed} images failed (reasons in {results.output_dir / failed_name})")
        return path


def image_float(image_u8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 [3, H, W] -> float [3, H, W] in [0, 1] on `device`."""
    return image_u8.to(device, non_blocking=True).float().div_(255.0)
