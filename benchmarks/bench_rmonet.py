"""Fixed CPU-budget training of R-MONet and the MONet baseline on procedural Multi-dSprites.

    python benchmarks/bench_rmonet.py --minutes 30
    python benchmarks/bench_rmonet.py --minutes 1 --variants unet --test_images 64   # smoke run

Each variant trains for `--minutes` wall-clock minutes with the paper's Multi-dSprites config (model, loss
and optimizer of appendix B) except what a CPU budget forces. Because the budget is far shorter than the
paper's warm-up of several epochs, the learning rate warms up over a few iterations and then stays constant.
`--preset cpu` (default): narrow layers (FPN 32, head 16, VAE 16/16/64), batch 8, lr 1e-3, 20-iteration
warm-up, so that half an hour covers ~1000+ iterations. `--preset proxy`: the cpu preset on 32x32 scenes
(sprites 3-6 px in half-extent; ~3 iterations/s on one thread, so a few CPU minutes cover ~1000+
iterations). `--preset paper`: the config widths (FPN 256) and lr 1e-4, batch 16, 100-iteration warm-up.
`--set` overrides apply last. `--rois image_regions` is a diagnostic for R-MONet: the ROIs are the boxes of
the image's connected non-background regions (an oracle RPN on Multi-dSprites' uniform backgrounds) instead of
the RPN's proposals: what the attention network and the VAE reach when the regions are right. Touching sprites
share such a region (44% of the sprites of 320 proxy test scenes); `--rois colour_regions` splits the regions
by colour, one box per visible sprite piece.
Then it evaluates foreground ARI and class-agnostic box AP/AP50/AP75 on `--test_images` test scenes and
prints a markdown table next to the paper's Table 1/2 figures, with the training throughput (images/s).
"""

from __future__ import annotations

import argparse
import runpy
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch import nn

REPO = Path(__file__).resolve().parents[1]
runpy.run_path(str(REPO / "_bootstrap.py"))  # repository root on sys.path

from training.rmonet.config import load_config  # noqa: E402
from training.rmonet.loop import RMONetTrainer, train  # noqa: E402
from training.rmonet.visualize import plot_training_curves  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.io import atomic_write_bytes, atomic_write_json, load_json, read_jsonl  # noqa: E402

# R-MONet paper, Multi-dSprites: Table 1 (ARI) and Table 2 (box mAP 50:95, 50, 75).
PAPER = {
    "unet": {"name": "R-MONet(UNet)", "ari": 0.951, "ap": (0.435, 0.839, 0.407)},
    "lite": {"name": "R-MONet(Lite)", "ari": 0.801, "ap": (0.427, 0.802, 0.419)},
    "roialign": {"name": "R-MONet(ROI Align)", "ari": 0.633, "ap": (0.319, 0.711, 0.237)},
    "monet_fpn_unet": {"name": "MONet(ResNet18+FPN+UNet)", "ari": 0.853, "ap": None},
    "monet_fpn": {"name": "MONet(ResNet18+FPN)", "ari": 0.607, "ap": None},
}


PRESETS = {
    "cpu": {
        "batch_size": 8,
        "warmup": 20,
        "set": [
            "model.fpn_channels=32",
            "model.head_channels=16",
            "model.vae_channels=[16,16,64]",
            "train.lr=1e-3",
        ],
    },
    "proxy": {
        "batch_size": 8,
        "warmup": 20,
        "set": [
            "data.image_size=32",
            "model.fpn_channels=32",
            "model.head_channels=16",
            "model.vae_channels=[16,16,64]",
            "train.lr=1e-3",
        ],
    },
    "paper": {"batch_size": 16, "warmup": 100, "set": []},
}


