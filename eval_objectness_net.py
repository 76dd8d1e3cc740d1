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
import dataclasses
from pathlib import Path

from utils.cli import reports_errors, run_cli
from utils.config import number
from utils.io import DataError, atomic_write_json


def _trained_help(name: str) -> str:
    """Help text of the training config's field `name` (the same setting)."""
    from training.args import Stage1Config

    return next(f.metadata["help"] for f in dataclasses.fields(Stage1Config) if f.name == name)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--checkpoint", required=True, help="checkpoint of train_objectness_net.py (or a released one)"
    )
    p.add_argument("--imagenet_root", required=True, help="held-out folder with train/<wnid>/<name>.JPEG")
    p.add_argument("--mask_root", default=None, help=_trained_help("mask_root"))
    p.add_argument("--votecut_json", default=None, help=_trained_help("votecut_json"))
    p.add_argument(
        "--crop_size",
        "--image_size",
        type=number(int, min=8),
        default=None,
        help="side of the crops fed to the network (default: the checkpoint's `crop_size`, else 128)",
    )
    p.add_argument("--batch_size", type=number(int, min=1), default=16)
    p.add_argument("--seed", type=int, default=0, help="seed of the random crops / existence samples")
    p.add_argument("--samples_per_image", type=number(int, min=1), default=4,
                   help="existence: seeded draws per image")
    p.add_argument("--num_workers", type=number(int, min=0), default=0)
    p.add_argument("--device", default=None, help=_trained_help("device"))
    p.add_argument(
        "--output_path", "--output_json", default=None,
        help="default: <checkpoint dir>/eval_<held-out folder name>.json"
    )
    return p


@reports_errors(DataError, FileNotFoundError, RuntimeError, exit_on_error=True)
def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from training.evaluation import evaluate_checkpoint, format_result
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
