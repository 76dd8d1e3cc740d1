"""Box annotations of extra objects (VIA or COCO boxes) -> COCO annotations with Segment Anything masks.

    cd 'COCO*' && python utils/generate_mask_for_extra_coco_labels.py --boxes via_export.json \
        --image_dir ../data/coco/val2017 --sam_checkpoint sam_vit_h_4b8939.pth --out extra_labels.json \
        [--reference ../data/coco/annotations/instances_val2017.json]

One mask per box (SAM prompted by the box, batched per image), clipped to the box; boxes are kept as
annotated; RLE masks; `area` from the mask. Finished images are appended to `<out>.partial.jsonl`, so an
interrupted run resumes; the file is removed once `--out` is written.
"""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[2] / "_bootstrap.py"))  # repository root on sys.path

from coco_tools.box_sources import load_box_annotations  # noqa: E402
from coco_tools.checker import load_coco_json  # noqa: E402
from coco_tools.cli_configs import SamMasksConfig  # noqa: E402
from coco_tools.sam_masks import SAM_CHECKPOINT_URLS, build_sam_predictor, generate_masks  # noqa: E402
from utils.cli import input_errors, reports_errors, run_cli  # noqa: E402
from utils.config import from_namespace, typed_parser  # noqa: E402
from utils.device import resolve_device  # noqa: E402
from utils.io import DataError, atomic_write_json  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    urls = ", ".join(f"{k}: {v}" for k, v in SAM_CHECKPOINT_URLS.items())
    return typed_parser(__doc__.split("\n\n")[0], SamMasksConfig, epilog="SAM checkpoints: " + urls)


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    args = from_namespace(SamMasksConfig, build_parser().parse_args(argv))
    boxes_path = Path(args.boxes)
    out = (Path(args.output_path) if args.output_path
           else boxes_path.with_name(f"{boxes_path.stem}_with_mask.json"))
    with input_errors(FileNotFoundError, ValueError):
        reference = load_coco_json(args.reference, require_annotations=False) if args.reference else None
        boxes = load_box_annotations(boxes_path, args.category_attribute, reference)
        predictor = build_sam_predictor(args.sam_checkpoint, args.model_type, resolve_device(args.device))
    print(f"{len(boxes['annotations'])} boxes on {len(boxes['images'])} images, "
          f"{len(boxes['categories'])} categories")
    partial = out.with_name(out.name + ".partial.jsonl")
    dataset = generate_masks(boxes, args.image_dir, predictor, partial_path=partial,
                             batch_size=args.box_batch)
    atomic_write_json(out, dataset)
    partial.unlink(missing_ok=True)
    print(f"{len(dataset['annotations'])} masked annotations -> {out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
