"""Benchmark of multi-object reasoning: batched on-device crops + prediction reuse vs the original loop.

Runs the same images through `Reasoner` twice with the same networks:
- `batched`: crops cut with roi_align in large batches, converged / already-seen pixel boxes never
  re-predicted (the defaults of object_reasoning.py);
- `original-style`: one crop at a time (slice + bilinear resize without antialias), 50 crops per network
  call, every box predicted again every round (what the original code does).
Neither merges near-duplicate boxes (`--merge_duplicates` is off by default: it can lose objects).
Prints a markdown table: images/s, crops/s, network evaluations per image and time per phase.

    OMP_NUM_THREADS=2 python benchmarks/bench_reasoning.py --num_images 3 --image_size 192 --n_round 10

The released configuration on a GPU (DPT-L objectness + ResNet-50 existence, random weights unless the
checkpoints are given; prints images/s, one image at a time and 8 images at once):

    python benchmarks/bench_reasoning.py --device cuda --backbone_type dpt_large --precision bf16 \
        --batch_size auto --skip_original --num_images 16 --images_at_once 8
"""

from __future__ import annotations

import argparse
import dataclasses
import runpy
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

import torch  # noqa: E402

from reasoning.algorithm import Reasoner, ReasoningConfig  # noqa: E402
from reasoning.images import list_images  # noqa: E402
from reasoning.predict import NetworkPredictor, batch_size_flag  # noqa: E402
from reasoning.shared_calls import slot_predictors  # noqa: E402
from reasoning.stats import CountingPredictor  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.device import resolve_device  # noqa: E402
from utils.io import load_image_rgb  # noqa: E402


def load_networks(args):
    from models.checkpoint import build_existence_net_from_checkpoint, build_objectness_net_from_checkpoint
    from models.objectness_net import RELEASED_OBJECTNESS, ExistenceNet, ObjectnessNet

    torch.manual_seed(0)
    if args.objectness_resume:
        objectness = build_objectness_net_from_checkpoint(args.objectness_resume)
    else:
        arch = dataclasses.replace(RELEASED_OBJECTNESS, backbone_type=args.backbone_type)
        objectness = ObjectnessNet.from_config(arch)
    if args.binary_classifier_resume:
        existence = build_existence_net_from_checkpoint(args.binary_classifier_resume)
    else:
        arch = args.existence_arch or ("resnet50" if args.backbone_type == "dpt_large" else "resnet18")
        existence = ExistenceNet(arch=arch)
    return objectness.eval().requires_grad_(False), existence.eval().requires_grad_(False)


def run(name, images, objectness, existence, device, args, batched: bool, images_at_once: int = 1) -> dict:
    network = NetworkPredictor(objectness, existence, device, batch_size=args.batch_size if batched else 50,
                               precision=args.precision,
                               crop_mode="batched" if batched else "loop", input_size=args.crop_size)
    cfg = ReasoningConfig(analyze_cc=True, n_round=args.n_round, max_sdf_thres=args.max_sdf_thres,
                          reuse_predictions=batched, merge_duplicates=False)
    slots, shared = slot_predictors(network, images_at_once)
    counters = [CountingPredictor(p) for p in slots]
    reasoners = [Reasoner(c, cfg) for c in counters]
    t0 = time.perf_counter()
    boxes = 0
    for start in range(0, len(images), len(reasoners)):
        group = images[start:start + len(reasoners)]
        tasks = [partial(r.discover, image.to(device), image_id)
                 for r, (image_id, image) in zip(reasoners, group)]
        found = shared.run(tasks) if shared is not None else [task() for task in tasks]
        for d in found:
            if isinstance(d, BaseException):
                raise d
            boxes += d.boxes.shape[0]
    total = time.perf_counter() - t0
    n = len(images)
    counts = sum((c.counts for c in counters), Counter())
    evals = sum(counts.values())
    crop, net = network.timer.seconds["crop"], network.timer.seconds["network"]
    return {"path": name, "batch": float(network.batch_size), "images/s": n / total, "crops/s": evals / total,
            "objectness crops/img": counts["objectness"] / n,
            "existence crops/img": counts["existence"] / n,
            "crop s/img": crop / n, "network s/img": net / n, "bookkeeping s/img": (total - crop - net) / n,
            "boxes/img": boxes / n}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image_dir", default=None, help="images to use (default: generated synthetic scenes)")
    p.add_argument("--annotations", default=None)
    p.add_argument("--num_images", type=int, default=3)
    p.add_argument("--image_size", type=int, default=192)
    p.add_argument("--n_round", type=int, default=10)
    p.add_argument("--max_sdf_thres", type=float, default=0.5,
                   help="lower it (e.g. -1) with random weights so boxes survive and move")
    p.add_argument("--backbone_type", default="resnet18")
    p.add_argument("--existence_arch", default=None,
                   help="default: resnet50 with dpt_large (the released pair), else resnet18")
    p.add_argument("--objectness_resume", default=None)
    p.add_argument("--binary_classifier_resume", default=None)
    p.add_argument("--batch_size", default=256, type=batch_size_flag,
                   help="crops per network call, or auto (by memory)")
    p.add_argument("--crop_size", type=int, default=128, help="side of the crops fed to the networks")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip_original", action="store_true")
    p.add_argument("--images_at_once", type=int, default=1,
                   help="also time ours with N images searched at once, their crops sharing network calls")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        if args.image_dir is None:
            from datasets.synthetic import make_scene_dataset

            make_scene_dataset(tmp, "bench", args.num_images, args.image_size, seed=0)
            records = list_images(Path(tmp) / "bench", Path(tmp) / "annotations" / "bench_cls_agnostic.json")
        else:
            records = list_images(args.image_dir, args.annotations)[: args.num_images]
        images = [(r.image_id, torch.from_numpy(load_image_rgb(r.path).copy()).permute(2, 0, 1).float() / 255)
                  for r in records]
    objectness, existence = load_networks(args)
    rows = [run("batched (ours)", images, objectness, existence, device, args, batched=True)]
    if args.images_at_once > 1:
        name = f"batched (ours), {args.images_at_once} images at once"
        rows.append(run(name, images, objectness, existence, device, args, batched=True,
                        images_at_once=args.images_at_once))
    if not args.skip_original:
        rows.append(run("original-style loop", images, objectness, existence, device, args, batched=False))
    keys = list(rows[0])
    print(f"\n{len(images)} images of about {args.image_size} px, {args.n_round} boundary rounds, "
          f"{args.backbone_type} objectness + {getattr(existence, 'arch', 'checkpoint')} existence on "
          f"{device}, {args.precision}, {args.crop_size} px crops, "
          f"{torch.get_num_threads()} threads\n")
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(v if isinstance(v, str) else f"{v:.3g}" for v in r.values()) + " |")


if __name__ == "__main__":
    run_cli(main)
