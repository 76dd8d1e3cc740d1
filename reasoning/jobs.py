"""The two stage-2 jobs: object reasoning (-> discovery_results.json) and object scoring
(-> object_discovery_with_scores.json): what each does per image, what its results are tied to, how they
combine."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from coco_tools.checker import validate_discoveries
from reasoning.algorithm import Reasoner, ReasoningConfig
from reasoning.images import ImageRecord
from reasoning.networks import PredictorConfig, build_predictor
from reasoning.predict import Predictor
from reasoning.runner import (
    EXECUTION,
    FAILED_NAME,
    SCORING_FAILED_NAME,
    JobConfig,
    Process,
    Run,
    image_float,
    input_paths,
    resolve_inputs,
)
from reasoning.scoring import ScoringConfig, score_boxes
from reasoning.shared_calls import slot_predictors
from reasoning.stats import CountingPredictor, summarise_stats
from reasoning.vis import save_overlay, save_rounds_gif
from utils.config import cli_values, option
from utils.io import DataError, atomic_write_json, load_json
from utils.masks import xywh_to_xyxy
from utils.resume import file_identity

DISCOVERIES = "discovery_results.json"
REASONING_STATS = "reasoning_stats.json"
SCORED = "object_discovery_with_scores.json"


@dataclass
class ReasoningJob(JobConfig):
    """Also whether to draw the boundary rounds."""

    vis_gif: bool = option(False, "with --vis_dir: GIF of the boundary rounds", group=EXECUTION)
    run_name: str | None = option(
        None, "name of the default output folder results_reasoning/RUN_NAME (default: the image folder's "
        "name, + _oracle, + _START_END)", group=EXECUTION)


@dataclass
class ScoringJob(JobConfig):
    """Also the discoveries to score: unlike the other job fields, results are tied to this file."""

    raw_annotations_path: str | None = option(None, "discovery_results.json", required=True)


def command_line(*configs: Any, original_behaviour: bool) -> dict:
    """The flags of `configs` as one dict (configs_<script>.json)."""
    out: dict = {}
    for config in configs:
        out.update(cli_values(config))
    return {**out, "original_behaviour": original_behaviour}


# -- object_reasoning.py ----------------------------------------------------------------------------------
def default_run_name(job: ReasoningJob, oracle: bool) -> str:
    name = input_paths(job)[0].name + ("_oracle" if oracle else "")
    if job.start_idx != -1 and job.end_idx != -1:
        name += f"_{job.start_idx}_{job.end_idx}"
    return name


def combine_discoveries(records: list[dict]) -> dict:
    return {str(r["image_id"]): r["boxes"] for r in records}


def discovery_process(reasoner: Reasoner, counting: CountingPredictor, device: torch.device,
                      job: ReasoningJob) -> Process:
    """Per image: discovered boxes, their boundary scores and statistics (boxes per step, cost)."""
    vis_dir = Path(job.vis_dir) if job.vis_dir else None

    def process(rec: ImageRecord, image_u8: torch.Tensor) -> dict:
        before = counting.snapshot()
        d = reasoner.discover(image_float(image_u8, device), rec.image_id)
        stats = {**d.stats, **counting.since(before)}
        if vis_dir is not None:
            img = image_u8.permute(1, 2, 0).numpy()
            save_overlay(vis_dir / f"{rec.key}.png", img, d.boxes.numpy())
            if job.vis_gif:
                save_rounds_gif(vis_dir / f"{rec.key}_rounds.gif", img, d.trace, d.boxes.numpy())
        return {"boxes": d.boxes.tolist(), "boundary_scores": d.scores.tolist(), "stats": stats}

    return process


def run_reasoning(job: ReasoningJob, networks: PredictorConfig, cfg: ReasoningConfig,
                  original_behaviour: bool = False) -> Path | None:
    """Discover the objects of every image; returns the merged results' path (None until all shards are
    done)."""
    job = replace(job, run_name=job.run_name or default_run_name(job, bool(networks.oracle_annotations)))
    run = Run.start(job, "object_reasoning")
    records = resolve_inputs(job)
    results = run.results(Path(job.output_dir or Path("results_reasoning") / job.run_name), "discovery")
    if job.merge_only:
        return run.finish(results, records, combine_discoveries, DISCOVERIES, force=True)
    settings = {**networks.settings(), **cli_values(cfg), "original_behaviour": original_behaviour}
    flags = command_line(job, networks, cfg, original_behaviour=original_behaviour)
    outputs = (DISCOVERIES, FAILED_NAME, REASONING_STATS)
    run.prepare(results, settings, outputs, "configs_object_reasoning.json", flags)
    slots, shared = slot_predictors(build_predictor(networks, run.device, job.batch_size), job.images_at_once)
    counters = [CountingPredictor(p) for p in slots]
    processes = [discovery_process(Reasoner(c, cfg), c, run.device, job) for c in counters]
    done, _ = run.process(records, results, processes, "object reasoning", shared)
    if done:
        run.logger.info("network evaluations %s", dict(sum((c.counts for c in counters), Counter())))
    path = run.finish(results, records, combine_discoveries, DISCOVERIES)
    if path is not None:
        atomic_write_json(results.output_dir / REASONING_STATS,
                          summarise_stats(list(results.records().values())), indent=2)
    return path


# -- object_scoring.py ------------------------------------------------------------------------------------
def combine_scores(records: list[dict]) -> list:
    return [ann for r in records for ann in r["results"]]


def scoring_process(predictor: Predictor, raw: dict, cfg: ScoringConfig, device: torch.device,
                    job: ScoringJob) -> Process:
    """Per image: COCO results (mask, tight box, four scores) of its discovered boxes."""
    vis_dir = Path(job.vis_dir) if job.vis_dir else None

    def process(rec: ImageRecord, image_u8: torch.Tensor) -> dict:
        try:
            boxes = torch.tensor(raw[rec.key], dtype=torch.float64).reshape(-1, 4)
        except (TypeError, ValueError, RuntimeError) as e:
            raise DataError(f"{job.raw_annotations_path}: boxes of image {rec.key} malformed: {e}") from e
        anns, masks = score_boxes(predictor, image_float(image_u8, device), boxes, rec.image_id, cfg)
        if vis_dir is not None:
            tight = [xywh_to_xyxy(a["bbox"]) for a in anns]
            save_overlay(vis_dir / f"{rec.key}_scored.png", image_u8.permute(1, 2, 0).numpy(), tight, masks)
        return {"results": anns}

    return process


def run_scoring(job: ScoringJob, networks: PredictorConfig, cfg: ScoringConfig,
                original_behaviour: bool = False) -> Path | None:
    """Score the discoveries of every image; returns the merged results' path (None until all shards are
    done)."""
    run = Run.start(job, "object_scoring")
    raw = load_json(job.raw_annotations_path, "discovery results")
    inputs = resolve_inputs(job)
    raw = validate_discoveries(raw, f"discovery results {job.raw_annotations_path}")
    records = [r for r in inputs if r.key in raw]
    run.logger.info("%d images with discoveries (of %d in the results file)", len(records), len(raw))
    out_dir = Path(job.output_dir) if job.output_dir else Path(job.raw_annotations_path).resolve().parent
    results = run.results(out_dir, "scoring")
    if job.merge_only:
        return run.finish(results, records, combine_scores, SCORED, True, SCORING_FAILED_NAME)
    settings = {**networks.settings(), **cli_values(cfg), "original_behaviour": original_behaviour,
                "raw_annotations_path": file_identity(job.raw_annotations_path)}
    flags = command_line(job, networks, cfg, original_behaviour=original_behaviour)
    run.prepare(results, settings, (SCORED, SCORING_FAILED_NAME), "configs_object_scoring.json", flags)
    slots, shared = slot_predictors(build_predictor(networks, run.device, job.batch_size), job.images_at_once)
    processes = [scoring_process(p, raw, cfg, run.device, job) for p in slots]
    run.process(records, results, processes, "object scoring", shared)
    return run.finish(results, records, combine_scores, SCORED, failed_name=SCORING_FAILED_NAME)
