"""`model:` section of an R-MONet / MONet-baseline config: the only place its defaults are declared."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import option

from .pseudo_boxes import PseudoBoxConfig
from .rpn import RPNConfig

RMONET_VARIANTS = ("lite", "unet", "roialign")
MONET_VARIANTS = ("monet_fpn", "monet_fpn_unet")
# Keys only R-MONet reads: on a MONet baseline they must stay at their defaults.
RMONET_ONLY = (
    "roi_expand_ratio", "confine_masks", "alpha_bias_init", "rpn_backbone", "rpn", "pseudo_boxes"
)


@dataclass
class ModelConfig:
    variant: Literal["lite", "unet", "roialign", "monet_fpn", "monet_fpn_unet"] = option(
        "unet", f"segmentation head: R-MONet {RMONET_VARIANTS} or MONet baseline {MONET_VARIANTS}"
    )
    num_slots: int = option(6, "K: K-1 foreground slots + 1 background", min=2)
    z_dim: int = option(16, "latent size of the component VAE", min=1)
    sigma_fg: float = option(0.11, "decoder scale of the foreground components", gt=0)
    sigma_bg: float = option(0.09, "decoder scale of the background component", gt=0)
    fpn_channels: int = option(128, "channels of the FPN levels", min=1)
    head_channels: int = option(64, "width of the segmentation head", min=1)
    vae_channels: list[int] = option(
        [32, 32, 256], "VAE encoder conv, decoder conv and encoder MLP widths", min=1)
    backbone_weights: str | None = option(None, "local torchvision ResNet-18 weights; None: random init")
    backbone_norm: Literal["batch", "group"] = option(
        "batch", "ResNet-18 normalisation: batch (paper) or group (GroupNorm, 32 groups: small batches)"
    )
    input_norm: list[float] | None = option(None, "None or [mean, std] of the attention network's input")
    background_slot: Literal["first", "last"] | None = option(
        None, "slot with sigma_bg; None: the method's own (R-MONet last, MONet first)"
    )
    roi_expand_ratio: float = option(
        0.3, "R-MONet: ROI Masking expand ratio, on every side of the box", min=0)
    confine_masks: bool = option(True, "R-MONet: alpha_k only inside the enlarged ROI k (False: ablation)")
    alpha_bias_init: float | None = option(
        -2.0, "R-MONet: initial alpha-logit bias (alpha ~ 0.12); None: PyTorch's init"
    )
    rpn_backbone: Literal["shared", "separate"] = option(
        "shared", "R-MONet: the RPN reads the attention network's ResNet18+FPN (shared, the paper) or a "
        "ResNet18+FPN of its own that learns from the RPN loss only (separate: a deviation)"
    )
    rpn: RPNConfig = field(default_factory=RPNConfig)
    pseudo_boxes: PseudoBoxConfig = field(default_factory=PseudoBoxConfig)
