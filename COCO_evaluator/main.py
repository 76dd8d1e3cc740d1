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

from COCO_evaluator.evaluate import DEFAULT_SCORE, TASKS, evaluate_class_agnostic, format_table  # noqa: E402
from utils.cli import reports_errors, run_cli  # noqa: E402
from utils.config import number  # noqa: E402
from utils.io import DataError, atomic_write_json  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Class-agnostic COCO bbox/segm AP (all categories merged into one) with pycocotools.",
        epilog=f"Results: COCO results list, COCO dataset JSON, or discovery format "
               f"{{image_id: [[x1,y1,x2,y2],...]}} (bbox only). Missing scores default to 'weight', "
               f"else {DEFAULT_SCORE}.")
    p.add_argument("--gt_annotations", required=True, help="ground-truth COCO JSON")
    p.add_argument("--pred_annotations", required=True, help="results JSON to evaluate")
    p.add_argument("--output_dir", default=None,
                   help="where ap_score.json goes (default: the folder of --pred_annotations)")
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS,
                   help="bbox and/or segm (segm is skipped for box-only results)")
    p.add_argument("--max_dets", nargs="+", type=number(int, min=1), default=[1, 10, 100],
                   help="max detections per image for AR (1, 10, 100 always included), e.g. 1 10 100 1000")
    p.add_argument("--strict", action="store_true",
                   help="fail when results refer to images absent from the ground truth "
                        "(default: warn and drop them)")
    p.add_argument("--verbose", action="store_true", help="also show pycocotools' own printout")
    return p


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
