"""Optimiser, gradient clipping and learning-rate schedule with Detectron2's semantics.

- SGD (momentum, nesterov) with parameter groups: norm-layer parameters use ``SOLVER.WEIGHT_DECAY_NORM``,
  biases ``SOLVER.WEIGHT_DECAY_BIAS`` (None = ``WEIGHT_DECAY``) and ``BIAS_LR_FACTOR``, modules named in
  ``SOLVER.BASE_LR_MULTIPLIER_NAMES`` get ``BASE_LR_MULTIPLIER``.
- Gradient clipping per parameter tensor (``CLIP_TYPE`` "value": clamp each gradient entry; "norm": each
  tensor's gradient to norm <= ``CLIP_VALUE``) or over the whole model ("full_model").
- WarmupMultiStepLR: factor ``warmup(i) * GAMMA ** (#steps <= i)``; linear warm-up
  ``WARMUP_FACTOR * (1 - a) + a`` with ``a = i / WARMUP_ITERS`` (or constant ``WARMUP_FACTOR``); steps at or
  beyond ``MAX_ITER`` are dropped with a warning. WarmupCosineLR is supported too.
"""

from __future__ import annotations

import bisect
import logging
import math

import torch
from torch import nn

logger = logging.getLogger(__name__)

_NORM_TYPES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.InstanceNorm1d,
    nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm, nn.LocalResponseNorm,
)


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, _NORM_TYPES) or "FrozenBatchNorm" in type(module).__name__


def param_groups(model: nn.Module, base_lr: float, weight_decay: float, weight_decay_norm: float | None = 0.0,
                 weight_decay_bias: float | None = None, bias_lr_factor: float = 1.0,
                 lr_multiplier: float = 1.0, lr_multiplier_names: tuple[str, ...] = ()) -> list[dict]:
    """One group per parameter (like Detectron2) with its ``lr`` and ``weight_decay``; each group also keeps
    its ``initial_lr`` for the scheduler and its parameter ``name``."""
    if weight_decay_norm is None:
        weight_decay_norm = weight_decay
    if weight_decay_bias is None:
        weight_decay_bias = weight_decay
    groups, seen = [], set()
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            lr, wd = base_lr, weight_decay
            if _is_norm(module):
                wd = weight_decay_norm
            elif p_name == "bias":
                lr, wd = base_lr * bias_lr_factor, weight_decay_bias
            if any(n and n in mod_name for n in lr_multiplier_names):
                lr = lr * lr_multiplier
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            groups.append({"params": [p], "lr": lr, "initial_lr": lr, "weight_decay": wd, "name": full})
    return groups


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    s = cfg.SOLVER
    groups = param_groups(model, s.BASE_LR, s.WEIGHT_DECAY, s.WEIGHT_DECAY_NORM, s.WEIGHT_DECAY_BIAS,
                          s.BIAS_LR_FACTOR, float(s.BASE_LR_MULTIPLIER), tuple(s.BASE_LR_MULTIPLIER_NAMES))
    return torch.optim.SGD(groups, lr=s.BASE_LR, momentum=s.MOMENTUM, nesterov=s.NESTEROV)


def clip_gradients(params: list[torch.nn.Parameter], clip_type: str, clip_value: float,
                   norm_type: float = 2.0) -> None:
    """Clip gradients in place: per tensor ("value" / "norm") or jointly ("full_model")."""
    with_grad = [p for p in params if p.grad is not None]
    if clip_type == "value":
        for p in with_grad:
            p.grad.clamp_(-clip_value, clip_value)
    elif clip_type == "norm":
        for p in with_grad:
            torch.nn.utils.clip_grad_norm_(p, clip_value, norm_type)
    elif clip_type == "full_model":
        torch.nn.utils.clip_grad_norm_(with_grad, clip_value, norm_type)
    else:
        raise ValueError(f"SOLVER.CLIP_GRADIENTS.CLIP_TYPE must be value, norm or full_model, "
                         f"got {clip_type!r}")


def make_gradient_clipper(cfg):
    """A callable ``clip(params)`` when ``SOLVER.CLIP_GRADIENTS.ENABLED``, else None."""
    c = cfg.SOLVER.CLIP_GRADIENTS
    if not c.ENABLED:
        return None
    clip_type, value, norm_type = c.CLIP_TYPE, float(c.CLIP_VALUE), float(c.NORM_TYPE)
    if clip_type not in ("value", "norm", "full_model"):
        raise ValueError(f"SOLVER.CLIP_GRADIENTS.CLIP_TYPE must be value, norm or full_model, "
                         f"got {clip_type!r}")
    return lambda params: clip_gradients(params, clip_type, value, norm_type)


def warmup_factor(it: int, method: str, warmup_iters: int, warmup_factor: float) -> float:
    if it >= warmup_iters:
        return 1.0
    if method == "constant":
        return warmup_factor
    if method == "linear":
        a = it / warmup_iters
        return warmup_factor * (1 - a) + a
    raise ValueError(f"SOLVER.WARMUP_METHOD must be linear or constant, got {method!r}")


class WarmupLR(torch.optim.lr_scheduler.LRScheduler):
    """lr_i = initial_lr * factor(i); ``step()`` is called once per iteration after ``optimizer.step()``."""

    def __init__(self, optimizer, name: str, max_iter: int, steps: tuple[int, ...] = (), gamma: float = 0.1,
                 warmup_factor: float = 0.001, warmup_iters: int = 1000, warmup_method: str = "linear",
                 end_lr_ratio: float = 0.0, last_epoch: int = -1):
        if name not in ("WarmupMultiStepLR", "WarmupCosineLR"):
            raise ValueError(f"SOLVER.LR_SCHEDULER_NAME must be WarmupMultiStepLR or WarmupCosineLR, "
                             f"got {name!r}")
        kept = sorted(int(s) for s in steps if s < max_iter)
        if len(kept) != len(steps):
            logger.warning(f"SOLVER.STEPS {tuple(steps)} contains steps >= MAX_ITER {max_iter}; "
                           "they are ignored")
        self.name, self.max_iter, self.steps, self.gamma = name, max_iter, kept, gamma
        self.warmup = (warmup_factor, warmup_iters, warmup_method)
        self.end_lr_ratio = end_lr_ratio
        super().__init__(optimizer, last_epoch)

    def factor(self, it: int) -> float:
        wf, wi, wm = self.warmup
        w = warmup_factor(it, wm, wi, wf)
        if self.name == "WarmupMultiStepLR":
            return w * self.gamma ** bisect.bisect_right(self.steps, it)
        cos = 0.5 * (1 + math.cos(math.pi * min(it, self.max_iter) / self.max_iter))
        return w * (self.end_lr_ratio + (1 - self.end_lr_ratio) * cos)

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [g["initial_lr"] * f for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()


def build_lr_scheduler(cfg, optimizer) -> WarmupLR:
    s = cfg.SOLVER
    return WarmupLR(optimizer, s.LR_SCHEDULER_NAME, int(s.MAX_ITER), tuple(s.STEPS), float(s.GAMMA),
                    float(s.WARMUP_FACTOR), int(s.WARMUP_ITERS), s.WARMUP_METHOD,
                    float(s.BASE_LR_END) / float(s.BASE_LR) if s.BASE_LR else 0.0)
