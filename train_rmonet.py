"""Train or evaluate R-MONet / the MONet baselines.

python train_rmonet.py --config_file configs/rmonet/multi_dsprites_unet.yaml
python train_rmonet.py --config_file configs/rmonet/multi_dsprites_unet.yaml --resume
torchrun --nproc_per_node 4 train_rmonet.py --config_file configs/rmonet/clevr6_unet.yaml
python train_rmonet.py --eval_only --resume outputs/rmonet/multi_dsprites_unet/checkpoint_last.pth
"""

from __future__ import annotations

import argparse
import json

from training.checkpointing import load_training_checkpoint, resolve_resume
from training.rmonet.config import RMONetRunConfig, build_config, load_config
from training.rmonet.evaluate import evaluate_checkpoint
from training.rmonet.loop import train
from utils.cli import CliError, run_cli
from utils.config import typed_parser
from utils.device import device_for_rank, resolve_device
from utils.distributed import init_distributed, process_group_teardown


def main(argv: list[str] | None = None) -> None:
    ap = typed_parser(__doc__, RMONetRunConfig)
    args = ap.parse_args(argv)
    if args.output_dir:
        args.overrides.append(f"output_dir={args.output_dir}")
    if args.eval:
        args.eval_only, args.resume = True, args.eval

    if args.eval_only:
        evaluate_only(args)
        return
    if not args.config_file:
        ap.error("--config_file is required for training")
    cfg = load_config(args.config_file, args.overrides)
    info = init_distributed(args.device)
    device = device_for_rank(args.device, info)
    with process_group_teardown():
        train(cfg, device, info, resume=args.resume)


def evaluate_only(args: argparse.Namespace) -> None:
    """Metrics of the --resume checkpoint (auto: the config's output_dir's) with the checkpoint's config,
    or --config_file's; --set overrides apply on top (e.g. data paths)."""
    cfg = load_config(args.config_file, args.overrides) if args.config_file else None
    if args.resume in (None, "auto"):
        if cfg is None:
            raise CliError("--eval_only needs --resume PATH (or --config_file, whose output_dir holds it)")
        ckpt = resolve_resume("auto", cfg.output_dir)
        if ckpt is None:
            raise CliError(f"--eval_only: no checkpoint in {cfg.output_dir}")
    else:
        ckpt = resolve_resume(args.resume, "")
    if cfg is None:
        saved = load_training_checkpoint(ckpt, "train_rmonet.py")["config"]
        cfg = build_config(saved, args.overrides, f"config of {ckpt}", saved=True)
    metrics = evaluate_checkpoint(ckpt, resolve_device(args.device), cfg, args.eval_dir)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    run_cli(main)
