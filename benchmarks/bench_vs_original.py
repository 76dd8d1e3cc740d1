"""Our object reasoning against the ORIGINAL unMORE code, side by side in one process on the same images.

Fetch the original yourself (it is never part of this repository), e.g.
`git clone https://github.com/vLAR-group/unMORE /tmp/unMORE`, then

    OMP_NUM_THREADS=1 python benchmarks/bench_vs_original.py --original_repo /tmp/unMORE

Both code paths get their fields and existence scores from one module: by default the ground-truth oracle
(`reasoning.oracle.OraclePredictor`, from the scenes' GT masks), which answers the original for exactly the
pixel boxes it crops; with `--networks random`, the same seeded random-weight objectness and existence
networks (`--backbone_type`, `--existence_arch`; the original gets its own 128 px crops, ours its
`--original_behaviour` loop crops or the default batched ones). `benchmarks/original_harness.py` lists the
harness-only shims and crash guards. Per
image, alternating which path runs first, three runs: the original code; ours with `--original_behaviour`;
ours with the defaults. Each is timed (wall seconds) and its network evaluations counted by kind; for our
runs the least work of their own search (`reasoning.stats.LeastWorkReasoner`) is recorded as well.
Agreement: the original-behaviour boxes must equal the original's (same count and order, within 1e-4 px);
recall and AP50 of the boxes against the GT boxes (the original outputs boxes only, in its NMS order, which is
used as their ranking, for ours with `--original_behaviour` too; the defaults rank by boundary score).
Images (`--sets`): the original-reasoning fixture scenes, generated synthetic scenes, and real photos
(`photos`: scikit-image's coins, coffee, astronaut and chelsea scaled to `--photo_side` px on the longer side,
answered from their pseudo ground truth, the fixtures of `benchmarks/photos.py` scaled with them).
Prints one row per image and a summary (totals and ratios; for our paths the seconds spent outside the
predictor per second inside it); `--json` also writes them.
"""

from __future__ import annotations

import argparse
import json
import runpy
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
runpy.run_path(str(ROOT / "_bootstrap.py"))  # repository root on sys.path

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.ops import box_iou  # noqa: E402

from benchmarks.original_harness import OriginalRun, load_original  # noqa: E402
from benchmarks.photos import photo_set  # noqa: E402
from reasoning.algorithm import ReasoningConfig  # noqa: E402
from reasoning.oracle import OraclePredictor  # noqa: E402
from reasoning.predict import NetworkPredictor, Predictor  # noqa: E402
from reasoning.stats import CountingPredictor, LeastWorkReasoner  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import deviation_fields  # noqa: E402
from utils.io import atomic_write_json, load_image_rgb, load_json, save_png  # noqa: E402
from utils.masks import xywh_to_xyxy  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "original_reasoning"
THRESHOLDS = ("class_score_thres", "center_score_max_thres", "analyze_cc", "max_sdf_thres",
              "max_shrink_threshold", "delta_ratio", "n_round", "proposal_area_thres")
PATHS = ("original", "ours --original_behaviour", "ours defaults")


def original_config(**thresholds) -> ReasoningConfig:
    """ReasoningConfig with every deviation at the original code's value."""
    original = {f.name: f.metadata["original"] for f in deviation_fields(ReasoningConfig)}
    return ReasoningConfig(**thresholds, **original)


def match_counts(boxes: np.ndarray, gt: np.ndarray, iou: float = 0.5) -> list[bool]:
    """Greedy one-to-one matching in the boxes' order: per box [K, 4], whether it takes a GT box [G, 4]."""
    if len(boxes) == 0 or len(gt) == 0:
        return [False] * len(boxes)
    ious = box_iou(torch.as_tensor(boxes, dtype=torch.float64), torch.as_tensor(gt, dtype=torch.float64))
    taken = torch.zeros(len(gt), dtype=torch.bool)
    hits = []
    for row in ious:
        row = torch.where(taken, torch.full_like(row, -1), row)
        j = int(row.argmax())
        hit = bool(row[j] >= iou)
        taken[j] |= hit
        hits.append(hit)
    return hits


def ap50(detections: list[tuple[np.ndarray, np.ndarray]], gts: list[np.ndarray]) -> tuple[float, float]:
    """(AP at IoU 0.5, recall) over images; detections per image (boxes [K, 4], scores [K]), all-point
    interpolated precision (VOC); within an image boxes are matched in descending score order."""
    scored, total = [], sum(len(g) for g in gts)
    for (boxes, scores), gt in zip(detections, gts):
        order = np.argsort(-scores, kind="stable")
        scored += list(zip(scores[order], match_counts(boxes[order], gt)))
    if total == 0:
        return 0.0, 0.0
    scored.sort(key=lambda t: -t[0])
    hits = np.array([h for _, h in scored], dtype=np.float64)
    tp = np.cumsum(hits)
    recall = tp / total
    precision = tp / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(hits) else precision
    prev = np.concatenate([[0.0], recall[:-1]])
    return float(np.sum((recall - prev) * envelope)), float(recall[-1]) if len(hits) else 0.0


