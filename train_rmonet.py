"""Train or evaluate R-MONet / the MONet baselines.

python train_rmonet.py --config configs/rmonet/multi_dsprites_unet.yaml
python train_rmonet.py --config configs/rmonet/multi_dsprites_unet.yaml --resume
torchrun --nproc_per_node 4 train_rmonet.py --config configs/rmonet/clevr6_unet.yaml
python train_rmonet.py --eval outputs/rmonet/multi_dsprites_unet/checkpoint_last.pth
"""

from __future__ import annotations

import argparse
import json

from training.rmonet.checkpoint import load_checkpoint
from training.rmonet.config import build_config, load_config
from training.rmonet.evaluate import evaluate_checkpoint
from training.rmonet.loop import train
from utils.cli import run_cli
from utils.device import device_for_rank, resolve_device
from utils.distributed import cleanup_distributed, init_distributed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML config (configs/rmonet/<dataset>_<variant>.yaml)")
    ap.add_argument("--eval", metavar="CKPT", help="evaluate this checkpoint on the test split and exit")
    ap.add_argument("--eval_dir", help="where --eval writes metrics.json and figures (default CKPT dir/eval)")
    ap.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        help="resume from output_dir/checkpoint_last.pth (or from the given checkpoint)",
    )
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    ap.add_argument("--output_dir", help="override output_dir")
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. --set train.max_iters=1000 --set data.source=tfrecord",
    )
    args = ap.parse_args(argv)
    if args.output_dir:
        args.overrides.append(f"output_dir={args.output_dir}")

    if args.eval:
        # The checkpoint config unless --config is given; --set overrides apply on top (e.g. data paths).
        if args.config:
            cfg = load_config(args.config, args.overrides)
        else:
            saved = load_checkpoint(args.eval)["config"]
            cfg = build_config(saved, args.overrides, f"config of {args.eval}", saved=True)
        metrics = evaluate_checkpoint(args.eval, resolve_device(args.device), cfg, args.eval_dir)
        print(json.dumps(metrics, indent=2))
        return

    if not args.config:
        ap.error("--config is required for training")
    cfg = load_config(args.config, args.overrides)
    info = init_distributed(args.device)
    device = device_for_rank(args.device, info)
    try:
        train(cfg, device, info, resume=args.resume)
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    run_cli(main)
