"""Cost per network evaluation: the main job's reasoning + scoring with each predictor set-up, side by side.

One process, the same networks and scenes for every variant; per scene the variants run in turn (the order
rotates from scene to scene and from repeat to repeat), each doing what `object_reasoning.py --analyze_cc`
and `object_scoring.py` do for one image: `Reasoner.discover` and `score_boxes`. Variants (`--variants`):
- `before`: the code before the per-evaluation work: the networks as trained (no folding), 256 crops per
  network call (the old default), both objectness heads run in boundary rounds (they need the boundary map
  only) and the erosion of the center check as the 25-px max-pool it was (`maxpool_erode` below);
- `exact`: what changed without touching a number: boundary rounds run the boundary head alone, the erosion
  by running sums (identical masks); networks as trained, 256 crops per call;
- `batch`: `exact` with `--batch_size auto` (the CPU batch, `reasoning.predict.CPU_BATCH`);
- `fold`: `exact` with `--fold_batchnorm` (BatchNorm folded, linear boundary head collapsed, channels-last
  on a CPU), 256 crops per call;
- `after`: today's defaults (`exact` + `--fold_batchnorm` + `--batch_size auto`).
Every variant's boxes, boundary scores and scored results are compared with the first variant's (same count,
largest difference of a box coordinate and of a score) and its network evaluations counted. Prints seconds
per scene (median over repeats of the mean over scenes), the per-repeat ratio to the first variant (median)
and the agreement.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_inference.py \\
        --objectness_resume outputs/main/center_boundary/checkpoint_last.pth \\
        --binary_classifier_resume outputs/main/existence/checkpoint_last.pth \\
        --image_dir data/synthetic_main/scenes/val \\
        --annotations data/synthetic_main/scenes/annotations/val_cls_agnostic.json --num_images 6

Without checkpoints the main job's architectures (EfficientNet-Lite0 objectness network with 64 px crops and
EfficientNet-Lite0 existence network) are built with random weights and, without `--image_dir`, synthetic
scenes are generated (random networks find few objects: use the trained ones for realistic numbers).
"""

from __future__ import annotations

import argparse
import runpy
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from reasoning import fields  # noqa: E402
from reasoning.algorithm import Reasoner, ReasoningConfig  # noqa: E402
from reasoning.images import list_images  # noqa: E402
from reasoning.predict import FIELDS, SDF, NetworkPredictor, Predictor  # noqa: E402
from reasoning.scoring import score_boxes  # noqa: E402
from reasoning.stats import CountingPredictor  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.io import atomic_write_json, load_image_rgb  # noqa: E402

# predictor settings, and whether the run reproduces the old code's both-heads boundary rounds and erosion
VARIANTS = {
    "before": ({"batch_size": 256, "fold_batchnorm": False}, True),
    "exact": ({"batch_size": 256, "fold_batchnorm": False}, False),
    "batch": ({"batch_size": "auto", "fold_batchnorm": False}, False),
    "fold": ({"batch_size": 256, "fold_batchnorm": True}, False),
    "after": ({"batch_size": "auto", "fold_batchnorm": True}, False),
}


def maxpool_erode(masks: torch.Tensor, kernel_size: int = 9, rounds: int = 3) -> torch.Tensor:
    """The erosion as it was before `reasoning.fields.erode` used running sums (same masks, slower)."""
    size = rounds * (kernel_size - 1) + 1
    pad = size // 2
    x = F.pad((~masks).to(torch.float32)[:, None], (pad, pad, pad, pad), value=1.0)
    x = F.max_pool2d(F.max_pool2d(x, (size, 1), stride=1), (1, size), stride=1)
    return x[:, 0] < 0.5


class BothHeads(Predictor):
    """Asks `inner` for both objectness outputs where the boundary map alone is wanted (as the old code)."""

    def __init__(self, inner: Predictor):
        super().__init__(inner.device)
        self.inner, self.size = inner, inner.size

    def predict(self, image, boxes, want, image_id=None):
        return self.inner.predict(image, boxes, (want - {SDF}) | {FIELDS} if SDF in want else want, image_id)


@contextmanager
def old_erosion(active: bool):
    """Within it (when `active`) the center check erodes with `maxpool_erode`."""
    new = fields.erode
    fields.erode = maxpool_erode if active else new
    try:
        yield
    finally:
        fields.erode = new


def load_networks(args) -> tuple[torch.nn.Module, torch.nn.Module, int]:
    """(objectness, existence, crop size): from the checkpoints, else the main job's architectures."""
    from models.checkpoint import (
        build_existence_net_from_checkpoint,
        build_objectness_net_from_checkpoint,
        crop_size_from_checkpoint,
        load_checkpoint,
    )
    from models.objectness_net import ExistenceNet, ObjectnessNet

    torch.manual_seed(0)
    if args.objectness_resume:
        ckpt = load_checkpoint(args.objectness_resume, "center_boundary_model")
        objectness = build_objectness_net_from_checkpoint(args.objectness_resume, ckpt=ckpt)
        crop = crop_size_from_checkpoint(ckpt)
    else:
        objectness = ObjectnessNet(backbone_type="efficientnet_lite0", sdf_activation="tanh", use_bg_sdf=True)
        crop = 64
    if args.binary_classifier_resume:
        existence = build_existence_net_from_checkpoint(args.binary_classifier_resume)
    else:
        existence = ExistenceNet(arch="efficientnet_lite0")
    return objectness.eval().requires_grad_(False), existence.eval().requires_grad_(False), crop


