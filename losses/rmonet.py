"""Loss of R-MONet (paper eq. 3) and MONet: mixture NLL, latent KL, mask KL and the RPN terms.

Every scene term is summed over pixels/latents/components of an image and averaged over the batch.
`scene_loss` weights the terms of a model output (`models.rmonet.model.SceneModel.forward`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from utils.config import option


@dataclass
class LossConfig:
    """`loss:` weights of eq. 3 (the NLL has weight 1). The YAML key of `lambda_` is `lambda`."""

    beta: float = option(0.5, "weight of the latent KL", min=0)
    gamma: float = option(0.5, "weight of the mask KL", min=0)
    delta: float = option(1.0, "weight of the RPN objectness loss (R-MONet)", min=0)
    lambda_: float = option(1.0, "weight of the RPN box loss (R-MONet; YAML key `lambda`)", min=0)
    rpn_objectness: Literal["image_sum", "anchor_mean"] = option(
        "image_sum", "RPN objectness BCE: image_sum = eq. 3's sum over each image's sampled anchors, mean "
        "over the images; anchor_mean = torchvision's mean over the sampled anchors (256x smaller)"
    )
    mask_kl_to_attention: bool = option(
        True, "the mask KL's gradient reaches the attention masks m_k (True, eq. 3) or only the VAE's mbar_k"
    )


def component_sigmas(
    num_slots: int, sigma_fg: float, sigma_bg: float, background_index: int = -1
) -> torch.Tensor:
    """[K] decoder scales: sigma_bg for the background component (`background_index`: -1 = last, as in
    R-MONet's eq. 7; 0 = first, as in MONet), sigma_fg for the K-1 others."""
    sigmas = torch.full((num_slots,), float(sigma_fg))
    sigmas[background_index] = sigma_bg
    return sigmas


def mixture_nll(
    x: torch.Tensor, log_masks: torch.Tensor, xbar: torch.Tensor, sigmas: torch.Tensor
) -> torch.Tensor:
    """-log sum_k m_k N(x; xbar_k, sigma_k^2 I) summed over pixels, mean over the batch.

    x [B,3,H,W], log_masks [B,K,H,W], xbar [B,K,3,H,W], sigmas [K]. The Gaussian is over the RGB vector of
    a pixel (product over channels inside the sum over components).
    """
    s = sigmas.to(x)[None, :, None, None, None]
    log_n = -0.5 * ((x[:, None] - xbar) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)
    log_px = torch.logsumexp(log_masks + log_n.sum(dim=2), dim=1)  # [B,H,W]
    return -log_px.flatten(1).sum(1).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) for mu/logvar [B, K, Z], summed over K and Z, mean over the batch."""
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return kl.flatten(1).sum(1).mean()


def mask_kl(log_masks: torch.Tensor, log_masks_decoded: torch.Tensor) -> torch.Tensor:
    """sum_k m_k (log m_k - log mbar_k) per pixel (KL of the attention masks from the decoded masks),
    summed over pixels, mean over the batch. Both inputs are log-probabilities over K [B,K,H,W]."""
    kl = (log_masks.exp() * (log_masks - log_masks_decoded)).sum(dim=1)
    return kl.flatten(1).sum(1).mean()


def rpn_losses(targets, objectness_reduction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Objectness BCE of the S sampled anchors and smooth-L1 (beta 1/9) box loss of the positives divided
    by S, as torchvision's RPN; `targets`: `models.rmonet.rpn.RPNTargets` of B images.

    `objectness_reduction` (`LossConfig.rpn_objectness`): "anchor_mean" (torchvision: mean over the S
    anchors) or "image_sum" (eq. 3: delta * sum_i L_cls, the sum over each image's sampled anchors, averaged
    over the B images). The box term is eq. 3's (1/N_reg) sum_i p_i L_reg with N_reg the sampled anchors of
    an image, averaged over the images, which is torchvision's value.
    """
    box = F.smooth_l1_loss(targets.deltas, targets.target_deltas, beta=1 / 9, reduction="sum")
    box = box / targets.labels.numel()
    if objectness_reduction == "image_sum":
        objectness = F.binary_cross_entropy_with_logits(targets.logits, targets.labels, reduction="sum")
        objectness = objectness / targets.num_images
    elif objectness_reduction == "anchor_mean":
        objectness = F.binary_cross_entropy_with_logits(targets.logits, targets.labels)
    else:
        raise ValueError(
            f"objectness_reduction must be image_sum or anchor_mean, got {objectness_reduction!r}"
        )
    return objectness, box


def scene_loss(
    out: Mapping, x: torch.Tensor, sigmas: torch.Tensor, cfg: LossConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted loss (scalar) and its terms of a model output `out` for images x [B,3,H,W] in [0,1].

    out: log_masks [B,K,H,W], xbar [B,K,3,H,W], log_masks_decoded [B,K,H,W], mu/logvar [B,K,Z] and, in
    R-MONet training, rpn_targets; sigmas [K]: the decoder scales. Computed in fp32.
    """
    log_m = out["log_masks"].float()
    terms = {
        "nll": mixture_nll(x.float(), log_m, out["xbar"], sigmas),
        "kl_z": gaussian_kl(out["mu"].float(), out["logvar"].float()),
        "kl_mask": mask_kl(log_m if cfg.mask_kl_to_attention else log_m.detach(), out["log_masks_decoded"]),
    }
    weights = {"nll": 1.0, "kl_z": cfg.beta, "kl_mask": cfg.gamma}
    if "rpn_targets" in out:
        terms["rpn_objectness"], terms["rpn_box"] = rpn_losses(out["rpn_targets"], cfg.rpn_objectness)
        weights.update(rpn_objectness=cfg.delta, rpn_box=cfg.lambda_)
    return sum(weights[name] * value for name, value in terms.items()), terms
