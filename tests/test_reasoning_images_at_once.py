"""`--images_at_once N`: several images' searches share network calls and give the same results."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from reasoning.cli import main_reasoning, main_scoring
from reasoning.oracle import OraclePredictor
from reasoning.predict import FIELDS, Predictor
from reasoning.shared_calls import SharedCalls
from utils.io import DataError, load_json

FIXTURE = Path(__file__).parent / "fixtures" / "original_reasoning"
SCENES = (FIXTURE / "gt.json", FIXTURE / "images")


class CallLog(Predictor):
    """Oracle that records the images of each predict_many call (and fails on image id `bad`)."""

    def __init__(self, inner: OraclePredictor, bad=None):
        super().__init__(inner.device)
        self.inner, self.bad, self.calls = inner, bad, []
        self.size = inner.size

    def predict(self, image, boxes, want, image_id=None):
        if image_id == self.bad:
            raise DataError(f"image {image_id}: broken on purpose")
        return self.inner.predict(image, boxes, want, image_id)

    def predict_many(self, requests, want):
        self.calls.append(([r.image_id for r in requests], threading.current_thread().name))
        return super().predict_many(requests, want)


def _run(tmp_path, scenes, name, extra):
    gt, images = scenes
    common = ["--oracle_annotations", str(gt), "--annotations", str(gt), "--image_dir", str(images),
              "--device", "cpu", "--num_workers", "0", "--start_idx", "0", "--end_idx", "4", "--analyze_cc"]
    disc = main_reasoning(common + ["--output_dir", str(tmp_path / name)] + extra)
    scored = main_scoring(common[:-1] + ["--raw_annotations_path", str(disc), "--output_dir",
                                         str(tmp_path / name / "scored")] + extra)
    return load_json(disc), load_json(scored), load_json(tmp_path / name / "reasoning_stats.json")


def test_images_at_once_gives_the_same_discoveries_scores_and_evaluation_counts(tmp_path):
    one = _run(tmp_path, SCENES, "one", [])
    three = _run(tmp_path, SCENES, "three", ["--images_at_once", "3"])  # groups of 3 and 1 images
    assert one[0] == three[0] and len(one[0]) == 4
    assert one[1] == three[1]
    for key in ("network_evaluations_per_image", "objectness_crops_per_image", "existence_crops_per_image"):
        assert one[2][key] == three[2][key]


def test_shared_calls_serve_every_waiting_search_in_one_call_and_isolate_a_failing_image(tmp_path):
    gt = load_json(SCENES[0])
    ids = [im["id"] for im in gt["images"]][:3]
    log = CallLog(OraclePredictor(gt), bad=ids[1])
    shared = SharedCalls(log)
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    box = torch.tensor([[0.0, 0.0, 40.0, 40.0]])

    def task(slot, image_id, calls):
        member, image = shared.member(slot), torch.zeros(3, *sizes[image_id])

        def run():
            return [member.predict(image, box, {FIELDS}, image_id)["sdf_maps"].shape for _ in range(calls)]
        return run

    out = shared.run([task(0, ids[0], 2), task(1, ids[1], 1), task(2, ids[2], 3)])
    assert out[0] == [torch.Size([1, 128, 128])] * 2 and len(out[2]) == 3
    assert isinstance(out[1], DataError) and "broken on purpose" in str(out[1])
    # call 1: all three at once (slot order); then the two still searching; then the last one
    assert [c[0] for c in log.calls] == [ids, [ids[0], ids[2]], [ids[2]]]
    assert shared.calls == 3
