"""The command lines of the evaluator's scripts, one typed config per script (see utils/config.py):
COCO_evaluator/main.py and tools/main_job_report.py. Output locations come from utils/runtime_config.py."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from COCO_evaluator.evaluate import TASKS
from utils.config import number, option
from utils.runtime_config import runtime_option


@dataclass(frozen=True)
class EvaluatorConfig:
    """COCO_evaluator/main.py."""

    gt_annotations: str = option(None, "ground-truth COCO JSON", required=True)
    pred_annotations: str = option(None, "results JSON to evaluate", required=True)
    output_dir: str | None = runtime_option(
        "output_dir", "where ap_score.json goes (default: the folder of --pred_annotations)")
    tasks: list[str] = option(list(TASKS), "bbox and/or segm (segm is skipped for box-only results)",
                              choices=TASKS)
    max_dets: list[int] = option(
        [1, 10, 100], "max detections per image for AR (1, 10, 100 always included), e.g. 1 10 100 1000",
        min=1, type=number(int, min=1))  # each item's range checked by argparse too, as for a number flag
    strict: bool = option(False, "fail when results refer to images absent from the ground truth "
                                 "(default: warn and drop them)")
    verbose: bool = option(False, "also show pycocotools' own printout")


def report_row(text: str) -> tuple[str, str]:
    """`--row NAME=results.json` -> (NAME, results.json)."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"--row must look like 'NAME=results.json', got {text!r}")
    return name, path


@dataclass(frozen=True)
class MainJobReportConfig:
    """tools/main_job_report.py."""

    gt_annotations: str = option(None, "class-agnostic COCO GT of the evaluated scenes", required=True)
    image_dir: str = option(None, "folder of the evaluated scenes (for the overlays)", required=True)
    row: list[tuple[str, str]] = option(
        None, "'NAME=results.json' (COCO results with masks); repeat, in table order", type=report_row,
        action="append", nargs=None, required=True)
    stage1: list[str] = option([], "held-out JSON of eval_objectness_net.py (either network); repeat",
                               action="append", nargs=None)
    pseudo_labels: str | None = option(None, "post_process.py output, to count pseudo labels")
    output_dir: str = runtime_option("output_dir", aliases=("--out_dir",), required=True)
    num_overlays: int = option(4, "scenes drawn (the first ones by file name)", min=0)
    overlay_score: float = option(
        0.5, "draw a row's results scoring at least this fraction of its best score on the image",
        min=0, max=1)


@dataclass(frozen=True)
class SeedSummaryConfig:
    """tools/summarize_seeds.py."""

    runs: list[str] = option([], "output folders of the main job (each with main_results.json) or the "
                                 "main_results.json files themselves, one per seed", positional=True)
    output_path: str | None = runtime_option("output_path",
                                             "markdown file of the summary (default: print only)")

