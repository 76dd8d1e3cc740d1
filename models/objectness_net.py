"""Stage-1 networks of unMORE: the objectness network (center + boundary fields) and the existence network.

`ObjectnessNet.from_config(RELEASED_OBJECTNESS)` (dpt_large, tanh, bg sdf) and `ExistenceNet()` have exactly
the `state_dict` layout of the released `center_boundary_model` / `existence_model` checkpoints, so
`net.load_state_dict(torch.load(ckpt)["model_state_dict"], strict=True)` works on them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from models.backbones import BACKBONE_SPECS, BACKBONE_TYPES, backbone_weight_target, build_backbone
from models.backbones.resnet_fpn import EFFICIENTNET_TIMM_NAMES
from models.backbones.weights import is_random_init, load_backbone_weights
from utils.config import option

log = logging.getLogger(__name__)

SDF_ACTIVATIONS = ("tanh", "sine", "relu", "none")


@dataclass(frozen=True)
class ObjectnessConfig:
    """Architecture of an `ObjectnessNet`: the one definition of its defaults (constructor, training flags).

    The defaults are the original training script's (linear boundary output, no background distance); the
    released center_boundary_model is `RELEASED_OBJECTNESS` (the original README's training command).
    """

    backbone_type: str = option("dpt_large", "backbone of the objectness network", group="model",
                                choices=BACKBONE_TYPES)
    sdf_activation: str = option("none", "output activation of the boundary field; none = linear output (the "
                                 "original's None is read as none)", group="model", choices=SDF_ACTIVATIONS)
    use_bg_sdf: bool = option(False, "negative background distance outside objects", group="model")
    head_channels: tuple[int, int] | None = option(
        None, "hidden widths of both heads (None: the backbone's)", cli=False)


    def __post_init__(self) -> None:
        if self.sdf_activation is None:  # the original code's spelling of a linear output
            object.__setattr__(self, "sdf_activation", "none")


RELEASED_OBJECTNESS = ObjectnessConfig(sdf_activation="tanh", use_bg_sdf=True)
_DEFAULT = ObjectnessConfig()


class Sine(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


class InputNormalisation(nn.Module):
    """(x - mean) / std per RGB channel, with mean/std in non-persistent buffers (not in the state dict)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.values = (tuple(mean), tuple(std))
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def center_field_head(in_ch: int, hidden: tuple[int, int] = (512, 1024)) -> nn.Sequential:
    """1x1 in->h0, ReLU, 3x3 h0->h0, ReLU, 1x1 h0->h1, ReLU, 1x1 h1->2: [B, in, H, W] -> [B, 2, H, W]."""
    h0, h1 = hidden
    return nn.Sequential(
        nn.Conv2d(in_ch, h0, 1), nn.ReLU(),
        nn.Conv2d(h0, h0, 3, padding=1), nn.ReLU(),
        nn.Conv2d(h0, h1, 1), nn.ReLU(),
        nn.Conv2d(h1, 2, 1),
    )  # fmt: skip


def boundary_field_head(
    in_ch: int, sdf_activation: str = "tanh", use_bg_sdf: bool = True, hidden: tuple[int, int] = (512, 1024)
) -> nn.Sequential:
    """Boundary (signed distance) field head: [B, in, H, W] -> [B, 1, H, W].

    With `use_bg_sdf` (targets in [-1, 1]):
    - `tanh`: four convs (1x1, 3x3, 1x1, 1x1) with no activation between them, then tanh -> (-1, 1);
      the released checkpoint's head.
    - `sine`: the same convs, then sin -> [-1, 1].
    - `none`: the same convs, unbounded linear output.
    - `relu`: ReLU between the convs, unbounded linear output (the activation is inside the head).
    Without `use_bg_sdf` (targets in [0, 1], background 0) the head has ReLUs between the convs and a
    linear output whatever `sdf_activation` says, as in the original code.
    """
    if sdf_activation not in SDF_ACTIVATIONS:
        raise ValueError(f"unknown sdf_activation {sdf_activation!r}; choose from {SDF_ACTIVATIONS}")
    h0, h1 = hidden
    convs = [
        nn.Conv2d(in_ch, h0, 1),
        nn.Conv2d(h0, h0, 3, padding=1),
        nn.Conv2d(h0, h1, 1),
        nn.Conv2d(h1, 1, 1),
    ]
    if not use_bg_sdf or sdf_activation == "relu":
        layers: list[nn.Module] = []
        for i, conv in enumerate(convs):
            layers += [conv, nn.ReLU()] if i < len(convs) - 1 else [conv]
        return nn.Sequential(*layers)
    final = {"tanh": [nn.Tanh()], "sine": [Sine()], "none": []}[sdf_activation]
    return nn.Sequential(*convs, *final)


class ObjectnessNet(nn.Module):
    """Predicts an object center field and an object boundary distance field for an image crop.

    forward(x): x [B, 3, H, W] RGB float in [0, 1] ->
    {"center_fields": [B, 2, H, W] (channel 0 row, 1 column), "sdf_maps": [B, 1, H, W]}.

    The defaults are `ObjectnessConfig`'s. backbone_type: one of `models.backbones.BACKBONE_TYPES` (dpt_large
    released; the small ones for CPU work).
    head_channels: hidden widths of both heads; default (512, 1024) for DPT backbones as released and
    (32, 64) for the small CPU backbones (the full-width heads cost ~100 GMAC per 128x128 crop).
    backbone_weights: local file with pretrained backbone weights (see models.backbones.weights); None or
    `none`: random initialisation (training picks the original's ImageNet file: weights.training_weights).
    """

    def __init__(
        self,
        backbone_type: str = _DEFAULT.backbone_type,
        sdf_activation: str | None = _DEFAULT.sdf_activation,  # None: the original's "none"
        use_bg_sdf: bool = _DEFAULT.use_bg_sdf,
        backbone_weights: str | os.PathLike | None = None,
        head_channels: tuple[int, int] | None = _DEFAULT.head_channels,
        logger: logging.Logger | None = None,
    ):
        super().__init__()
        if sdf_activation is None:
            sdf_activation = "none"
        self.backbone_type = backbone_type
        self.sdf_activation = sdf_activation
        self.use_bg_sdf = use_bg_sdf
        self.backbone, spec = build_backbone(backbone_type)
        self.head_channels = tuple(head_channels) if head_channels else spec.head_channels
        self.center_field_prediction_head = center_field_head(spec.feat_dim, self.head_channels)
        self.sdf_prediction_head = boundary_field_head(
            spec.feat_dim, sdf_activation, use_bg_sdf, self.head_channels
        )
        self.normalise = InputNormalisation(spec.mean, spec.std)
        logger = logger or log
        if not is_random_init(backbone_weights):
            target, ignore = backbone_weight_target(self.backbone)
            load_backbone_weights(target, backbone_weights, spec.weights_hint, ignore, logger, backbone_type)
        else:
            logger.info("%s backbone randomly initialised (no backbone weights)", backbone_type)

    @classmethod
    def from_config(cls, config: ObjectnessConfig, **kwargs) -> ObjectnessNet:
        """The network of `config` (or of any object with its fields, e.g. the training config)."""
        arch = {f.name: getattr(config, f.name) for f in dataclasses.fields(ObjectnessConfig)}
        return cls(**arch, **kwargs)

    HEADS = ("center_fields", "sdf_maps")

    def forward(self, x: torch.Tensor, heads: tuple[str, ...] = HEADS) -> dict[str, torch.Tensor]:
        """`heads`: the outputs to compute (default both; `("sdf_maps",)` skips the center head)."""
        feats = self.backbone(self.normalise(x))
        out = {}
        if "center_fields" in heads:
            out["center_fields"] = self.center_field_prediction_head(feats)
        if "sdf_maps" in heads:
            out["sdf_maps"] = self.sdf_prediction_head(feats)
        if feats.shape[-2:] != x.shape[-2:]:  # backbones with output stride 2: upsample the 3 output channels
            out = {k: F.interpolate(v, size=x.shape[-2:], mode="bilinear", align_corners=False)
                   for k, v in out.items()}
        return out

    def config(self) -> dict:
        """Constructor arguments needed to rebuild this network (saved with our checkpoints)."""
        return {
            "backbone_type": self.backbone_type,
            "sdf_activation": self.sdf_activation,
            "use_bg_sdf": self.use_bg_sdf,
            "head_channels": list(self.head_channels),
        }


EXISTENCE_ARCHS = ("resnet50", "resnet34", "resnet18", "efficientnet_lite0")  # the first: released, default


class ExistenceNet(nn.Module):
    """Says whether a crop holds an object: ImageNet classifier (1000-way output kept) -> Linear(1000, 1).

    Input [B, 3, 128, 128] RGB in [0, 1]. `forward` returns probabilities [B, 1] (sigmoid), `logits` the
    pre-sigmoid scores [B, 1] (use them with BCEWithLogitsLoss). `arch="resnet50"` is the released layout
    (torchvision ResNet fed unnormalised input, as trained); resnet18/34 are for CPU work;
    `efficientnet_lite0` (timm, input normalised with mean = std = 0.5) can start from the ImageNet
    weights of a pip package (`backbone_weights="packaged"`). Without `backbone_weights` the classifier is
    randomly initialised, as the original's `torchvision.models.resnet50(pretrained=False)`.
    """

    def __init__(
        self,
        arch: str = EXISTENCE_ARCHS[0],
        backbone_weights: str | os.PathLike | None = None,
        logger: logging.Logger | None = None,
    ):
        super().__init__()
        if arch not in EXISTENCE_ARCHS:
            raise ValueError(f"unknown existence arch {arch!r}; choose from {EXISTENCE_ARCHS}")
        self.arch = arch
        if arch in EFFICIENTNET_TIMM_NAMES:
            import timm

            self.classifier_backbone = timm.create_model(EFFICIENTNET_TIMM_NAMES[arch], pretrained=False)
            spec = BACKBONE_SPECS[arch]
            self.normalise = InputNormalisation(spec.mean, spec.std)
            what = spec.weights_hint
        else:
            self.classifier_backbone = getattr(torchvision.models, arch)(weights=None)
            self.normalise = nn.Identity()
            what = f"torchvision {arch} weights"
        self.binary_classification_head = nn.Linear(1000, 1)
        logger = logger or log
        if not is_random_init(backbone_weights):
            load_backbone_weights(self.classifier_backbone, backbone_weights, what, (), logger, arch)
        else:
            logger.info("existence %s backbone randomly initialised (no backbone weights)", arch)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.binary_classification_head(self.classifier_backbone(self.normalise(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def config(self) -> dict:
        return {"arch": self.arch}


__all__ = [
    "BACKBONE_TYPES",
    "RELEASED_OBJECTNESS",
    "SDF_ACTIVATIONS",
    "ExistenceNet",
    "ObjectnessConfig",
    "ObjectnessNet",
]
