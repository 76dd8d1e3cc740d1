"""Command-line interface shared by ``cad/train_net.py``: Detectron2's flags plus data-source flags, config
assembly (defaults -> YAML -> ``KEY VALUE`` overrides -> dataset overrides -> freeze) and per-process setup
(output folder, ``config.yaml`` dump, seeding, device)."""

from __future__ import annotations

import argparse
import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

from cad.data.catalog import register_coco_json
from utils.config import number
from utils.device import device_for_rank, resolve_device
from utils.distributed import DistInfo
from utils.io import DataError
from utils.logging_utils import setup_logging

logger = logging.getLogger(__name__)

CUSTOM_TRAIN_NAME = "custom_train"
CUSTOM_TEST_NAME = "custom_test"


def default_argument_parser(description: str = "Train or evaluate the class-agnostic detector.") -> \
        argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""Examples:
  CFG=cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml
  python cad/train_net.py --num-gpus 4 --config-file $CFG
  python cad/train_net.py --config-file $CFG \\
      --num-gpus 2 --eval-only --test-dataset 'cls_agnostic_coco*_val_17' \\
      MODEL.WEIGHTS unMORE_model.pth OUTPUT_DIR 'cad_eval/cls_agnostic_coco*_val_17'
  torchrun --nproc_per_node 4 cad/train_net.py --config-file ...   (--num-gpus is then ignored)

