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

from datasets.cli_configs import SCENES, SINGLE, SyntheticDataConfig  # noqa: E402
from datasets.synthetic import make_scene_dataset, make_single_object_dataset  # noqa: E402
from utils.cli import CliError, input_errors, reports_errors, run_cli  # noqa: E402
from utils.config import from_namespace, typed_parser  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    return typed_parser(__doc__.split("\n")[0], SyntheticDataConfig, titles=(SINGLE, SCENES),
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)


@reports_errors()
def main(argv: list[str] | None = None) -> int:
    args = from_namespace(SyntheticDataConfig, build_parser().parse_args(argv))
    log = logging.getLogger("make_synthetic_data")
    if args.seed < 0:
        raise CliError("--seed must be >= 0")
    out = Path(args.output_dir)
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
