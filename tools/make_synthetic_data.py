"""Generate the embedded synthetic data: single-object sets (ImageNet/VoteCut layout) and COCO-style scenes.

    python tools/make_synthetic_data.py --out data/synthetic --seed 0

writes `imagenet/`, `imagenet_heldout/` and `scenes/{train,val}/` + `scenes/annotations/` under `--out`
(see the README). The same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import logging
import runpy
import time
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from datasets.synthetic import LAYOUTS, make_scene_dataset, make_single_object_dataset  # noqa: E402
from utils.cli import CliError, input_errors, reports_errors, run_cli  # noqa: E402
from utils.config import number  # noqa: E402


def _size(text: str) -> tuple[int, int]:
    """'256' -> (256, 256); '256x320' -> (256, 320) (height x width)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"size must look like 256 or 256x320, got {text!r}") from e
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 16:
        raise argparse.ArgumentTypeError(f"size must look like 256 or 256x320 (sides >= 16), got {text!r}")
    return parts[0], parts[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--output_dir", "--out", dest="out", default="data/synthetic", help="output root")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (held-out set: --heldout_seed)")
    g = p.add_argument_group("single-object sets (stage 1)")
    g.add_argument("--num_classes", type=number(int, min=1), default=8, help="class folders n00000001, ...")
    g.add_argument("--images_per_class", type=number(int, min=1), default=40)
    g.add_argument("--image_size", type=_size, default=(256, 256),
                   help="max image size HxW (or one number); sides are jittered down by --size_jitter")
    g.add_argument("--size_jitter", type=number(float, min=0, lt=1), default=0.25,
                   help="each side drawn from [side*(1-jitter), side]; 0 = fixed size")
    g.add_argument("--heldout_classes", type=number(int, min=0), default=8)
    g.add_argument("--heldout_images_per_class", type=number(int, min=0), default=8)
    g.add_argument("--heldout_seed", type=int, default=None, help="default: --seed + 1000")
    g = p.add_argument_group("multi-object scenes (stage 2, detector, evaluator)")
    g.add_argument("--train_scenes", type=number(int, min=0), default=40)
    g.add_argument("--val_scenes", type=number(int, min=0), default=24)
    g.add_argument("--scene_size", type=_size, default=(256, 320), help="max scene size HxW")
    g.add_argument("--scene_size_jitter", type=number(float, min=0, lt=1), default=0.1)
    g.add_argument("--min_objects", type=number(int, min=1), default=2)
    g.add_argument("--max_objects", type=number(int, min=1), default=6)
    g.add_argument("--layout", choices=LAYOUTS, default="mixed",
                   help="object relations in scenes; 'mixed' draws one of all four layouts per scene")
    p.add_argument("--skip_single", action="store_true", help="do not write imagenet/ and imagenet_heldout/")
    p.add_argument("--skip_scenes", action="store_true", help="do not write scenes/")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing files with generated names that an earlier run did not write")
    return p


@reports_errors()
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = logging.getLogger("make_synthetic_data")
    if args.seed < 0:
        raise CliError("--seed must be >= 0")
    out = Path(args.out)
    heldout_seed = args.seed + 1000 if args.heldout_seed is None else args.heldout_seed
    jobs = []
    if not args.skip_single:
        jobs += [
            ("imagenet", lambda: make_single_object_dataset(
                out / "imagenet", args.num_classes, args.images_per_class, args.image_size, args.seed,
                size_jitter=args.size_jitter, overwrite=args.overwrite)),
            ("imagenet_heldout", lambda: make_single_object_dataset(
                out / "imagenet_heldout", args.heldout_classes, args.heldout_images_per_class,
                args.image_size, heldout_seed, size_jitter=args.size_jitter, overwrite=args.overwrite)),
        ]
    if not args.skip_scenes:
        for split, n in (("train", args.train_scenes), ("val", args.val_scenes)):
            jobs.append((f"scenes/{split}", lambda split=split, n=n: make_scene_dataset(
                out / "scenes", split, n, args.scene_size, args.seed, args.layout,
                min_objects=args.min_objects, max_objects=args.max_objects,
                size_jitter=args.scene_size_jitter, overwrite=args.overwrite)))
    with input_errors(ValueError, OSError, code=1):
        for name, job in jobs:
            t0 = time.perf_counter()
            summary = job()
            log.info("%s: %d images, %d annotations -> %s (%.1fs)", name, summary["images"],
                     summary["annotations"], summary["json"], time.perf_counter() - t0)
            per_scene = summary["annotations"] / max(summary["images"], 1)
            crowded = per_scene < (args.min_objects + args.max_objects) / 4
            if name.startswith("scenes/") and summary["images"] and crowded:
                log.warning("%s: %.1f objects per scene for --min_objects %d --max_objects %d: scenes of %s "
                            "are too small for that many (objects that find no place are left out)", name,
                            per_scene, args.min_objects, args.max_objects,
                            "x".join(map(str, args.scene_size)))
    return 0


if __name__ == "__main__":
    run_cli(main)