def image_region_boxes(images: torch.Tensor, num_rois: int, tol: float = 0.04,
                       by_colour: bool = False) -> torch.Tensor:
    """images [B,3,H,W] in [0, 1] with a uniform background -> boxes [B, num_rois, 4] xyxy (x2/y2 exclusive)
    of the connected regions whose colour differs from the background (the median of the border pixels) by
    more than `tol` in some channel, largest first; zero boxes pad the rest (an empty ROI). `by_colour`: a
    region is also of one colour (8-bit RGB), so touching sprites of different colours get a box each."""
    out = torch.zeros(images.shape[0], num_rois, 4)
    eight = np.ones((3, 3), bool)
    for i, im in enumerate(images.detach().float().cpu().numpy()):
        border = np.concatenate([im[:, 0], im[:, -1], im[:, :, 0], im[:, :, -1]], axis=1)
        differs = np.abs(im - np.median(border, axis=1)[:, None, None]).max(0) > tol
        if by_colour:
            rgb = np.round(im * 255).astype(np.int64)
            code = np.where(differs, (rgb[0] * 256 + rgb[1]) * 256 + rgb[2] + 1, 0)
            masks = [code == c for c in np.unique(code[differs])]
        else:
            masks = [differs]
        boxes = [(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
                 for m in masks for sl in ndimage.find_objects(ndimage.label(m, structure=eight)[0])]
        boxes = sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))[:num_rois]
        if boxes:
            out[i, : len(boxes)] = torch.tensor(boxes, dtype=torch.float32)
    return out


class ImageRegionRPN(nn.Module):
    """The model's RPN (still trained on the pseudo boxes) whose ROIs are replaced by `image_region_boxes`."""

    def __init__(self, rpn: nn.Module, by_colour: bool = False):
        super().__init__()
        self.rpn, self.by_colour = rpn, by_colour
        self.active = True  # False: the RPN's own ROIs (`--oracle_rois_until`)

    def propose(self, images: torch.Tensor, features: list[torch.Tensor], num_rois: int):
        props = self.rpn.propose(images, features, num_rois)
        if self.active:
            props.boxes = image_region_boxes(images, num_rois, by_colour=self.by_colour).to(props.boxes)
        return props

    def sample_targets(self, props, target_boxes: list[torch.Tensor]):
        return self.rpn.sample_targets(props, target_boxes)


class ImageRegionTrainer(RMONetTrainer):
    """R-MONet training with `ImageRegionRPN` (`--rois image_regions`)."""

    by_colour = False
    oracle_until: int | None = None  # from this iteration on the RPN's own ROIs (None: never)

    def build_model(self) -> nn.Module:
        model = super().build_model()
        model.rpn = ImageRegionRPN(model.rpn, self.by_colour)
        return model

    def run_step(self) -> None:
        self.model.rpn.active = self.oracle_until is None or self.iter < self.oracle_until
        super().run_step()


class ColourRegionTrainer(ImageRegionTrainer):
    """R-MONet training with one-colour regions as ROIs (`--rois colour_regions`)."""

    by_colour = True


ROI_TRAINERS = {"image_regions": ImageRegionTrainer, "colour_regions": ColourRegionTrainer}
ROI_LABELS = {"image_regions": ", image-region ROIs", "colour_regions": ", one-colour-region ROIs"}


def run_dir(out: Path, variant: str, seed: int, seeds: list[int]) -> Path:
    """Output folder of one run: <out>/<variant>, or <out>/<variant>_seed<N> when several seeds run."""
    return out / (variant if len(seeds) == 1 else f"{variant}_seed{seed}")


