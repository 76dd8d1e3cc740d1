"""Merge COCO pseudo labels with ImageNet VoteCut labels into the detector's training JSON.

    python merge_coco_and_imagenet.py \
        --coco_annotations_training_format_path RUN/selected_training_annotations.json \
        --imagenet_annotations_training_format_path \
            data/imagenet/annotations/imagenet_train_votecut_kmax_3_tuam_0.2.json

Writes `<coco dir>/merged_with_imagenet/COCO_merged_IN_training_format.json` unless `--output_path` is
given. Image ids become `imagenet_<id>` / `coco_<id>`; `file_name` stays relative to each dataset's image
folder and each image records its `dataset`; the detector resolves ImageNet images under
`<imagenet_root>/<wnid>/<name>.JPEG` and COCO images under the COCO image folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coco_tools.checker import load_coco_json
from coco_tools.cli_configs import MergeCocoImagenetConfig
from coco_tools.pseudo_labels import merge_coco_and_imagenet
from utils.cli import CliError, reports_errors, run_cli
from utils.config import from_namespace, typed_parser
from utils.io import DataError, atomic_write_json


def build_parser() -> argparse.ArgumentParser:
    return typed_parser(__doc__.split("\n\n")[0], MergeCocoImagenetConfig)


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    args = from_namespace(MergeCocoImagenetConfig, build_parser().parse_args(argv))
    coco_path = Path(args.coco_annotations_training_format_path)
    out = (Path(args.output_path) if args.output_path
           else coco_path.parent / "merged_with_imagenet" / "COCO_merged_IN_training_format.json")
    if out.exists() and not args.overwrite:
        raise CliError(f"{out} already exists; pass --overwrite to replace it")
    coco = load_coco_json(coco_path)
    imagenet = load_coco_json(args.imagenet_annotations_training_format_path)
    merged = merge_coco_and_imagenet(coco, imagenet, args.min_weight)
    atomic_write_json(out, merged)
    print(f"{len(merged['images'])} images, {len(merged['annotations'])} annotations -> {out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
