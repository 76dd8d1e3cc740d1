"""PreciseBN: replace BatchNorm running statistics by their true average over many training batches.

With momentum 1 every forward pass overwrites a BN layer's running mean/var by the current batch statistics
(synchronised over processes for SyncBN); averaging those over ``num_iter`` batches gives the population
statistics that the exponential moving average only approximates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import torch
from torch import nn

logger = logging.getLogger(__name__)


def bn_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]


@torch.no_grad()
def update_bn_stats(model: nn.Module, batches: Iterable, num_iter: int,
                    forward: Callable[[nn.Module, object], object] | None = None) -> int:
    """Run ``num_iter`` batches through ``model`` (in training mode) and set every BN layer's running
    mean/var to the average of the per-batch statistics. Returns the number of batches used."""
    layers = bn_layers(model)
    if not layers:
        return 0
    forward = forward or (lambda m, b: m(b))
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.momentum = 1.0
    means = [torch.zeros_like(m.running_mean) for m in layers]
    variances = [torch.zeros_like(m.running_var) for m in layers]
    n = 0
    try:
        for batch in batches:
            if n >= num_iter:
                break
            forward(model, batch)
            n += 1
            for i, m in enumerate(layers):
                means[i] += (m.running_mean - means[i]) / n
                variances[i] += (m.running_var - variances[i]) / n
    finally:
        for m, mom in zip(layers, momenta):
            m.momentum = mom
    if n == 0:
        return 0
    if n < num_iter:
        logger.warning(f"PreciseBN: data ran out after {n} of {num_iter} batches")
    for m, mean, var in zip(layers, means, variances):
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
    return n
