"""Train or evaluate the class-agnostic Cascade Mask R-CNN (Detectron2's ``train_net.py`` interface).

    CFG=cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml
    python cad/train_net.py --num-gpus 4 --config-file $CFG
    python cad/train_net.py --config-file $CFG --num-gpus 2 --eval-only \
        --test-dataset 'cls_agnostic_coco*_val_17' MODEL.WEIGHTS unMORE_model.pth \
        OUTPUT_DIR 'cad_eval/cls_agnostic_coco*_val_17'

Run from the repository root; ``python cad/train_net.py --help`` lists every flag.
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

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
from utils.cli import input_errors, reports_errors, run_cli  # noqa: E402
from utils.io import DataError  # noqa: E402


def main(args):
    """Per-process entry point: evaluation-only or training (+ final evaluation)."""
    from cad.checkpoint import INFERENCE_MIN_LOADED
    from cad.engine.checkpointer import Checkpointer
    from cad.engine.trainer import Trainer, run_evaluation
    from cad.modeling import build_model

    register_cli_datasets(args)
    cfg = setup_cfg(args)
    info = dist_info()
    cfg = auto_scale_workers(cfg, info.world_size)
    default_setup(cfg, args, info)
    device = resolve_model_device(cfg, info)
    if args.eval_only:
        model = build_model(cfg).to(device)
        Checkpointer(model, cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume,
                                                           min_loaded=INFERENCE_MIN_LOADED)
        return run_evaluation(cfg, model, device, info)
    return Trainer(cfg, device, info, resume=args.resume).train()


@reports_errors(exit_on_error=True)
def cli(argv: list[str] | None = None):
    args = default_argument_parser().parse_args(argv)
    with input_errors(FileNotFoundError, DataError, KeyError, ValueError, RuntimeError):
        preflight(args)
    with input_errors(DataError):  # bad data found while loading (a file, its field and the problem)
        launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    run_cli(cli)
