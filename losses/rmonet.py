"""Loss terms of R-MONet (paper eq. 3) and MONet: mixture NLL, latent KL and mask KL.

Every term is summed over pixels/latents/components of an image and averaged over the batch.
"""

from __future__ import annotations

import math

import torch


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