Datasets are looked up under $DETECTRON2_DATASETS (default: data/).""")
    p.add_argument("--config_file", "--config-file", default="", metavar="FILE",
                   help="path to the YAML config file")
    p.add_argument("--resume", action="store_true",
                   help="resume from OUTPUT_DIR/last_checkpoint (model, optimizer, scheduler, grad scaler, "
                        "iteration); without a checkpoint there, start from MODEL.WEIGHTS")
    p.add_argument("--eval_only", "--eval-only", action="store_true",
                   help="only evaluate MODEL.WEIGHTS on DATASETS.TEST")
    p.add_argument("--output_dir", default="", metavar="DIR", help="output folder (sets OUTPUT_DIR)")
    p.add_argument("--device", default="", help="cpu, cuda, cuda:N (sets MODEL.DEVICE)")
    p.add_argument("--num-gpus", type=number(int, min=1), default=1,
                   help="processes per machine (GPUs; CPU processes with gloo when CUDA is unavailable)")
    p.add_argument("--num-machines", type=number(int, min=1), default=1, help="total number of machines")
    p.add_argument("--machine-rank", type=number(int, min=0), default=0,
                   help="rank of this machine (unique per machine)")
    p.add_argument("--dist-url", default="auto",
                   help="initialisation URL for torch.distributed, e.g. tcp://10.0.0.1:50155; 'auto' picks "
                        "a free local port (one machine only)")
    p.add_argument("--test-dataset", default="", help="dataset name replacing DATASETS.TEST")
    p.add_argument("--train-dataset", default="", help="dataset name replacing DATASETS.TRAIN")
    p.add_argument("--no-segm", action="store_true", help="evaluate boxes only (sets TEST.NO_SEGM)")
    p.add_argument("--train-json", default="", help="train on this COCO-format JSON (sets DATASETS.TRAIN)")
    p.add_argument("--train-image-root", default="", help="image folder of --train-json")
    p.add_argument("--train-imagenet-root", default="",
                   help="folder holding <wnid>/<name>.JPEG: ImageNet images of a merged COCO+ImageNet JSON")
    p.add_argument("--coco-repeat", type=number(int, min=1), default=1,
                   help="times each COCO image of a merged --train-json appears per epoch (unMORE: 5)")
    p.add_argument("--test-json", default="", help="evaluate on this COCO-format JSON (sets DATASETS.TEST)")
    p.add_argument("--test-image-root", default="", help="image folder of --test-json")
    p.add_argument("opts", default=None, nargs=argparse.REMAINDER,
                   help="config overrides as KEY VALUE pairs, e.g. SOLVER.BASE_LR 0.005 OUTPUT_DIR out/")
    return p


def register_cli_datasets(args: argparse.Namespace) -> None:
    """Register ``--train-json``/``--test-json`` datasets (called in every process)."""
    if args.train_json:
        if not args.train_image_root:
            raise ValueError("--train-json needs --train-image-root")
        register_coco_json(CUSTOM_TRAIN_NAME, args.train_json, args.train_image_root,
                           imagenet_root=args.train_imagenet_root or None, coco_repeat=args.coco_repeat)
    if args.test_json:
        if not args.test_image_root:
            raise ValueError("--test-json needs --test-image-root")
        register_coco_json(CUSTOM_TEST_NAME, args.test_json, args.test_image_root)


def setup_cfg(args: argparse.Namespace):
    """Frozen config from the defaults, ``--config_file``, trailing ``KEY VALUE`` pairs, ``--output_dir``,
    ``--device`` and dataset flags; unknown keys and non-default values of keys that are not implemented
    raise."""
    from cad.config import check_implemented, get_cfg

    cfg = get_cfg()
    if args.config_file:
        cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(list(args.opts or []))
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.device:
        cfg.MODEL.DEVICE = args.device
    if args.train_dataset:
        cfg.DATASETS.TRAIN = (args.train_dataset,)
    if args.train_json:
        cfg.DATASETS.TRAIN = (CUSTOM_TRAIN_NAME,)
    if args.test_dataset:
        cfg.DATASETS.TEST = (args.test_dataset,)
    if args.test_json:
        cfg.DATASETS.TEST = (CUSTOM_TEST_NAME,)
    if args.no_segm:
        cfg.TEST.NO_SEGM = True
    check_implemented(cfg)
    cfg.freeze()
    return cfg


def resolve_model_device(cfg, info: DistInfo) -> torch.device:
    """``MODEL.DEVICE`` for this process (``cuda`` -> this process's GPU under DDP); CUDA requested on a
    machine without it is an error (``utils.device``)."""
    return device_for_rank(str(cfg.MODEL.DEVICE), info, option="MODEL.DEVICE")


def default_setup(cfg, args: argparse.Namespace, info: DistInfo) -> None:
    """Set this process's logging up, create OUTPUT_DIR, dump the config (main process), log the command, seed
    every RNG."""
    setup_logging(info.rank)
    out = Path(cfg.OUTPUT_DIR)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        from utils.io import atomic_write_bytes

        atomic_write_bytes(out / "config.yaml", cfg.dump().encode())
        logger.info(f"command line arguments: {vars(args)}")
        logger.info(f"full config written to {out / 'config.yaml'}")
    seed = int(cfg.SEED)
    seed = (seed if seed >= 0 else (os.getpid() + int.from_bytes(os.urandom(2), "big"))) + info.rank
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if cfg.CUDNN_BENCHMARK:
        torch.backends.cudnn.benchmark = True


def preflight(args: argparse.Namespace) -> None:
    """Fail fast, before any process is spawned: the config parses, MODEL.DEVICE is available, MODEL.WEIGHTS
    exists (unless a checkpoint will be resumed) and the training/test dataset names are known and their files
    exist."""
    from cad.checkpoint import check_weights_path
    from cad.data.catalog import get_spec, registered_names
    from cad.engine.checkpointer import LAST_CHECKPOINT

    register_cli_datasets(args)
    cfg = setup_cfg(args)
    resolve_device(str(cfg.MODEL.DEVICE), option="MODEL.DEVICE")
    weights = str(cfg.MODEL.WEIGHTS)
    resumable = args.resume and (Path(cfg.OUTPUT_DIR) / LAST_CHECKPOINT).is_file()
    if weights and not resumable:
        check_weights_path(weights)
    if args.eval_only and not weights and not resumable:
        raise DataError("--eval-only needs MODEL.WEIGHTS (a trained detector; empty would evaluate a random "
                        "network)")
    names = list(cfg.DATASETS.TEST) + ([] if args.eval_only else list(cfg.DATASETS.TRAIN))
    for name in names:
        if name not in registered_names():
            known = ", ".join(registered_names())
            raise KeyError(f"dataset '{name}' is not registered. Known datasets: {known}")
        try:
            get_spec(name).json_path()
        except DataError as e:
            if args.eval_only or name not in cfg.DATASETS.TEST:
                raise
            logger.warning(f"{e}\nThe evaluation after training will skip '{name}' unless the file appears; "
                           "pass --test-dataset NAME to evaluate on another set.")


def auto_scale_workers(cfg, world_size: int):
    """Detectron2's linear scaling when ``SOLVER.REFERENCE_WORLD_SIZE`` is set and differs from the number of
    processes: batch size and LR scale by ``world_size / reference``, iteration counts by the inverse."""
    ref = int(cfg.SOLVER.REFERENCE_WORLD_SIZE)
    if ref == 0 or ref == world_size:
        return cfg
    cfg = cfg.clone()
    frozen = cfg.is_frozen()
    cfg.defrost()
    scale = world_size / ref
    s = cfg.SOLVER
    s.IMS_PER_BATCH = bs = int(round(s.IMS_PER_BATCH * scale))
    s.BASE_LR = s.BASE_LR * scale
    s.MAX_ITER = int(round(s.MAX_ITER / scale))
    s.WARMUP_ITERS = int(round(s.WARMUP_ITERS / scale))
    s.STEPS = tuple(int(round(x / scale)) for x in s.STEPS)
    s.CHECKPOINT_PERIOD = int(round(s.CHECKPOINT_PERIOD / scale))
    cfg.TEST.EVAL_PERIOD = int(round(cfg.TEST.EVAL_PERIOD / scale))
    s.REFERENCE_WORLD_SIZE = world_size
    logger.info(f"auto-scaling the config to {world_size} processes: IMS_PER_BATCH={bs}, "
                f"BASE_LR={s.BASE_LR}, MAX_ITER={s.MAX_ITER}, WARMUP_ITERS={s.WARMUP_ITERS}, STEPS={s.STEPS}")
    if frozen:
        cfg.freeze()
    return cfg
