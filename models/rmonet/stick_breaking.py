"""Stick-breaking process turning K-1 foreground alphas into K masks that sum to one (paper eqs. 4-7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def stick_breaking(alpha: torch.Tensor) -> torch.Tensor:
    """alpha [B, K-1, H, W] in [0, 1] -> masks [B, K, H, W].

    s_0 = 1; m_k = s_{k-1} alpha_k and s_k = s_{k-1} (1 - alpha_k) for k < K; m_K = s_{K-1}.
    """
    scope = torch.ones_like(alpha[:, :1])
    masks = []
    for k in range(alpha.shape[1]):
        a = alpha[:, k : k + 1]
        masks.append(scope * a)
        scope = scope * (1.0 - a)
    masks.append(scope)
    return torch.cat(masks, dim=1)


def log_stick_breaking(logits: torch.Tensor) -> torch.Tensor:
    """Stable log of `stick_breaking(sigmoid(logits))`: logits [B, K-1, H, W] -> log m [B, K, H, W]."""
    log_alpha = F.logsigmoid(logits)
    log_one_minus = F.logsigmoid(-logits)
    # log s_{k-1} = sum_{j<k} log(1 - alpha_j): exclusive cumulative sum.
    log_scope = torch.cumsum(log_one_minus, dim=1)
    prev_scope = torch.cat([torch.zeros_like(log_scope[:, :1]), log_scope[:, :-1]], dim=1)
    return torch.cat([prev_scope + log_alpha, log_scope[:, -1:]], dim=1)
