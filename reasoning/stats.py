"""Cost statistics kept outside the algorithm: crops evaluated per model and time spent predicting.

`CountingPredictor` wraps any `Predictor`; `since(snapshot)` gives one image's cost; `summarise_stats`
averages the per-image statistics of a finished job (reasoning_stats.json); `LeastWorkReasoner` records
the fewest evaluations a search could have made (the lower bound the benchmarks compare with).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from reasoning.algorithm import Discovery, Reasoner
from reasoning.boxes import large_boxes
from reasoning.crops import pixel_boxes
from reasoning.predict import EXISTENCE, FIELDS, SDF, Prediction, Predictor, synchronize

MODEL_OF = {FIELDS: "objectness", SDF: "objectness", EXISTENCE: "existence"}


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
        for model in sorted({MODEL_OF[kind] for kind in want}):
            self.counts[model] += int(boxes.shape[0])
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


class LeastWorkReasoner(Reasoner):
    """A `Reasoner` that also records the least network work of its own search on each image.

    `least_work()` after `discover`: per model, the number of distinct pixel boxes that the search cannot do
    without, each predicted once: existence, every grid proposal and every new box large enough to reach
    boundary reasoning (area > proposal_area_thres); objectness, every such box that enters a center pass
    and every box alive in a boundary round (until it converges or is filtered).
    """

    def discover(self, image: torch.Tensor, image_id: int | str | None = None) -> Discovery:
        self._need: dict[str, set] = {"objectness": set(), "existence": set()}
        return super().discover(image, image_id)

    def least_work(self) -> dict[str, int]:
        return {kind: len(boxes) for kind, boxes in self._need.items()}

    def _note(self, kind: str, image: torch.Tensor, boxes: torch.Tensor) -> None:
        _, height, width = image.shape
        big = boxes[large_boxes(boxes, self.cfg.proposal_area_thres)]
        self._need[kind].update(map(tuple, pixel_boxes(big, height, width).tolist()))

    def existence_filter(self, image, boxes, image_id, seen=None):
        self._note("existence", image, boxes)
        return super().existence_filter(image, boxes, image_id, seen)

    def center_reasoning(self, image, boxes, image_id, cache=None, with_new=True, failed=None):
        self._note("objectness", image, boxes)
        return super().center_reasoning(image, boxes, image_id, cache, with_new, failed)

    def _boundary_fields(self, image, pix, image_id, cache):
        self._need["objectness"].update(map(tuple, pix.tolist()))
        return super()._boundary_fields(image, pix, image_id, cache)
