"""Learning-rate schedule of the paper's tables: linear warm-up, then cosine annealing with warm restarts."""

from __future__ import annotations

import math


class WarmupCosineRestarts:
    """Multiplicative LR factor for `torch.optim.lr_scheduler.LambdaLR` (picklable, so it is checkpointed).

    Times are in `units` of `steps_per_unit` optimizer steps (an epoch = one pass over the training split,
    or 1 for iterations). Warm-up rises linearly to 1 over `warmup` units; afterwards the factor follows
    0.5 * (1 + cos(pi * t / cycle)) within each cycle of `cycle` units ("learning rate decay interval") and
    restarts at the peak, which is multiplied by `reset_decay` at every restart ("learning rate reset decay").
    """

    def __init__(self, steps_per_unit: float, warmup: float, cycle: float, reset_decay: float):
        if steps_per_unit <= 0 or cycle <= 0:
            raise ValueError("steps_per_unit and cycle must be positive")
        self.steps_per_unit, self.warmup = steps_per_unit, warmup
        self.cycle, self.reset_decay = cycle, reset_decay

    def __call__(self, step: int) -> float:
        t = step / self.steps_per_unit
        if t < self.warmup:
            return (step + 1) / (self.warmup * self.steps_per_unit + 1)
        tau = t - self.warmup
        restarts = math.floor(tau / self.cycle)
        pos = tau - restarts * self.cycle
        return (self.reset_decay**restarts) * 0.5 * (1.0 + math.cos(math.pi * pos / self.cycle))
