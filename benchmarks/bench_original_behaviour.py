"""Defaults vs `--original_behaviour` of stage 2 with the ground-truth oracle: AP, AR, crops, s per image.

For each scene set, runs `object_reasoning.py` + `object_scoring.py` (through their `main_*` functions, so
exactly the command-line flags are measured) once per variant and evaluates the scored results with
COCO_evaluator. Sets: the original-reasoning fixture (`tests/fixtures/original_reasoning`, where the
`--original_behaviour` boxes are also compared with the original code's own output) and synthetic val
scenes (`tools/make_synthetic_data.py --seed 0` layout, generated into a temporary folder unless
`--scenes_dir/--scenes_gt` are given). Prints a markdown table.

    OMP_NUM_THREADS=1 python benchmarks/bench_original_behaviour.py --val_scenes 12
"""

from __future__ import annotations

import argparse
import runpy
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
runpy.run_path(str(ROOT / "_bootstrap.py"))  # repository root on sys.path

import numpy as np  # noqa: E402
import torch  # noqa: E402

from COCO_evaluator.evaluate import evaluate_class_agnostic  # noqa: E402
from datasets.synthetic import make_scene_dataset  # noqa: E402
from reasoning.cli import main_reasoning, main_scoring  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.io import load_json  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "original_reasoning"
VARIANTS = {  # name: (object_reasoning.py flags, object_scoring.py flags)
    "defaults": ([], []),
    "original (--original_behaviour)": (["--original_behaviour"], ["--original_behaviour"]),
    "original, every box re-predicted each round (+ --no-reuse_predictions)": (
        ["--original_behaviour", "--no-reuse_predictions"], ["--original_behaviour"]),
    "defaults + --merge_duplicates": (["--merge_duplicates"], []),
    "defaults + --paste_antialias": ([], ["--paste_antialias"]),
    # one deviation at a time on top of the original: what each default changes
    "original + --nms_score boundary": (["--original_behaviour", "--nms_score", "boundary"],
                                        ["--original_behaviour"]),
    "original + --cc_box_coords image": (["--original_behaviour", "--cc_box_coords", "image"],
                                         ["--original_behaviour"]),
    "original + --no-keep_empty_masks": (["--original_behaviour"],
                                         ["--original_behaviour", "--no-keep_empty_masks"]),
}
MAIN_VARIANTS = list(VARIANTS)[:5]
ORIGINAL_BOXES = set(list(VARIANTS)[1:3])  # variants whose fixture boxes must be the original code's


def fixture_match(discoveries: dict, gt: dict, key: str) -> tuple[int, int]:
    """(images whose boxes equal the original's within 1e-4 px in the same order, images)."""
    expected = load_json(FIXTURE / "original_discoveries.json")[key]
    ok = 0
    for im in gt["images"]:
        e = np.asarray(expected[im["file_name"]]["boxes"], dtype=np.float64).reshape(-1, 4)
        g = np.asarray(discoveries[str(im["id"])], dtype=np.float64).reshape(-1, 4)
        ok += int(e.shape == g.shape and np.abs(e - g).max(initial=0) <= 1e-4)
    return ok, len(gt["images"])


def run_variant(gt_path: Path, image_dir: Path, out: Path, flags: tuple[list[str], list[str]],
                done: dict) -> dict:
    """Reasoning (reused from `done` when another variant ran the same flags), scoring, evaluation."""
    common = ["--oracle_annotations", str(gt_path), "--annotations", str(gt_path), "--image_dir",
              str(image_dir), "--device", "cpu", "--num_workers", "0"]
    key = (str(gt_path), tuple(flags[0]))
    if key not in done:
        done[key] = out, main_reasoning(common + ["--analyze_cc", "--output_dir", str(out / "reasoning")]
                                        + flags[0])
    reasoning_dir, disc = done[key]
    scored = main_scoring(common + ["--raw_annotations_path", str(disc), "--output_dir", str(out / "scoring")]
                          + flags[1])
    stats = load_json(reasoning_dir / "reasoning" / "reasoning_stats.json")
    metrics = evaluate_class_agnostic(str(gt_path), str(scored))
    return {"discoveries": load_json(disc), "bbox_AP": metrics["bbox"]["AP"],
            "bbox_AR": metrics["bbox"]["AR100"],
            "segm_AP": metrics["segm"]["AP"], "segm_AR": metrics["segm"]["AR100"],
            "crops": stats["objectness_crops_per_image"] + stats["existence_crops_per_image"],
            "seconds": stats["seconds_per_image"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--val_scenes", type=int, default=12, help="synthetic val scenes to generate")
    p.add_argument("--scenes_dir", default=None, help="folder of scene images (with --scenes_gt)")
    p.add_argument("--scenes_gt", default=None, help="COCO GT of --scenes_dir")
    p.add_argument("--variants", nargs="+", default=MAIN_VARIANTS, choices=list(VARIANTS))
    p.add_argument("--skip_fixture", action="store_true", help="only the synthetic scenes")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_original_"))
    sets = {} if args.skip_fixture else {"fixture (10 scenes)": (FIXTURE / "gt.json", FIXTURE / "images")}
    if args.scenes_dir:
        sets["scenes"] = (Path(args.scenes_gt), Path(args.scenes_dir))
    elif args.val_scenes > 0:
        make_scene_dataset(tmp / "scenes", "val", args.val_scenes, (256, 320), 0, "mixed", min_objects=2,
                           max_objects=6, size_jitter=0.1)
        scenes = tmp / "scenes"
        sets[f"synthetic val ({args.val_scenes} scenes)"] = (scenes / "annotations" / "val_cls_agnostic.json",
                                                             scenes / "val")
    rows, done = [], {}
    for set_name, (gt_path, image_dir) in sets.items():
        for k, name in enumerate(args.variants):
            r = run_variant(gt_path, image_dir, tmp / f"{len(rows)}_{k}", VARIANTS[name], done)
            note = ""
            if set_name.startswith("fixture") and name in ORIGINAL_BOXES:
                ok, n = fixture_match(r["discoveries"], load_json(gt_path), "analyze_cc")
                note = f"{ok}/{n} images = original boxes"
            rows.append((set_name, name, r, note))
            print(f"{set_name} | {name} | {r['bbox_AP']:.2f} | {r['bbox_AR']:.2f} | {r['segm_AP']:.2f} | "
                  f"{r['segm_AR']:.2f} | {r['crops']:.0f} | {r['seconds']:.2f} | {note}", flush=True)
    print("\n| scenes | flags | bbox AP | bbox AR100 | segm AP | segm AR100 | crops/image | s/image | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for set_name, name, r, note in rows:
        print(f"| {set_name} | {name} | {r['bbox_AP']:.2f} | {r['bbox_AR']:.2f} | {r['segm_AP']:.2f} | "
              f"{r['segm_AR']:.2f} | {r['crops']:.0f} | {r['seconds']:.2f} | {note} |")


if __name__ == "__main__":
    run_cli(main)
