"""Command lines of `object_reasoning.py` and `object_scoring.py`: flags from the typed configs -> the job.

Every flag is a field of one config: `PredictorConfig` (networks or oracle), `JobConfig` (images,
execution), `ReasoningConfig` / `ScoringConfig` (the stage's settings, deviations included).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reasoning.algorithm import THRESHOLDS, ReasoningConfig
from reasoning.jobs import ReasoningJob, ScoringJob, run_reasoning, run_scoring
from reasoning.networks import NETWORKS, PredictorConfig
from reasoning.runner import EXECUTION, INPUT
from reasoning.scoring import ScoringConfig
from utils.config import DEVIATIONS_GROUP, add_arguments, add_original_switch, from_namespace


def _parser(description: str, job: type, stage: type, titles: tuple[str, ...]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    groups = {title: p.add_argument_group(title) for title in (NETWORKS, INPUT, EXECUTION, *titles)}
    add_original_switch(groups[DEVIATIONS_GROUP])
    for cls in (PredictorConfig, job, stage):
        add_arguments(p, cls, groups)
    return p


def reasoning_parser() -> argparse.ArgumentParser:
    return _parser("unMORE stage 2: discover objects by multi-object reasoning.", ReasoningJob,
                   ReasoningConfig, (THRESHOLDS, DEVIATIONS_GROUP))


def scoring_parser() -> argparse.ArgumentParser:
    return _parser("unMORE stage 2: masks and scores for discovered boxes.", ScoringJob, ScoringConfig,
                   (DEVIATIONS_GROUP,))


def main_reasoning(argv: list[str] | None = None) -> Path | None:
    args = reasoning_parser().parse_args(argv)
    job = from_namespace(ReasoningJob, args)
    cfg = from_namespace(ReasoningConfig, args, record_trace=bool(job.vis_dir and job.vis_gif))
    return run_reasoning(job, from_namespace(PredictorConfig, args), cfg, args.original_behaviour)


def main_scoring(argv: list[str] | None = None) -> Path | None:
    args = scoring_parser().parse_args(argv)
    return run_scoring(from_namespace(ScoringJob, args), from_namespace(PredictorConfig, args),
                       from_namespace(ScoringConfig, args), args.original_behaviour)