def image_sets(args, tmp: Path) -> dict[str, tuple[Path, Path]]:
    sets = {}
    if "fixture" in args.sets:
        sets["fixture"] = (FIXTURE / "gt.json", FIXTURE / "images")
    if "synthetic" in args.sets and args.val_scenes > 0:
        from datasets.synthetic import make_scene_dataset

        make_scene_dataset(tmp / "scenes", "val", args.val_scenes, (256, 320), 0, "mixed", min_objects=2,
                           max_objects=6, size_jitter=0.1)
        sets["synthetic"] = (tmp / "scenes" / "annotations" / "val_cls_agnostic.json", tmp / "scenes" / "val")
    if "photos" in args.sets:
        gt, pixels = photo_set(args.photo_side)
        for name, rgb in pixels.items():
            save_png(tmp / "photos" / f"{name}.png", rgb)
        atomic_write_json(tmp / "photos_gt.json", gt)
        sets["photos"] = (tmp / "photos_gt.json", tmp / "photos")
    return sets


def run_ours(cfg: ReasoningConfig, predictor: Predictor, image: torch.Tensor, image_id) -> dict:
    counting = CountingPredictor(predictor)
    reasoner = LeastWorkReasoner(counting, cfg)
    start = time.perf_counter()
    d = reasoner.discover(image, image_id)
    seconds = time.perf_counter() - start
    return {"boxes": d.boxes.numpy(), "scores": d.scores.numpy(), "seconds": seconds,
            "predict_seconds": counting.seconds,
            "evaluations": {k: counting.counts[k] for k in ("objectness", "existence")},
            "bound": reasoner.least_work()}


