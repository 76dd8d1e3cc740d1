"""discover.py on real photos that ship with scikit-image: time per image, and box AP50 / recall on `coins`.

Writes ten scikit-image photos, each scaled to 512 px on its longer side, into `<work>/photos`, runs
`discover.py` on them (the main job's networks by default: run `bash run_main.sh` first; other flags go to
discover.py; a rerun resumes) into `<work>/discoveries`, which prints the time per image, and scores the
discoveries of `coins` against the pseudo ground truth `tests/fixtures/coins_pseudo_gt.json`: 24 coin masks
made by scikit-image's own region-based recipe for this photo (Sobel elevation map, markers below 30 and
above 150, watershed, holes filled), checked by eye. `--write_fixture` makes that file again, and
`tests/fixtures/photos_pseudo_gt.json` (coffee, astronaut, chelsea by GrabCut from hand-chosen hints; both
recipes in `benchmarks/photos.py`); `--figure PNG` draws the README's overlays.

    OMP_NUM_THREADS=1 python benchmarks/bench_discover_photos.py --figure docs/images/discover_photos.png
"""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision.ops import box_iou  # noqa: E402

from benchmarks.photos import COINS_FIXTURE, PHOTOS_FIXTURE, coins_pseudo_gt, grabcut_pseudo_gt, photo  # noqa: E402
from COCO_evaluator.evaluate import evaluate_class_agnostic  # noqa: E402
from reasoning import discover  # noqa: E402
from utils.cli import CliError, run_cli  # noqa: E402
from utils.io import atomic_write_json, load_json  # noqa: E402
from utils.masks import xywh_to_xyxy  # noqa: E402

PHOTOS = ("coins", "coffee", "astronaut", "chelsea", "rocket", "camera", "immunohistochemistry",
          "hubble_deep_field", "retina", "cell")
FIGURE_ROWS = (("coins", "coffee", "astronaut"), ("chelsea", "rocket"))


def recall50(gt: dict, results: list[dict]) -> float:
    """Fraction of GT boxes that some result's box overlaps with IoU >= 0.5."""
    truth = torch.tensor([xywh_to_xyxy(a["bbox"]) for a in gt["annotations"]], dtype=torch.float32)
    found = torch.tensor([xywh_to_xyxy(r["bbox"]) for r in results], dtype=torch.float32).reshape(-1, 4)
    if not len(found):
        return 0.0
    return float((box_iou(truth, found).amax(1) >= 0.5).float().mean())


def figure(overlays: Path, rows: tuple[tuple[str, ...], ...], path: Path, height: int = 230) -> None:
    """The overlays of each row's photos, `height` px high, side by side, as a palette PNG."""
    tiles = [[Image.open(overlays / f"{n}.png").convert("RGB") for n in row] for row in rows]
    tiles = [[t.resize((round(t.width * height / t.height), height), Image.LANCZOS) for t in row]
             for row in tiles]
    size = (max(sum(t.width + 4 for t in row) - 4 for row in tiles), len(tiles) * (height + 4) - 4)
    canvas = Image.new("RGB", size, (255, 255, 255))
    for i, row in enumerate(tiles):
        x = 0
        for t in row:
            canvas.paste(t, (x, i * (height + 4)))
            x += t.width + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.quantize(256).save(path, optimize=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="outputs/discover_photos", help="folder for the photos and the results")
    p.add_argument("--write_fixture", action="store_true",
                   help="write the pseudo ground truths (coins; coffee, astronaut, chelsea) from their "
                        "recipes and stop")
    p.add_argument("--figure", default=None,
                   help="also draw the overlays of coins, coffee, astronaut, chelsea and rocket here")
    args, discover_flags = p.parse_known_args()
    work = Path(args.work)
    if args.write_fixture:
        atomic_write_json(COINS_FIXTURE, coins_pseudo_gt(photo("coins")))
        atomic_write_json(PHOTOS_FIXTURE, grabcut_pseudo_gt())
        print(f"wrote {COINS_FIXTURE} and {PHOTOS_FIXTURE}")
        return 0
    for name in PHOTOS:
        path = work / "photos" / f"{name}.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo(name)).save(path)
    out = work / "discoveries"
    photos = [str(work / "photos" / f"{name}.png") for name in PHOTOS]
    status = discover.main([*photos, "--out", str(out), *discover_flags])  # prints the time per image
    if status:
        raise CliError("discover.py failed", status)
    gt = load_json(COINS_FIXTURE, "coins pseudo ground truth")
    every = [r for r in load_json(out / discover.DISCOVERIES, "discoveries") if r["image_id"] == "coins"]
    selected = load_json(out / discover.SELECTED, "kept discoveries")["annotations"]
    kept_masks = {a["segmentation"]["counts"] for a in selected if a["image_id"] == "coins"}
    kept = [r for r in every if r["segmentation"]["counts"] in kept_masks]  # with their scores, not area's
    print(f"coins ({len(gt['annotations'])} pseudo-GT coins) | results | box AP50 | box recall@0.5")
    for title, results in (("all discoveries", every), ("kept by the thresholds", kept)):
        ap50 = evaluate_class_agnostic(gt, results, tasks=("bbox",))["bbox"]["AP50"] if results else 0.0
        print(f"{title} | {len(results)} | {ap50:.1f} | {100 * recall50(gt, results):.1f}")
    if args.figure:
        figure(out / discover.OVERLAYS, FIGURE_ROWS, Path(args.figure))
        print(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    run_cli(main)
