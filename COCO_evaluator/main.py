"""Command line: class-agnostic COCO AP of a results JSON against a ground-truth JSON.

    python COCO_evaluator/main.py --gt_annotations GT.json --pred_annotations PRED.json \
        --output_dir DIR [--tasks bbox segm] [--max_dets 1 10 100 1000]

Prints the table and writes DIR/ap_score.json (`{task: {metric: percent}}`) atomically.
"""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from COCO_evaluator.cli_configs import EvaluatorConfig  # noqa: E402
from COCO_evaluator.evaluate import DEFAULT_SCORE, evaluate_class_agnostic, format_table  # noqa: E402
from utils.cli import reports_errors, run_cli  # noqa: E402
from utils.config import from_namespace, typed_parser  # noqa: E402
from utils.io import DataError, atomic_write_json  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    return typed_parser(
        "Class-agnostic COCO bbox/segm AP (all categories merged into one) with pycocotools.",
        EvaluatorConfig, epilog=f"Results: COCO results list, COCO dataset JSON, or discovery format "
               f"{{image_id: [[x1,y1,x2,y2],...]}} (bbox only). Missing scores default to 'weight', "
               f"else {DEFAULT_SCORE}.")


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    args = from_namespace(EvaluatorConfig, build_parser().parse_args(argv))
    scores = evaluate_class_agnostic(args.gt_annotations, args.pred_annotations, tasks=args.tasks,
                                     max_dets=args.max_dets, strict_image_ids=args.strict,
                                     verbose=args.verbose)
    print(format_table(scores))
    out_dir = Path(args.output_dir) if args.output_dir else Path(args.pred_annotations).resolve().parent
    atomic_write_json(out_dir / "ap_score.json", scores, indent=2)
    print(f"wrote {out_dir / 'ap_score.json'}")
    return 0


if __name__ == "__main__":
    run_cli(main)