def run_variant(variant: str, seed: int, args) -> dict:
    cfg = load_config(
        REPO / "configs" / "rmonet" / f"multi_dsprites_{variant}.yaml",
        [
            *PRESETS[args.preset]["set"],
            f"train.max_minutes={args.minutes}",
            f"train.budget_clock={args.clock}",
            f"train.seed={seed}",
            "train.max_iters=null",
            "train.max_epochs=null",
            f"train.batch_size={args.batch_size}",
            f"train.schedule={{unit: iter, warmup: {PRESETS[args.preset]['warmup']}, cycle: 1000000000, "
            "reset_decay: 1.0}",
            f"train.eval_every={args.eval_every}",
            "train.ckpt_every=1000000000",
            "train.log_every=10",
            f"train.eval_images={args.test_images}",
            f"data.num_workers={args.num_workers}",
            f"output_dir={run_dir(Path(args.out), variant, seed, args.seeds)}",
            *args.set,
        ],
    )
    if args.parallel:
        torch.set_num_threads(1)
    torch.manual_seed(0)
    rois = None if variant.startswith("monet") else args.rois  # the MONet baselines have no ROIs
    until = args.oracle_rois_until if rois in ROI_TRAINERS else None
    trainer_cls = ROI_TRAINERS.get(rois, RMONetTrainer)
    if until is not None:
        trainer_cls = type(trainer_cls.__name__, (trainer_cls,), {"oracle_until": until})
    summary = train(cfg, torch.device(args.device), trainer_cls=trainer_cls)
    return {"variant": variant, "seed": seed, "rois": rois, "oracle_rois_until": until, **summary}


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def markdown_table(
    results: list[dict], minutes: float, preset: str, batch_size: int, clock: str = "wall"
) -> str:
    seeds = sorted({r.get("seed", 0) for r in results})
    budget = "wall-clock" if clock == "wall" else "CPU time of the training process"
    lines = [
        f"Procedural Multi-dSprites, {minutes:g} minute(s) ({budget}) of training per model "
        f"(preset {preset}, batch {batch_size}, seed(s) {', '.join(map(str, seeds))}); "
        "paper = full training on DeepMind Multi-dSprites (Tables 1 and 2). "
        "Box AP as fractions (COCO mAP 50:95/50/75).",
        "",
        "| model | iterations | train images/s | fg-ARI (ours, end) | fg-ARI (ours, best evaluation) "
        "| fg-ARI (paper) | box AP / AP50 / AP75 (ours) | box AP / AP50 / AP75 (paper) "
        "| fg-ARI over the foreground slots (end) | mask mass outside the enlarged ROI (end) "
        "| background mass on objects (end) | colour error on objects (end) "
        "| objects found by the ROIs, IoU >= 0.5 (end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        p, e = PAPER[r["variant"]], r["eval"]
        best = max(r["evals"], key=lambda x: x[1])
        best_txt = f"{fmt(best[1])} (iteration {best[0]})"
        ours_ap = " / ".join(fmt(e[k] / 100) for k in ("box_AP", "box_AP50", "box_AP75"))
        if r["variant"].startswith("monet"):
            ours_ap += " (boxes of argmax masks)"
        paper_ap = " / ".join(fmt(v) for v in p["ap"]) if p["ap"] else "-"
        name = p["name"] + ROI_LABELS.get(r.get("rois"), "")
        if r.get("oracle_rois_until") is not None:
            name += f" until iteration {r['oracle_rois_until']}, then the RPN's"
        name = name if len(seeds) == 1 else f"{name} (seed {r.get('seed', 0)})"
        lines.append(
            f"| {name} | {r['iterations']} | {r['images_per_s']:.1f} | {fmt(e['fg_ari'])} | "
            f"{best_txt} | {fmt(p['ari'])} | {ours_ap} | {paper_ap} | "
            f"{fmt(e.get('fg_ari_foreground_slots'))} | {fmt(e.get('mask_mass_outside_roi'))} | "
            f"{fmt(e.get('background_mass_on_objects'))} | {fmt(e.get('object_colour_error'))} | "
            f"{fmt(e.get('roi_recall50'))} |"
        )
    if len(seeds) > 1:
        for variant in dict.fromkeys(r["variant"] for r in results):
            runs = [r for r in results if r["variant"] == variant]
            end = torch.tensor([r["eval"]["fg_ari"] for r in runs], dtype=torch.float64)
            best = torch.tensor([max(x[1] for x in r["evals"]) for r in runs], dtype=torch.float64)
            ap50 = torch.tensor([r["eval"]["box_AP50"] / 100 for r in runs], dtype=torch.float64)
            lines.append(
                f"| {PAPER[variant]['name']}, mean +- std over {len(runs)} seeds | - | - | "
                f"{end.mean():.3f} +- {end.std():.3f} | {best.mean():.3f} +- {best.std():.3f} | - | "
                f"AP50 {ap50.mean():.3f} +- {ap50.std():.3f} | - | - | - | - | - | - |"
            )
    if results:
        base = results[0]["eval"]["one_mask_fg_ari"]
        blanks = " - |" * 9
        lines.append(f"| one mask for all objects | - | - | {fmt(base)} |{blanks}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="training budget per model (see --clock)")
    ap.add_argument(
        "--clock",
        choices=["wall", "process"],
        default="wall",
        help="what --minutes counts: wall-clock time, or the CPU time of each training process (use "
        "'process' with --parallel on a machine shared with other jobs: their load cannot shrink the budget)",
    )
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="training seeds; every variant runs with each seed"
    )
    ap.add_argument("--variants", nargs="+", default=["unet", "monet_fpn_unet"], choices=sorted(PAPER))
    ap.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="cpu",
        help="cpu: FPN 32 / head 16 / VAE 16-16-64, lr 1e-3; proxy: cpu on 32x32 scenes; paper: the config "
        "widths (FPN 256), lr 1e-4",
    )
    ap.add_argument("--batch_size", type=int, default=None, help="default: 8 (cpu preset) / 16 (paper)")
    ap.add_argument("--test_images", type=int, default=320, help="test scenes for ARI / box AP")
    ap.add_argument(
        "--eval_every", type=int, default=250, help="iterations between test evaluations (0: only at the end)"
    )
    ap.add_argument(
        "--parallel",
        action="store_true",
        help="train the variants at the same time, one process and one thread each (a fair split of a "
        "multi-core CPU: the wall-clock budget is the same for every variant)",
    )
    ap.add_argument(
        "--report",
        action="store_true",
        help="do not train: remake the table and curves from the runs already in --out",
    )
    ap.add_argument(
        "--rois",
        choices=["rpn", "image_regions", "colour_regions"],
        default="rpn",
        help="R-MONet's ROIs: the RPN's proposals (the model), or the boxes of the image's connected "
        "non-background regions (touching sprites share one), or of its connected one-colour regions (one "
        "per visible sprite piece): diagnostic oracles for Multi-dSprites; the RPN still trains",
    )
    ap.add_argument(
        "--oracle_rois_until",
        type=int,
        default=None,
        metavar="ITER",
        help="with --rois image_regions|colour_regions: the oracle ROIs only for the first ITER iterations, "
        "the RPN's own ROIs after (training and evaluation): does the RPN, trained on the pseudo boxes of "
        "good masks, keep the decomposition?",
    )
    ap.add_argument("--num_workers", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--output_dir", "--out", dest="out", default="outputs/bench_rmonet")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config overrides")
    args = ap.parse_args(argv)
    if args.oracle_rois_until is not None and args.rois not in ROI_TRAINERS:
        ap.error(f"--oracle_rois_until needs --rois {' or '.join(ROI_TRAINERS)} (got --rois {args.rois})")
    args.batch_size = args.batch_size or PRESETS[args.preset]["batch_size"]
    out = Path(args.out)
    if args.report:
        saved = load_json(out / "bench_results.json", "benchmark results")
        results, args.minutes = saved["results"], saved["minutes"]
        args.clock = saved.get("clock", "wall")
        args.preset = saved.get("preset", args.preset)
        args.batch_size = saved.get("batch_size", args.batch_size)
    else:
        runs = [(v, s) for s in args.seeds for v in args.variants]
        if args.parallel:
            with ProcessPoolExecutor(len(runs), mp_context=get_context("spawn")) as pool:
                results = list(pool.map(run_variant, *zip(*runs), [args] * len(runs)))
        else:
            results = [run_variant(v, s, args) for v, s in runs]
    seeds = sorted({r.get("seed", 0) for r in results})
    logs = {}
    for r in results:  # every evaluation of the run: (iteration, fg-ARI)
        name = PAPER[r["variant"]]["name"] + ("" if len(seeds) == 1 else f" (seed {r.get('seed', 0)})")
        logs[name] = list(read_jsonl(run_dir(out, r["variant"], r.get("seed", 0), seeds) / "train_log.jsonl"))
        r["evals"] = [(x["iter"], x["eval"]["fg_ari"]) for x in logs[name] if "eval" in x]
    table = markdown_table(results, args.minutes, args.preset, args.batch_size, args.clock)
    plot_training_curves(logs, out / "bench_curves.png")
    run = {
        "minutes": args.minutes,
        "clock": args.clock,
        "preset": args.preset,
        "batch_size": args.batch_size,
        "results": results,
    }
    atomic_write_json(out / "bench_results.json", run, indent=2)
    atomic_write_bytes(out / "bench_results.md", (table + "\n").encode())
    print(table)


if __name__ == "__main__":
    run_cli(main)
