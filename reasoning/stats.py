"""Cost statistics kept outside the algorithm: crops evaluated per model and time spent predicting.

`CountingPredictor` wraps any `Predictor`; `since(snapshot)` gives one image's cost; `summarise_stats`
averages the per-image statistics of a finished job (reasoning_stats.json).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from reasoning.predict import EXISTENCE, FIELDS, Prediction, Predictor, synchronize

MODEL_OF = {FIELDS: "objectness", EXISTENCE: "existence"}


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, int]
    seconds_predict: float
    clock: float


class CountingPredictor(Predictor):
    """`inner`'s predictions, counting the crops each model evaluates (`counts`) and the seconds spent in
    `predict` (`seconds`, CUDA synchronised)."""

    def __init__(self, inner: Predictor):
        super().__init__(inner.device)
        self.inner = inner
        self.size = inner.size
        self.counts: Counter = Counter()
        self.seconds = 0.0

    def predict(self, image: torch.Tensor, boxes: torch.Tensor, want: set[str],
                image_id: int | str | None = None) -> Prediction:
        start = time.perf_counter()
        out = self.inner.predict(image, boxes, want, image_id)
        synchronize(self.device)
        self.seconds += time.perf_counter() - start
        for kind in sorted(want):
            self.counts[MODEL_OF[kind]] += int(boxes.shape[0])
        return out

    def snapshot(self) -> Snapshot:
        return Snapshot(dict(self.counts), self.seconds, time.perf_counter())

    def since(self, before: Snapshot) -> dict:
        """Cost since `before`: crops per model, their sum, wall seconds and seconds in `predict`."""
        evaluations = {k: v - before.counts.get(k, 0) for k, v in self.counts.items()}
        return {"evaluations": evaluations, "network_evaluations": int(sum(evaluations.values())),
                "seconds": time.perf_counter() - before.clock,
                "seconds_predict": self.seconds - before.seconds_predict}


def summarise_stats(records: list[dict]) -> dict:
    """Means over the images of a reasoning job (records with `stats` and `boxes`)."""
    ok = [r["stats"] for r in records if "stats" in r]
    if not ok:
        return {"images": 0}
    return {"images": len(ok),
            "network_evaluations_per_image": float(np.mean([s["network_evaluations"] for s in ok])),
            "objectness_crops_per_image": float(np.mean([s["evaluations"].get("objectness", 0) for s in ok])),
            "existence_crops_per_image": float(np.mean([s["evaluations"].get("existence", 0) for s in ok])),
            "seconds_per_image": float(np.mean([s["seconds"] for s in ok])),
            "boxes_per_image": float(np.mean([len(r["boxes"]) for r in records if "boxes" in r]))}
