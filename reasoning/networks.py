"""What answers the crops: the frozen stage-1 networks from their checkpoints, or the ground-truth oracle."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from models.objectness_net import ObjectnessConfig
from reasoning.oracle import SDF_MODES, OraclePredictor
from reasoning.predict import CROP_MODES, PRECISIONS, NetworkPredictor, Predictor
from reasoning.runner import EXECUTION
from utils.config import DEVIATIONS_GROUP, cli_values, option, same_option
from utils.io import DataError
from utils.resume import file_identity
from utils.runtime_config import runtime_option

NETWORKS = "networks (stage-1 checkpoints) or the ground-truth oracle"
# settings naming input files: results are tied to the files' content, not their paths
FILE_FIELDS = ("objectness_resume", "binary_classifier_resume", "oracle_annotations")
# the architecture fields of ObjectnessConfig that reasoning reads from the checkpoint unless overridden
ARCHITECTURE_FIELDS = ("backbone_type", "sdf_activation", "use_bg_sdf")


def _checkpoint_override(name: str) -> Any:
    """`ObjectnessConfig`'s field `name` (help, choices) as a setting that overrides the architecture stored
    in the checkpoint; its default None follows the checkpoint (released ones: dpt_large, tanh, bg sdf)."""
    f = next(f for f in dataclasses.fields(ObjectnessConfig) if f.name == name)
    return same_option(ObjectnessConfig, name, default=None, help=f"{f.metadata['help']} (default: the "
                       "checkpoint's)", group=NETWORKS)


@dataclass
class PredictorConfig:
    """The predictor's settings; every one of them can change the results."""

    objectness_resume: str | None = option(None, "center/boundary network checkpoint", group=NETWORKS)
    binary_classifier_resume: str | None = option(None, "existence network checkpoint", group=NETWORKS)
    backbone_type: str | None = _checkpoint_override("backbone_type")
    sdf_activation: str | None = _checkpoint_override("sdf_activation")
    use_bg_sdf: bool | None = _checkpoint_override("use_bg_sdf")
    oracle_annotations: str | None = option(
        None, "COCO GT JSON: compute fields and existence from its masks instead of the networks",
        group=NETWORKS)
    oracle_sdf: str = option(
        SDF_MODES[0], "oracle boundary field of a crop: its dominant object only, or every object",
        group=NETWORKS, choices=SDF_MODES)
    precision: str = option("fp32", "autocast on CUDA", group=EXECUTION, choices=PRECISIONS)
    crop_size: int | None = option(
        None, "side of the crops fed to the networks (default: the training crop size stored in the "
        "objectness checkpoint, 128 for the released ones); the predicted fields are resampled to the "
        "128x128 grid on which the reasoning thresholds are defined", aliases=("--image_size",),
        group=EXECUTION, min=8)
    crop_mode: str = option(
        "batched", "batched: all crops in one roi_align call on the device; loop: slice + bilinear resize "
        "(no antialias) one crop at a time, the original code's exact crops.", original="loop",
        group=DEVIATIONS_GROUP, choices=CROP_MODES,
        why="the same non-antialiased bilinear resize as the original (torchvision 0.14 tensor Resize), cut "
            "for all boxes in one roi_align call; identical for crops of at least 128 px per side, for "
            "smaller crops the outermost half pixel reads the image just outside the crop instead of "
            "repeating the crop's edge.")
    fold_batchnorm: bool = option(
        True, "Run the networks with every BatchNorm folded into its convolution, each run of convolutions "
        "with no activation between them (the tanh boundary head) as one convolution and, on a CPU, with "
        "channels-last tensors.", original=False, group=DEVIATIONS_GROUP,
        why="the same networks' outputs up to float rounding (about 1e-6 on the main job's networks), each "
            "crop several times cheaper on a CPU; a threshold comparison that close to its threshold could "
            "in principle flip.")
    seed: int = runtime_option(
        "seed", "torch's, set before the networks are built (as the original; the networks come from "
        "checkpoints, so results do not depend on it)", group=EXECUTION)

    def settings(self) -> dict:
        """Flag values, input files by their content identity (what partial results are tied to)."""
        values = cli_values(self)
        for name in FILE_FIELDS:
            values[name] = file_identity(values[name])
        return values


def build_predictor(cfg: PredictorConfig, device: torch.device, batch_size: int) -> Predictor:
    """The oracle (with --oracle_annotations) or the two networks, frozen, on `device`.

    Raises ValueError without the checkpoints, DataError when their crop sizes disagree.
    """
    torch.manual_seed(cfg.seed)
    if cfg.oracle_annotations:
        return OraclePredictor(cfg.oracle_annotations, device, sdf_mode=cfg.oracle_sdf)
    from models.checkpoint import (
        build_existence_net_from_checkpoint,
        build_objectness_net_from_checkpoint,
        crop_size_from_checkpoint,
        load_checkpoint,
    )

    if not cfg.objectness_resume or not cfg.binary_classifier_resume:
        raise ValueError("give --objectness_resume and --binary_classifier_resume (stage-1 checkpoints), "
                         "or --oracle_annotations GT.json to reason with ground-truth fields")
    ckpt = load_checkpoint(cfg.objectness_resume, "center_boundary_model")
    ex_ckpt = load_checkpoint(cfg.binary_classifier_resume, "existence_model")
    input_size = cfg.crop_size or crop_size_from_checkpoint(ckpt)
    if cfg.crop_size is None and crop_size_from_checkpoint(ex_ckpt) != input_size:
        raise DataError(f"the objectness network was trained on {input_size}px crops but the existence "
                        f"network on {crop_size_from_checkpoint(ex_ckpt)}px ones; pass --crop_size to "
                        "choose the size both are fed")
    overrides = {name: getattr(cfg, name) for name in ARCHITECTURE_FIELDS}
    objectness = build_objectness_net_from_checkpoint(cfg.objectness_resume, "cpu", overrides=overrides,
                                                      ckpt=ckpt)
    existence = build_existence_net_from_checkpoint(cfg.binary_classifier_resume, "cpu", ckpt=ex_ckpt)
    for net in (objectness, existence):
        net.requires_grad_(False)
    return NetworkPredictor(objectness, existence, device, batch_size=batch_size, precision=cfg.precision,
                            crop_mode=cfg.crop_mode, input_size=input_size, fold_batchnorm=cfg.fold_batchnorm)