def random_networks(args) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Seeded random-weight objectness (the released heads on `--backbone_type`) and existence networks."""
    import dataclasses

    from models.objectness_net import RELEASED_OBJECTNESS, ExistenceNet, ObjectnessNet

    torch.manual_seed(0)
    objectness = ObjectnessNet.from_config(dataclasses.replace(RELEASED_OBJECTNESS,
                                                               backbone_type=args.backbone_type))
    arch = args.existence_arch or ("resnet50" if args.backbone_type == "dpt_large" else "resnet18")
    existence = ExistenceNet(arch=arch)
    return objectness.eval().requires_grad_(False), existence.eval().requires_grad_(False)


def fmt_row(cells) -> str:
    return "| " + " | ".join(c if isinstance(c, str) else f"{c:.3g}" for c in cells) + " |"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--original_repo", required=True,
                   help="checkout (or bare git directory) of github.com/vLAR-group/unMORE")
    p.add_argument("--sets", nargs="+", default=["fixture", "synthetic"],
                   choices=["fixture", "synthetic", "photos"])
    p.add_argument("--val_scenes", type=int, default=4, help="synthetic 256x320 scenes to generate")
    p.add_argument("--photo_side", type=int, default=256, help="photos: longer side in px (fixtures: 512)")
    p.add_argument("--max_images", type=int, default=0, help="per set, 0 = all")
    p.add_argument("--n_round", type=int, default=50)
    p.add_argument("--no_analyze_cc", action="store_true", help="run without --analyze_cc (released: with)")
    p.add_argument("--max_sdf_thres", type=float, default=0.5,
                   help="lower it (e.g. -1) with random weights so that boxes survive and move")
    p.add_argument("--networks", default="oracle", choices=["oracle", "random"],
                   help="what answers both paths: the GT oracle or seeded random-weight networks")
    p.add_argument("--backbone_type", default="resnet18", help="with --networks random (released: dpt_large)")
    p.add_argument("--existence_arch", default=None,
                   help="with --networks random; default resnet50 with dpt_large (released), else resnet18")
    p.add_argument("--json", default=None, help="also write the rows and summary here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    thresholds = {"analyze_cc": not args.no_analyze_cc, "n_round": args.n_round,
                  "max_sdf_thres": args.max_sdf_thres}
    networks = random_networks(args) if args.networks == "random" else None
    configs = {PATHS[1]: original_config(**thresholds), PATHS[2]: ReasoningConfig(**thresholds)}
    base = ReasoningConfig(**thresholds)
    original = load_original(args.original_repo)
    tmp = Path(tempfile.mkdtemp(prefix="bench_vs_original_"))
    rows, per_set = [], {}
    header = ["set", "image", "path", "s", "objectness", "existence", "bound obj", "bound ex", "obj/bound",
              "boxes", "= original", "crash guards"]
    print(fmt_row(header) + "\n|" + "---|" * len(header), flush=True)
    for set_name, (gt_path, image_dir) in image_sets(args, tmp).items():
        gt = load_json(gt_path)
        oracle = OraclePredictor(gt)
        if networks is None:
            predictors = {PATHS[1]: oracle, PATHS[2]: oracle}
        else:
            cpu = torch.device("cpu")
            predictors = {PATHS[1]: NetworkPredictor(*networks, cpu, batch_size=50, precision="fp32",
                                                     crop_mode="loop"),
                          PATHS[2]: NetworkPredictor(*networks, cpu, batch_size=64, precision="fp32",
                                                     crop_mode="batched")}
        runner = OriginalRun(original, oracle, {k: getattr(base, k) for k in THRESHOLDS}, networks)
        images = gt["images"][: args.max_images or None]
        for n, im in enumerate(images):
            image = torch.from_numpy(load_image_rgb(image_dir / im["file_name"]).copy()).permute(2, 0, 1)
            image = image.float() / 255.0
            gt_boxes = np.asarray([xywh_to_xyxy(a["bbox"]) for a in gt["annotations"]
                                   if a["image_id"] == im["id"] and not a.get("iscrowd", 0)]).reshape(-1, 4)
            order = PATHS if n % 2 == 0 else PATHS[::-1]
            res = {}
            for path in order:
                if path == PATHS[0]:
                    r = runner.discover(image, im["id"], oracle=networks is None)
                    r["scores"] = -np.arange(len(r["boxes"]), dtype=np.float64)  # its NMS order
                    res[path] = r
                else:
                    res[path] = run_ours(configs[path], predictors[path], image, im["id"])
                    if path == PATHS[1]:  # ranked by its NMS order too (constant NMS score)
                        res[path]["scores"] = -np.arange(len(res[path]["boxes"]), dtype=np.float64)
            same = (res[PATHS[0]]["boxes"].shape == res[PATHS[1]]["boxes"].shape
                    and np.abs(res[PATHS[0]]["boxes"] - res[PATHS[1]]["boxes"]).max(initial=0) <= 1e-4)
            for path in PATHS:
                r = res[path]
                bound = r.get("bound", res[PATHS[1]]["bound"] if path == PATHS[0] else None)
                row = {"set": set_name, "image": im["file_name"], "path": path, "seconds": r["seconds"],
                       **r["evaluations"], "bound": bound, "boxes": len(r["boxes"]),
                       "same_as_original": bool(same) if path == PATHS[1] else None,
                       "crashes": r.get("crashes", {}), "gt": gt_boxes.tolist(),
                       "predict_seconds": r.get("predict_seconds"),
                       "detections": (r["boxes"].tolist(), r["scores"].tolist())}
                rows.append(row)
                per_set.setdefault((set_name, path), []).append(row)
                print(fmt_row([set_name, im["file_name"], path, r["seconds"], row["objectness"],
                               row["existence"], bound["objectness"], bound["existence"],
                               row["objectness"] / max(bound["objectness"], 1), row["boxes"],
                               {True: "yes", False: "NO", None: ""}[row["same_as_original"]],
                               " ".join(f"{k} x{v}" for k, v in row["crashes"].items())]), flush=True)
    summary = summarise(per_set)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


def summarise(per_set: dict) -> list[dict]:
    """Totals per set and path, and ratios to the original; prints the summary table."""
    out = []
    header = ["set", "path", "images", "s/image", "speed-up vs original", "objectness/image",
              "existence/image", "evaluations vs original", "objectness / bound (worst image)",
              "outside / in predictor", "AP50",
              "recall@0.5", "= original boxes", "crash guards"]
    print("\n" + fmt_row(header) + "\n|" + "---|" * len(header))
    for (set_name, path), rows in per_set.items():
        n = len(rows)
        orig = per_set[(set_name, PATHS[0])]
        secs = sum(r["seconds"] for r in rows)
        evals = sum(r["objectness"] + r["existence"] for r in rows)
        orig_evals = sum(r["objectness"] + r["existence"] for r in orig)
        worst = max(r["objectness"] / max(r["bound"]["objectness"], 1) for r in rows)
        ap, recall = ap50([(np.asarray(r["detections"][0]).reshape(-1, 4), np.asarray(r["detections"][1]))
                           for r in rows], [np.asarray(r["gt"]).reshape(-1, 4) for r in rows])
        same = [r["same_as_original"] for r in rows if r["same_as_original"] is not None]
        inside = sum(r["predict_seconds"] or 0.0 for r in rows)
        outside = f"{(secs - inside) / inside:.2f}" if path != PATHS[0] and inside > 0 else ""
        crashes = sum(sum(r["crashes"].values()) for r in rows)
        s = {"set": set_name, "path": path, "images": n, "seconds_per_image": secs / n,
             "speedup": sum(r["seconds"] for r in orig) / secs,
             "objectness_per_image": sum(r["objectness"] for r in rows) / n,
             "existence_per_image": sum(r["existence"] for r in rows) / n,
             "evaluation_ratio": orig_evals / evals, "worst_bound_ratio": worst, "ap50": ap, "recall": recall,
             "same_as_original": f"{sum(same)}/{len(same)}" if same else "", "crash_guards": crashes}
        out.append(s)
        print(fmt_row([set_name, path, str(n), s["seconds_per_image"], f"{s['speedup']:.2f}x",
                       s["objectness_per_image"], s["existence_per_image"],
                       f"{s['evaluation_ratio']:.2f}x fewer",
                       f"{worst:.2f}", outside, f"{ap:.3f}", f"{recall:.3f}", s["same_as_original"],
                       str(crashes) if path == PATHS[0] else ""]))
    return out


if __name__ == "__main__":
    run_cli(main)
