"""Command lines of stage 1, one typed field per flag (see utils/config.py): `train_objectness_net.py`
(`Stage1Config`) and `eval_objectness_net.py` (`EvalConfig`, whose shared settings are Stage1Config's).

The original README's flags plus data roots and run control. The network fields (backbone, boundary-field
activation, background distance) are `models.objectness_net.ObjectnessConfig`'s, defined there once for the
constructor and this command line.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Literal

from datasets.existence import NEGATIVE_RULES, POSITIVE_RULES
from datasets.objectness_targets import MASK_RESIZE_MODES
from models.backbones.weights import training_weights
from models.objectness_net import EXISTENCE_ARCHS, ObjectnessConfig
from training.checkpointing import RESUME_HELP
from utils.config import (
    add_arguments,
    add_original_switch,
    deviation_fields,
    from_namespace,
    option,
    same_option,
)
from utils.runtime_config import runtime_option

DATASETS = ("ImageNet_votecut_top1_Dataset",)
TASK, DATA, MODEL, LOSSES = "what to train (exactly one)", "data", "model", "losses"
DEVIATIONS = "deviations of the data from the original code"
OPTIMISATION, RUN = "optimisation", "run control"


class ConfigError(ValueError):
    """A user error in the arguments or inputs of a run, reported as one line."""


@dataclass(frozen=True)
class Stage1Config(ObjectnessConfig):
    """Everything a stage-1 training run is given; the fields inherited from ObjectnessConfig: the model's."""

    train_center_and_boundary: bool = option(False, "train the objectness network", group=TASK)
    train_existence: bool = option(False, "train the existence network", group=TASK)

    dataset: str = option(DATASETS[0], "training data: ImageNet images with VoteCut top-1 masks", group=DATA,
                          choices=DATASETS)
    imagenet_root: str | None = option(None, "folder holding train/<wnid>/<name>.JPEG (required)", group=DATA)
    mask_root: str | None = option(
        None, "VoteCut top-1 masks <wnid>/<name>.png (default: <imagenet_root>/masks_top1_single_component)",
        group=DATA)
    votecut_json: str | None = option(
        None, "VoteCut COCO JSON: the union of an image's masks defines the background of existence "
        "negatives (default: the top-1 mask)", group=DATA)
    full_mask_root: str | None = option(
        None, "PNG union masks <wnid>/<name>.png of all VoteCut masks per image (existence negatives; "
        "preferred over --votecut_json when given)", group=DATA)
    crop_size: int = option(
        128, "side of the training crops; stored in the checkpoint as `crop_size` (read back with "
        "models.checkpoint.crop_size_from_checkpoint), the size at which reasoning and scoring then feed "
        "crops to the network", aliases=("--image_size",), group=DATA, min=8)
    random_crop_scale_min: float = option(0.08, "smallest random crop, as a fraction of the image area",
                                          group=DATA, gt=0, max=1)
    random_crop_scale_max: float = option(1.0, "largest random crop, as a fraction of the image area",
                                          group=DATA, gt=0, max=1)
    num_workers: int = runtime_option("num_workers", "DataLoader worker processes per rank", default=4,
                                      group=DATA)
    eval_imagenet_root: str | None = option(
        None, "held-out folder train/<wnid>/<name>.JPEG (masks under it, as for --imagenet_root): validated "
        "every --evaluate_every iterations, and the folder --eval_only evaluates; unset: no validation",
        group=DATA)

    mask_resize: str = option(
        "nearest_exact", "Nearest-neighbour rule of the objectness mask resizes.", group=DEVIATIONS,
        choices=MASK_RESIZE_MODES, original="nearest",
        why="pixel-center nearest samples the mask where the bilinear image/distance resize samples, so the "
        "mask, its distance and its center line up; the original's torch nearest shifts the mask by about "
        "half an output pixel towards the bottom-right.")
    existence_negatives: str = option(
        "mask_free", "Background squares of the existence negatives.", group=DEVIATIONS,
        choices=NEGATIVE_RULES, original="original",
        why="the original's square (bounding square of the largest background disc) usually holds object "
        "pixels in its corners, so a negative may show part of an object; ours shrinks it until it holds "
        "none.")
    existence_positive_rule: str = option(
        "any_pixel", "When a random crop is labelled 1.", group=DEVIATIONS, choices=POSITIVE_RULES,
        original="resized_sum",
        why="counting the object's pixels at the image's resolution is exact; the original sums the "
        "bilinearly resized crop mask, so a sliver under one output pixel is labelled empty although the "
        "crop shows part of the object.")

    backbone_weights: str | None = option(
        None, "initial backbone weights: a local file, `packaged` (efficientnet_lite0: the pip package's "
        "ImageNet weights) or `none` (random init). Unset: dpt_large / dpt_hybrid start, as in the original, "
        "from timm's ImageNet vit_large_patch16_384 / vit_base_r50_s16_384 weights read from "
        "weights/<timm name>.safetensors or .pth (training stops, saying how to get the file, when it is "
        "missing); the other backbones start random; the existence network starts random, as the "
        "original's torchvision resnet50(pretrained=False), unless a file is given", group=MODEL)
    existence_arch: str = option(EXISTENCE_ARCHS[0], "classifier of the existence network", group=MODEL,
                                 choices=EXISTENCE_ARCHS)

    center_field_loss_type: Literal["l2", "l1"] = option("l2", "center-field regression loss", group=LOSSES)
    sdf_loss_type: Literal["l1", "l2"] = option("l1", "boundary-field regression loss", group=LOSSES)
    use_sdf_gradient_loss: bool = option(False, "add the boundary-field gradient loss", group=LOSSES)
    use_sdf_binary_mask_loss: bool = option(False, "add the boundary-field binary mask loss", group=LOSSES)

    optimizer: Literal["adam", "sgd"] = option("adam", "adam, or sgd (momentum 0.9, weight decay 5e-5)",
                                               group=OPTIMISATION)
    learning_rate: float = option(1e-4, "initial learning rate", group=OPTIMISATION, gt=0)
    lr_scheduler_gamma: float = option(1.0, "MultiStepLR decay factor", group=OPTIMISATION, gt=0)
    lr_milestones: list[int] = option([10000, 20000], "MultiStepLR milestones (iterations)",
                                      aliases=("--lr_scheduler_milestones",), group=OPTIMISATION, min=0)
    batch_size: int = option(16, "per process (per GPU under torchrun)", group=OPTIMISATION, min=1)
    max_iters: int = option(
        500000, "training iterations", aliases=("--train_iter",), group=OPTIMISATION, min=1)
    seed: int = runtime_option("seed", "of the weights' initialisation and of the data stream",
                               group=OPTIMISATION)
    device: str | None = runtime_option("device", "default: cuda when available", group=OPTIMISATION)
    gpu_index: int | None = option(None, "the original's GPU flag: same as --device cuda:INDEX",
                                   group=OPTIMISATION)
    lr_scheduler_type: str = option(
        "multi_step_lr", "the original's scheduler flag: multi_step_lr (MultiStepLR over --lr_milestones "
        "with --lr_scheduler_gamma); its other value, exponential_lr, is refused: the original built "
        "ExponentialLR() without a gamma, which cannot run", group=OPTIMISATION,
        choices=("multi_step_lr", "exponential_lr"))
    ema_lr: float | None = option(
        None, "the original's flag, refused when given: the original parses it but never reads it (its "
        "training has no weight EMA), so there is no behaviour to reproduce", group=OPTIMISATION)
    amp: bool = option(False, "mixed precision on CUDA (see --amp_dtype)", group=OPTIMISATION)
    amp_dtype: Literal["bf16", "fp16"] = option("bf16", "mixed-precision type", group=OPTIMISATION)

    run_name: str | None = option(None, "default: <task>_<backbone or existence arch>", group=RUN)
    output_dir: str | None = runtime_option("output_dir", "default: outputs/objectness/<run_name>", group=RUN)
    resume: str | None = option(None, RESUME_HELP, group=RUN, nargs="?", const="auto", metavar="auto|PATH")
    ckpt_interval: int = option(5000, "iterations between checkpoints", aliases=("--save_ckpt_every",),
                                group=RUN, min=1)
    keep_checkpoints: int = option(
        0, "periodic checkpoint_iter_<n>.pth files kept besides checkpoint_last.pth (older ones are "
        "deleted; 0 writes none); -1 keeps every one, as the original code did", group=RUN, min=-1)
    vis_interval: int = option(5000, "iterations between pictures", aliases=("--visualize_every",),
                               group=RUN, min=1)
    log_interval: int = option(50, "iterations per train_log.jsonl record", aliases=("--log_every",),
                               group=RUN, min=1)
    num_vis: int = option(4, "samples per visualisation", aliases=("--N_vis",), group=RUN, min=0)
    evaluate_every: int = option(
        5000, "iterations between validations on --eval_imagenet_root (existence: accuracy and BCE, as the "
        "original's evaluation; objectness: the center/boundary errors and mask IoU of "
        "eval_objectness_net.py on random crops); written to eval_log.jsonl and TensorBoard (val/...)",
        group=RUN, min=1)
    evaluate_loss_every: int | None = option(
        None, "the original's flag, refused when given: the original parses it but never reads it", group=RUN)
    eval_batch_size: int = option(16, "batch size of the validation", aliases=("--test_batch_size",),
                                  group=RUN, min=1)
    eval_only: bool = option(
        False, "the original's evaluation-only run (its --eval_mode): evaluate the --resume checkpoint on "
        "--eval_imagenet_root (as eval_objectness_net.py), write eval_<folder>.json next to it and stop",
        aliases=("--eval_mode",), group=RUN)
    no_progress: bool = option(False, "disable the tqdm progress bar", group=RUN)


