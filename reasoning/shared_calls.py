"""Several images searched at once, their crops sharing network calls (`--images_at_once N`).

Each image's search (`Reasoner.discover`, `score_boxes`) runs unchanged in its own thread with a `member`
predictor. A member's `predict` only queues its request and waits; when every running search waits, the
coordinating thread hands all queued requests to the real predictor's `predict_many` at once (one call per
kind of request), so the networks see the crops of up to N images per call instead of one image's. Requests
are served in slot order and a flush waits for every running search, so which crops share a call depends
only on the images, not on thread timing: results are reproducible run to run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

from reasoning.predict import Prediction, Predictor, Request


class SharedCalls:
    """Coordinates the member predictors of one group of concurrent searches over `predictor`."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self._cond = threading.Condition()
        self._pending: dict[int, tuple[Request, frozenset]] = {}
        self._answers: dict[int, Prediction | BaseException] = {}
        self._running = 0
        self.calls = 0  # predict_many calls made (one per flush and kind of request)

    def member(self, slot: int) -> Predictor:
        """The predictor that search number `slot` of a group must use."""
        return _Member(self, slot)

    def run(self, tasks: list[Callable[[], Any]]) -> list[Any]:
        """Run `tasks` (task i uses `member(i)`) concurrently; their results, or the exception each raised,
        in order."""
        results: list[Any] = [None] * len(tasks)

        def body(i: int) -> None:
            try:
                results[i] = tasks[i]()
            except BaseException as e:  # handed back to the caller, which decides what is fatal
                results[i] = e
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

        with self._cond:
            self._running = len(tasks)
        threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(len(tasks))]
        for t in threads:
            t.start()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._running == 0 or len(self._pending) == self._running)
                if self._running == 0:
                    break
                batch = sorted(self._pending.items())
                self._pending.clear()
            answers = self._serve(batch)
            with self._cond:
                self._answers.update(answers)
                self._cond.notify_all()
        for t in threads:
            t.join()
        return results

    def _serve(self, batch: list[tuple[int, tuple[Request, frozenset]]]) -> dict[int, Any]:
        """One `predict_many` call per distinct `want` among the queued requests."""
        answers: dict[int, Any] = {}
        for want in sorted({w for _, (_, w) in batch}, key=sorted):
            slots = [slot for slot, (_, w) in batch if w == want]
            requests = [req for _, (req, w) in batch if w == want]
            self.calls += 1
            try:
                outs: list[Any] = self.predictor.predict_many(requests, set(want))
            except Exception:  # find whose request fails: only that search gets the error
                outs = []
                for req in requests:
                    try:
                        outs.append(self.predictor.predict(req.image, req.boxes, set(want), req.image_id))
                    except Exception as e:
                        outs.append(e)
            answers.update(zip(slots, outs))
        return answers

    def _ask(self, slot: int, request: Request, want: set[str]) -> Prediction:
        with self._cond:
            self._pending[slot] = (request, frozenset(want))
            self._cond.notify_all()
            self._cond.wait_for(lambda: slot in self._answers)
            answer = self._answers.pop(slot)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def slot_predictors(predictor: Predictor, images_at_once: int) -> tuple[list[Predictor], SharedCalls | None]:
    """The predictor of each image searched at once: `predictor` itself for one image, else the members of
    a `SharedCalls` over it (returned too, for `Run.process`)."""
    if images_at_once <= 1:
        return [predictor], None
    shared = SharedCalls(predictor)
    return [shared.member(i) for i in range(images_at_once)], shared


class _Member(Predictor):
    """Queues each request with the group and returns its share of the shared call."""

    def __init__(self, shared: SharedCalls, slot: int):
        super().__init__(shared.predictor.device)
        self.size = shared.predictor.size
        self.shared, self.slot = shared, slot

    def predict(self, image: torch.Tensor, boxes: torch.Tensor, want: set[str],
                image_id: int | str | None = None) -> Prediction:
        return self.shared._ask(self.slot, Request(image, boxes, image_id), want)
