"""Evaluate a stage-1 checkpoint on held-out single-object images against trivial baselines.

    python eval_objectness_net.py \
        --checkpoint outputs/objectness/center_boundary_resnet18/checkpoint_last.pth \
        --imagenet_root data/synthetic/imagenet_heldout

Objectness checkpoints: center-field and boundary-field errors of the model and of the zero predictor, on
full images and on seeded random crops. Existence checkpoints: accuracy against the majority label.
Prints a table and writes the metrics as JSON (default: next to the checkpoint).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from utils.cli import reports_errors, run_cli
from utils.config import add_arguments
from utils.io import DataError, atomic_write_json


def build_parser() -> argparse.ArgumentParser:
    from training.objectness.args import EvalConfig

    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_arguments(p, EvalConfig)
    return p


@reports_errors(DataError, FileNotFoundError, RuntimeError, exit_on_error=True)
def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from training.objectness.evaluation import evaluate_checkpoint, format_result
    from utils.device import resolve_device

    device = resolve_device(args.device)
    result = evaluate_checkpoint(
        args.checkpoint,
        args.imagenet_root,
        args.mask_root,
        args.votecut_json,
        args.crop_size,
        args.seed,
        args.batch_size,
        device,
        args.num_workers,
        args.samples_per_image,
    )
    out = Path(
        args.output_path or Path(args.checkpoint).parent / f"eval_{Path(args.imagenet_root).name}.json"
    )
    atomic_write_json(out, result, indent=2)
    print(format_result(result))
    print(f"metrics written to {out}")
    return result


if __name__ == "__main__":
    run_cli(main)