TRAIN_DEVIATIONS = deviation_fields(Stage1Config)


@dataclass(frozen=True)
class EvalConfig:
    """What `eval_objectness_net.py` is given: a checkpoint, a held-out folder and the training's settings
    of the same name (their help and ranges are Stage1Config's)."""

    checkpoint: str | None = option(None, "checkpoint of train_objectness_net.py (or a released one)",
                                    required=True)
    imagenet_root: str | None = option(None, "held-out folder with train/<wnid>/<name>.JPEG", required=True)
    mask_root: str | None = same_option(Stage1Config, "mask_root", group="")
    votecut_json: str | None = same_option(Stage1Config, "votecut_json", group="")
    crop_size: int | None = same_option(
        Stage1Config, "crop_size", default=None, group="",
        help="side of the crops fed to the network (default: the checkpoint's `crop_size`, else 128)")
    batch_size: int = same_option(Stage1Config, "eval_batch_size", aliases=(), group="")
    seed: int = runtime_option("seed", "of the random crops / existence samples")
    samples_per_image: int = option(4, "existence: seeded draws per image", min=1)
    num_workers: int = runtime_option("num_workers", "DataLoader worker processes")
    device: str | None = same_option(Stage1Config, "device", group="")
    output_path: str | None = runtime_option(
        "output_path", "default: <checkpoint dir>/eval_<held-out folder name>.json",
        aliases=("--output_json",))


