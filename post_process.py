"""Select confident discoveries as detector pseudo labels.

    python post_process.py --pred_annotations_path RUN/object_discovery_with_scores.json \
        --existence_score_thres 0.5 --center_score_thres 0.8 --boundary_score_thres 0.75 \
        --gt_annotations data/coco/annotations/coco_cls_agnostic_instances_train2017.json

`--dataset COCO --split {test,train}` (the original README's flags) is an alias for `--gt_annotations`
under `--data_root`.
Writes `selected_training_annotations.json` (and `configs_post_process.json`) next to the input.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from coco_tools.checker import validate_coco
from coco_tools.cli_configs import PostProcessConfig
from coco_tools.pseudo_labels import PseudoLabelThresholds, select_pseudo_labels
from coco_tools.splits import NAMED_SPLITS, SPLIT_ALIASES, default_data_root, split_annotation_path
from utils.artifacts import missing_data_message
from utils.cli import reports_errors, run_cli
from utils.config import HelpFormatter, add_arguments
from utils.io import DataError, atomic_write_json, load_json


def build_parser() -> argparse.ArgumentParser:
    splits = ", ".join(f"{d}/{s} -> <data_root>/{split.class_agnostic}"
                       for (d, s), split in NAMED_SPLITS.items())
    splits += "; " + ", ".join(f"{alias} = {name}" for alias, name in SPLIT_ALIASES.items())
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter,
                                epilog="Named splits: " + splits)
    rest = [f.name for f in dataclasses.fields(PostProcessConfig)][1:]
    add_arguments(p, PostProcessConfig, skip=rest)  # the input first, then the thresholds, then the rest
    add_arguments(p, PseudoLabelThresholds)
    add_arguments(p, PostProcessConfig, skip=("pred_annotations_path",))
    return p


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pred_path = Path(args.pred_annotations_path)
    if args.gt_annotations:
        gt_path = Path(args.gt_annotations)
    elif args.dataset:
        gt_path = split_annotation_path(args.dataset, args.split, args.data_root)
        if not gt_path.is_file():
            root = args.data_root or default_data_root(args.dataset)
            flag = f"--dataset {args.dataset} --split {args.split}"
            raise DataError(missing_data_message(gt_path, flag, root))
    else:
        raise DataError("give --gt_annotations PATH (or --dataset NAME --split SPLIT) for the image list")
    results = load_json(pred_path, "scored results file")
    gt = load_json(gt_path, "image-list annotation file")
    gt = validate_coco(gt, f"image-list annotation file {gt_path}", require_annotations=False)
    out = select_pseudo_labels(results, gt, args.existence_score_thres, args.center_score_thres,
                               args.boundary_score_thres, source=str(pred_path),
                               gt_source=f"image-list annotation file {gt_path}")
    out = validate_coco(out, f"pseudo labels selected from {pred_path}")
    out_path = (Path(args.output_path) if args.output_path
                else pred_path.parent / "selected_training_annotations.json")
    config = dict(vars(args), gt_annotations=str(gt_path), output_path=str(out_path))
    atomic_write_json(out_path.parent / "configs_post_process.json", config, indent=2)
    atomic_write_json(out_path, out)
    print(f"kept {len(out['annotations'])} of {len(results)} results on {len(out['images'])} images "
          f"-> {out_path}")
    return 0


if __name__ == "__main__":
    run_cli(main)
