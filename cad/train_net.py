"""Train or evaluate the class-agnostic Cascade Mask R-CNN (Detectron2's ``train_net.py`` interface).

    CFG=cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml
    python cad/train_net.py --num-gpus 4 --config-file $CFG
    python cad/train_net.py --config-file $CFG --num-gpus 2 --eval-only \
        --test-dataset 'cls_agnostic_coco*_val_17' MODEL.WEIGHTS unMORE_model.pth \
        OUTPUT_DIR 'cad_eval/cls_agnostic_coco*_val_17'

Run from the repository root; ``python cad/train_net.py --help`` lists every flag.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: import packages from the repository root, not from cad/ itself.
_HERE, _REPO_ROOT = Path(__file__).resolve().parent, str(Path(__file__).resolve().parents[1])
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from cad.engine.defaults import (  # noqa: E402
    auto_scale_workers,
    default_argument_parser,
    default_setup,
    preflight,
    register_cli_datasets,
    resolve_model_device,
    setup_cfg,
)
from cad.engine.launch import dist_info, launch  # noqa: E402
from utils.io import DataError  # noqa: E402


def main(args):
    """Per-process entry point: evaluation-only or training (+ final evaluation)."""
    from cad.engine.checkpointer import Checkpointer
    from cad.engine.trainer import Trainer, run_evaluation
    from cad.modeling import build_model

    register_cli_datasets(args)
    cfg = setup_cfg(args)
    info = dist_info()
    cfg = auto_scale_workers(cfg, info.world_size)
    default_setup(cfg, args, info)
    device = resolve_model_device(cfg, info)
    model = build_model(cfg)
    if args.eval_only:
        model = model.to(device)
        Checkpointer(model, cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return run_evaluation(cfg, model, device, info)
    return Trainer(cfg, model, device, info, resume=args.resume).train()


def cli(argv: list[str] | None = None):
    args = default_argument_parser().parse_args(argv)
    try:
        preflight(args)
    except (FileNotFoundError, DataError, KeyError, ValueError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        raise SystemExit(2) from None
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    cli()