def build_train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train the unMORE stage-1 objectness network (center + boundary fields) or the existence "
        "network on ImageNet images with VoteCut top-1 masks.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    groups = {t: p.add_argument_group(t) for t in (TASK, DATA, DEVIATIONS, MODEL, LOSSES, OPTIMISATION, RUN)}
    add_original_switch(groups[DEVIATIONS])
    add_arguments(p, Stage1Config, groups)
    return p


def check_train_args(args: argparse.Namespace) -> Stage1Config:
    """The config of parsed arguments (deviations resolved); ConfigError (one line) if inconsistent."""
    cfg = from_namespace(Stage1Config, args)
    if cfg.gpu_index is not None:
        if cfg.device is not None:
            raise ConfigError("give --device or --gpu_index, not both")
        cfg = dataclasses.replace(cfg, device=f"cuda:{cfg.gpu_index}")
    if cfg.eval_only:
        if not cfg.resume or cfg.resume == "auto" or not cfg.eval_imagenet_root:
            raise ConfigError("--eval_only evaluates a checkpoint: give --resume PATH and "
                              "--eval_imagenet_root (the held-out folder)")
        return cfg
    if cfg.train_center_and_boundary == cfg.train_existence:
        raise ConfigError("specify exactly one of --train_center_and_boundary and --train_existence")
    if cfg.lr_scheduler_type != "multi_step_lr":
        raise ConfigError(f"--lr_scheduler_type {cfg.lr_scheduler_type}: the original built ExponentialLR() "
                          "without a gamma, which cannot run; multi_step_lr (the default) is the scheduler")
    for flag, what in (("ema_lr", "no weight EMA"), ("evaluate_loss_every", "no held-out loss")):
        if getattr(cfg, flag) is not None:
            raise ConfigError(f"--{flag}: the original code parses this flag but never reads it ({what}); "
                              "there is no behaviour to reproduce, so it is refused rather than ignored")
    if cfg.train_center_and_boundary and cfg.backbone_weights is None and cfg.resume in (None, "auto"):
        try:  # the original's ImageNet initialisation, or a stop in seconds saying how to get the file
            cfg = dataclasses.replace(cfg, backbone_weights=training_weights(None, cfg.backbone_type))
        except FileNotFoundError as e:
            raise ConfigError(str(e)) from None
    if not cfg.imagenet_root:
        raise ConfigError("--imagenet_root is required (the folder holding train/<wnid>/<name>.JPEG)")
    if cfg.random_crop_scale_min > cfg.random_crop_scale_max:  # each one's range is checked by its option
        raise ConfigError("need --random_crop_scale_min <= --random_crop_scale_max")
    return cfg