def one_scene(reasoner: Reasoner, predictor: CountingPredictor, image_id, image: torch.Tensor) -> dict:
    """Reasoning + scoring of one image: its results and seconds."""
    start = time.perf_counter()
    found = reasoner.discover(image, image_id)
    scored, _ = score_boxes(predictor, image, found.boxes, image_id)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "boxes": found.boxes.clone(), "scores": found.scores.clone(),
            "scored": [(r["bbox"], r["score"]) for r in scored]}


def difference(a: dict, b: dict) -> tuple[float, float]:
    """Largest differences between two runs' results of one image: (box coordinates in px, of the discovered
    and the scored boxes; scores, boundary and scored); inf when the counts differ."""
    if a["boxes"].shape != b["boxes"].shape or len(a["scored"]) != len(b["scored"]):
        return float("inf"), float("inf")
    px, score = [0.0], [0.0]
    if a["boxes"].numel():
        px.append(float((a["boxes"] - b["boxes"]).abs().max()))
        score.append(float((a["scores"] - b["scores"]).abs().max()))
    for (box_a, score_a), (box_b, score_b) in zip(a["scored"], b["scored"]):
        px.append(max(abs(x - y) for x, y in zip(box_a, box_b)))
        score.append(abs(score_a - score_b))
    return max(px), max(score)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objectness_resume", default=None)
    p.add_argument("--binary_classifier_resume", default=None)
    p.add_argument("--image_dir", default=None, help="scenes (default: generated synthetic scenes)")
    p.add_argument("--annotations", default=None)
    p.add_argument("--num_images", type=int, default=4)
    p.add_argument("--first_image", type=int, default=0, help="index of the first scene used")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--variants", nargs="+", default=["before", "after"], choices=list(VARIANTS),
                   help="the first is the reference of ratios and agreement")
    p.add_argument("--json", default=None, help="also write the summary here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.image_dir is None:
            from datasets.synthetic import make_scene_dataset

            make_scene_dataset(tmp, "bench", args.first_image + args.num_images, 256, seed=0)
            records = list_images(Path(tmp) / "bench", Path(tmp) / "annotations" / "bench_cls_agnostic.json")
        else:
            records = list_images(args.image_dir, args.annotations)
        records = records[args.first_image:args.first_image + args.num_images]
        images = [(r.image_id, torch.from_numpy(load_image_rgb(r.path).copy()).permute(2, 0, 1).float() / 255)
                  for r in records]
    objectness, existence, crop = load_networks(args)
    cpu = torch.device("cpu")
    runs = {}
    for name in args.variants:
        settings, old = VARIANTS[name]
        network = NetworkPredictor(objectness, existence, cpu, precision="fp32", crop_mode="batched",
                                   input_size=crop, **settings)
        predictor = CountingPredictor(BothHeads(network) if old else network)
        runs[name] = (predictor, Reasoner(predictor, ReasoningConfig(analyze_cc=True)), network, old)
    names = list(args.variants)
    seconds = {name: [[] for _ in range(args.repeats)] for name in names}
    results: dict[str, list[dict]] = {name: [] for name in names}
    for name in names:  # warm-up (allocator, first calls), not counted
        with old_erosion(runs[name][3]):
            one_scene(runs[name][1], runs[name][0], *images[0])
        runs[name][0].counts.clear()
    for rep in range(args.repeats):
        for i, (image_id, image) in enumerate(images):
            shift = (rep + i) % len(names)
            for name in names[shift:] + names[:shift]:
                predictor, reasoner, _, old = runs[name]
                with old_erosion(old):
                    out = one_scene(reasoner, predictor, image_id, image)
                seconds[name][rep].append(out["seconds"])
                if rep == 0:
                    results[name].append(out)
    n = len(images)
    ref = names[0]
    rows = []
    for name in names:
        per_rep = [sum(s) for s in seconds[name]]
        ratios = [sum(r) / sum(s) for r, s in zip(seconds[ref], seconds[name])]
        counts = runs[name][0].counts
        rows.append({
            "variant": name, "batch": runs[name][2].batch_size,
            "folded BN": ",".join(str(v) for v in runs[name][2].folded.values()) or "-",
            "s/scene": statistics.median(per_rep) / n, f"x vs {ref}": statistics.median(ratios),
            "evaluations/scene": sum(counts.values()) / (n * args.repeats),
            "scored/scene": sum(len(r["scored"]) for r in results[name]) / n,
            "max box diff px": max(difference(a, b)[0] for a, b in zip(results[ref], results[name])),
            "max score diff": max(difference(a, b)[1] for a, b in zip(results[ref], results[name])),
        })
    print(f"\n{n} scenes, {args.repeats} repeats, {torch.get_num_threads()} thread(s), crops {crop} px; "
          f"per-repeat ratios to {ref}: " + "; ".join(
              f"{r['variant']} " + ", ".join(f"{sum(a) / sum(b):.2f}" for a, b in zip(seconds[ref],
                                                                                      seconds[r['variant']]))
              for r in rows[1:]) + "\n")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(v if isinstance(v, str) else f"{v:.3g}" for v in r.values()) + " |")
    if args.json:
        atomic_write_json(args.json, {"rows": rows, "seconds": seconds}, indent=1)


if __name__ == "__main__":
    run_cli(main)
