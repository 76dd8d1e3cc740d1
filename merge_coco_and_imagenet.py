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
from coco_tools.pseudo_labels import merge_coco_and_imagenet
from utils.cli import CliError, reports_errors, run_cli
from utils.config import number
from utils.io import DataError, atomic_write_json


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coco_annotations_training_format_path", required=True,
                   help="post_process.py output on COCO train2017 (selected_training_annotations.json)")
    p.add_argument("--imagenet_annotations_training_format_path", required=True,
                   help="VoteCut COCO-style JSON of ImageNet train (scores in 'weight')")
    p.add_argument("--min_weight", type=number(float, min=0, max=1), default=0.5,
                   help="keep VoteCut annotations with weight >= this")
    p.add_argument("--output_path", default=None,
                   help="default: <coco dir>/merged_with_imagenet/COCO_merged_IN_training_format.json")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
