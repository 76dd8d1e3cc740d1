"""Command line of `train_objectness_net.py` (the seed README's flags plus data roots and run control)."""

from __future__ import annotations

import argparse

from datasets.existence import NEGATIVE_RULES, POSITIVE_RULES
from datasets.objectness_targets import MASK_RESIZE_MODES
from models.backbones import BACKBONE_TYPES
from models.objectness_net import EXISTENCE_ARCHS, SDF_ACTIVATIONS
from utils.deviations import Deviation, add_original_switch, resolve_deviations

DATASETS = ("ImageNet_votecut_top1_Dataset",)


class ConfigError(ValueError):
    """A user error in the arguments or inputs of a run, reported as one line."""


# deviations of the stage-1 data from the original code (`--original_behaviour` sets all back)
TRAIN_DEVIATIONS = (
    Deviation("mask_resize", "nearest_exact", "nearest",
              "pixel-center nearest samples the mask where the bilinear image/distance resize samples, so "
              "the mask, its distance and its center line up; the original's torch nearest shifts the mask "
              "by about half an output pixel towards the bottom-right."),
    Deviation("existence_negatives", "mask_free", "original",
              "the original's square (bounding square of the largest background disc) usually holds object "
              "pixels in its corners, so a negative may show part of an object; ours shrinks it until it "
              "holds none."),
    Deviation("existence_positive_rule", "any_pixel", "resized_sum",
              "counting the object's pixels at the image's resolution is exact; the original sums the "
              "bilinearly resized crop mask, so a sliver under one output pixel is labelled empty although "
              "the crop shows part of the object."),
)


def build_train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train the unMORE stage-1 objectness network (center + boundary fields) or the existence "
        "network on ImageNet images with VoteCut top-1 masks.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    task = p.add_argument_group("what to train (exactly one)")
    task.add_argument("--train_center_and_boundary", action="store_true", help="train the objectness network")
    task.add_argument("--train_existence", action="store_true", help="train the existence network")

    data = p.add_argument_group("data")
    data.add_argument("--dataset", default=DATASETS[0], choices=DATASETS)
    data.add_argument(
        "--imagenet_root", default=None, help="folder holding train/<wnid>/<name>.JPEG (required)"
    )
    data.add_argument(
        "--mask_root",
        default=None,
        help="VoteCut top-1 masks <wnid>/<name>.png (default: <imagenet_root>/masks_top1_single_component)",
    )
    data.add_argument(
        "--votecut_json",
        default=None,
        help="VoteCut COCO JSON: the union of an image's masks defines the "
        "background of existence negatives (default: the top-1 mask)",
    )
    data.add_argument(
        "--full_mask_root",
        default=None,
        help="PNG union masks <wnid>/<name>.png of all VoteCut masks per image (existence negatives; "
        "preferred over --votecut_json when given)",
    )
    data.add_argument(
        "--image_size",
        "--crop_size",
        dest="image_size",
        type=int,
        default=128,
        help="side of the training crops; stored in the checkpoint as `crop_size`, the size at which "
        "reasoning and scoring then feed crops to the network",
    )
    dev = p.add_argument_group("deviations of the data from the original code")
    add_original_switch(dev)
    d = {x.dest: x for x in TRAIN_DEVIATIONS}
    dev.add_argument("--mask_resize", default=argparse.SUPPRESS, choices=MASK_RESIZE_MODES,
                     help=d["mask_resize"].help("Nearest-neighbour rule of the objectness mask resizes."))
    dev.add_argument("--existence_negatives", default=argparse.SUPPRESS, choices=NEGATIVE_RULES,
                     help=d["existence_negatives"].help("Background squares of the existence negatives."))
    dev.add_argument("--existence_positive_rule", default=argparse.SUPPRESS, choices=POSITIVE_RULES,
                     help=d["existence_positive_rule"].help("When a random crop is labelled 1."))
    data.add_argument("--random_crop_scale_min", type=float, default=0.08)
    data.add_argument("--random_crop_scale_max", type=float, default=1.0)
    data.add_argument("--num_workers", type=int, default=4, help="DataLoader worker processes per rank")

    model = p.add_argument_group("model")
    model.add_argument("--backbone_type", default="dpt_large", choices=BACKBONE_TYPES)
    model.add_argument("--backbone_weights", default=None, help="local file with pretrained backbone weights")
    model.add_argument("--sdf_activation", default=None, choices=SDF_ACTIVATIONS, help="None = linear output")
    model.add_argument(
        "--use_bg_sdf", action="store_true", help="negative background distance outside objects"
    )
    model.add_argument("--existence_arch", default="resnet50", choices=EXISTENCE_ARCHS)

    loss = p.add_argument_group("losses")
    loss.add_argument("--center_field_loss_type", default="l2", choices=("l2", "l1"))
    loss.add_argument("--sdf_loss_type", default="l1", choices=("l1", "l2"))
    loss.add_argument("--use_sdf_gradient_loss", action="store_true")
    loss.add_argument("--use_sdf_binary_mask_loss", action="store_true")

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    opt.add_argument("--learning_rate", type=float, default=1e-4)
    opt.add_argument("--lr_scheduler_gamma", type=float, default=1.0, help="MultiStepLR decay factor")
    opt.add_argument(
        "--lr_milestones",
        "--lr_scheduler_milestones",
        dest="lr_milestones",
        nargs="+",
        type=int,
        default=[10000, 20000],
        help="MultiStepLR milestones (iterations)",
    )
    opt.add_argument("--batch_size", type=int, default=16, help="per process (per GPU under torchrun)")
    opt.add_argument("--max_iters", "--train_iter", dest="max_iters", type=int, default=500000)
    opt.add_argument("--seed", type=int, default=0)
    opt.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    opt.add_argument("--amp", action="store_true", help="mixed precision on CUDA (see --amp_dtype)")
    opt.add_argument("--amp_dtype", default="bf16", choices=("bf16", "fp16"))

    run = p.add_argument_group("run control")
    run.add_argument("--run_name", default=None, help="default: <task>_<backbone or existence arch>")
    run.add_argument("--output_dir", default=None, help="default: outputs/objectness/<run_name>")
    run.add_argument(
        "--resume", default=None, help="checkpoint path, or 'auto' (<output_dir>/checkpoint_latest.pth)"
    )
    run.add_argument("--ckpt_interval", "--save_ckpt_every", dest="ckpt_interval", type=int, default=5000)
    run.add_argument(
        "--keep_checkpoints",
        type=int,
        default=0,
        help="periodic checkpoint_iter_<n>.pth files kept besides checkpoint_latest.pth (older ones are "
        "deleted; 0 writes none); -1 keeps every one, as the original code did",
    )
    run.add_argument("--vis_interval", "--visualize_every", dest="vis_interval", type=int, default=5000)
    run.add_argument("--log_interval", "--log_every", dest="log_interval", type=int, default=50)
    run.add_argument("--num_vis", type=int, default=4, help="samples per visualisation")
    run.add_argument("--no_progress", action="store_true", help="disable the tqdm progress bar")
    return p


def check_train_args(args: argparse.Namespace) -> None:
    """Raise ConfigError with one clear message for inconsistent arguments; resolve the deviation flags."""
    resolve_deviations(args, TRAIN_DEVIATIONS)
    if args.train_center_and_boundary == args.train_existence:
        raise ConfigError("specify exactly one of --train_center_and_boundary and --train_existence")
    if not args.imagenet_root:
        raise ConfigError("--imagenet_root is required (the folder holding train/<wnid>/<name>.JPEG)")
    for name in ("batch_size", "max_iters", "image_size", "ckpt_interval", "vis_interval", "log_interval"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be >= 1")
    if not 0 < args.random_crop_scale_min <= args.random_crop_scale_max <= 1:
        raise ConfigError("need 0 < --random_crop_scale_min <= --random_crop_scale_max <= 1")
    if args.num_workers < 0:
        raise ConfigError("--num_workers must be >= 0")
    if args.keep_checkpoints < -1:
        raise ConfigError("--keep_checkpoints must be >= 0, or -1 to keep every periodic checkpoint")


def task_name(args: argparse.Namespace) -> str:
    return "existence" if args.train_existence else "center_boundary"


def default_run_name(args: argparse.Namespace) -> str:
    arch = args.existence_arch if args.train_existence else args.backbone_type
    return f"{task_name(args)}_{arch}"
