"""Bad-input probe: runs every command-line script on hundreds of bad inputs (one process each, with a time
and memory limit) and classifies each outcome, as a new user would meet it.

    python benchmarks/probe_bad_inputs.py [--only SUBSTRING] [--timeout 120] [--out outputs/probe_bad_inputs]

Each case runs in its own process and process group: by default a child forked from the probe after it has
imported torch and the project once (on a loaded 2-core machine a fresh interpreter spends ~12 s importing
torch); `--spawn` starts a fresh interpreter per case instead.

Outcomes: `clear error` (non-zero exit, the last line of stderr is one `error: ...` line; for
tools/check_coco_json.py the listed defects with status 1), `handled` (a valid edge case that succeeds, with
the warning it must print), `traceback`, `silent wrong` (exit 0 where the input must be refused, or a
handled case without its warning), `unclear error` (non-zero exit without an error line), `hang` (killed at
--timeout) and `memory` (above --memory_mb resident, or killed by the address-space limit). Writes
`results.json` (every case) and `table.md` (counts by outcome and by script) to --out.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import resource
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
runpy.run_path(str(REPO / "_bootstrap.py"))  # repository root on sys.path

from utils.cli import run_cli  # noqa: E402

OUTCOMES = ("clear error", "handled", "traceback", "silent wrong", "unclear error", "hang", "memory")


@dataclass
class Case:
    script: str
    args: list[str]
    what: str
    expect: str = "error"  # "error": must be refused; "ok": a valid edge case; "defects": check_coco_json
    warning: str = ""  # for "ok": text the run must print (a count of what it dropped)
    env: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- fixtures
def _write(path: Path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def build_fixtures(root: Path) -> dict:
    """Tiny valid inputs of every stage; the cases spoil one thing each."""
    import numpy as np
    import torch

    from datasets.synthetic import make_scene_dataset, make_single_object_dataset
    from utils.masks import mask_to_rle

    scenes = root / "synthetic" / "scenes"
    make_scene_dataset(scenes, "val", 3, (64, 64), seed=1, max_objects=3)
    single = root / "imagenet"
    make_single_object_dataset(single, 2, 2, (48, 48), seed=1)
    gt_path = scenes / "annotations" / "val_cls_agnostic.json"
    gt = json.loads(gt_path.read_text())
    votecut = next((single / "annotations").glob("*.json"))
    scored = [
        {
            "image_id": a["image_id"],
            "bbox": a["bbox"],
            "segmentation": a["segmentation"],
            "existence_score": 0.9,
            "center_score": 0.9,
            "boundary_score": 0.9,
            "area_score": 0.9,
        }
        for a in gt["annotations"]
    ]
    results = [
        {"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
        for a in gt["annotations"]
    ]
    raw = {str(img["id"]): [[4, 4, 30, 30]] for img in gt["images"]}  # object_reasoning.py's layout
    mask = np.zeros((64, 64), bool)
    mask[10:20, 10:30] = True
    rle = mask_to_rle(mask)
    torch.save({"model": {"encoder.weight": torch.zeros(3, 3)}}, root / "unrelated.pth")
    (root / "empty_masks").mkdir(exist_ok=True)
    tiny_rmonet = {
        "model": {"num_slots": 3, "fpn_channels": 16, "head_channels": 8, "vae_channels": [8, 8, 32]},
        "data": {"image_size": 32, "num_train": 8, "num_test": 4, "num_workers": 0},
        "train": {"batch_size": 4, "max_iters": 1, "eval_images": 4, "eval_every": 0},
        "eval": {"batch_size": 4, "num_figures": 1},
        "output_dir": str(root / "rmonet_run"),
    }
    import yaml

    (root / "tiny_rmonet.yaml").write_text(yaml.safe_dump(tiny_rmonet))
    return {
        "root": root,
        "scenes": scenes / "val",
        "gt": gt,
        "gt_path": str(gt_path),
        "single": single,
        "votecut": str(votecut),
        "votecut_data": json.loads(votecut.read_text()),
        "scored": _write(root / "scored.json", scored),
        "results": _write(root / "results.json", results),
        "raw": _write(root / "raw.json", raw),
        "rle": rle,
        "text_jpg": _write(root / "photo.jpg", "this is not an image"),
        "unrelated": str(root / "unrelated.pth"),
        "rmonet_yaml": str(root / "tiny_rmonet.yaml"),
    }


# --------------------------------------------------------------------------------------------- bad COCO files
def coco_mutations(fx: dict) -> list[tuple[str, object]]:
    """(what, content) pairs: a spoiled copy of the valid GT each (content: a dict/list, or raw text)."""
    gt = fx["gt"]

    def spoil(fn):
        d = copy.deepcopy(gt)
        fn(d)
        return d

    def ann(key, value, k=0):
        return lambda d: d["annotations"][k].__setitem__(key, value)

    def img(key, value, k=0):
        return lambda d: d["images"][k].__setitem__(key, value)

    h, w = gt["images"][0]["height"], gt["images"][0]["width"]
    return [
        ("truncated JSON", json.dumps(gt)[:200]),
        ("empty file", ""),
        ("top level a list", [gt]),
        ("no images", {k: v for k, v in gt.items() if k != "images"}),
        ("images a dict", spoil(lambda d: d.__setitem__("images", {"1": d["images"][0]}))),
        ("annotations a string", spoil(lambda d: d.__setitem__("annotations", "none"))),
        ("bbox strings", spoil(ann("bbox", ["1", "2", "3", "4"]))),
        ("bbox NaN", spoil(ann("bbox", [1, 2, float("nan"), 4]))),
        ("bbox 3 numbers", spoil(ann("bbox", [1, 2, 3]))),
        ("bbox negative width", spoil(ann("bbox", [5, 5, -4, 6]))),
        ("area NaN", spoil(ann("area", float("nan")))),
        ("area negative", spoil(ann("area", -10))),
        ("image_id unknown", spoil(ann("image_id", 987654))),
        ("image_id a list", spoil(ann("image_id", [1]))),
        ("duplicate image id", spoil(img("id", gt["images"][1]["id"]))),
        ("image height 0", spoil(img("height", 0))),
        ("image width a string", spoil(img("width", "wide"))),
        ("image id null", spoil(img("id", None))),
        ("odd-length polygon", spoil(ann("segmentation", [[1, 1, 9, 1, 9]]))),
        ("polygon of strings", spoil(ann("segmentation", [["a", "b", "c", "d", "e", "f"]]))),
        ("corrupt RLE counts", spoil(ann("segmentation", {"size": [h, w], "counts": "PPPP"}))),
        ("RLE size mismatch", spoil(ann("segmentation", {**fx["rle"], "size": [w + 1, h]}))),
        ("RLE counts short", spoil(ann("segmentation", {"size": [h, w], "counts": [0, 5]}))),
        (
            "RLE declared 40000x40000",
            spoil(
                lambda d: (
                    d["images"][0].update(height=40000, width=40000),
                    ann("segmentation", {"size": [40000, 40000], "counts": [1600000000]})(d),
                )
            ),
        ),
        ("segmentation a number", spoil(ann("segmentation", 7))),
        ("iscrowd 5", spoil(ann("iscrowd", 5))),
        ("annotation not an object", spoil(lambda d: d["annotations"].__setitem__(0, [1, 2, 3]))),
    ]


# (script, case description) -> the warning of a stage that keeps the original's tolerance: these inputs are
# valid edge cases there (what was dropped or ignored is counted), not errors
TOLERATED = {
    ("COCO_evaluator/main.py", "COCO JSON: image_id unknown"): "refer to images absent",
    ("cad/train_net.py", "COCO JSON: odd-length polygon"): "dropped 1 of",
    ("cad/train_net.py", "COCO JSON: polygon of strings"): "dropped 1 of",
    ("COCO_evaluator/main.py", "predictions: bbox NaN"): "negative or non-finite",
}


def _tolerated(cases: list[Case]) -> list[Case]:
    for c in cases:
        warning = TOLERATED.get((c.script, c.what))
        if warning:
            c.expect, c.warning = "ok", warning
    return cases


def coco_cases(fx: dict, tmp: Path) -> list[Case]:
    cases = []
    out = tmp / "out"
    for k, (what, content) in enumerate(coco_mutations(fx)):
        path = _write(
            tmp / "coco" / f"bad_{k}.json", content if isinstance(content, str) else json.dumps(content)
        )
        users = [
            ("tools/check_coco_json.py", [path], "defects"),
            (
                "tools/convert_to_cls_agnostic.py",
                ["--input", path, "--output", str(out / f"agn_{k}.json")],
                "error",
            ),
            (
                "merge_coco_and_imagenet.py",
                [
                    "--coco_annotations_training_format_path",
                    path,
                    "--imagenet_annotations_training_format_path",
                    fx["votecut"],
                    "--output_path",
                    str(out / f"merged_{k}.json"),
                ],
                "error",
            ),
            (
                "post_process.py",
                [
                    "--pred_annotations_path",
                    fx["scored"],
                    "--gt_annotations",
                    path,
                    "--output_path",
                    str(out / f"pp_{k}.json"),
                ],
                "error",
            ),
            (
                "COCO_evaluator/main.py",
                [
                    "--gt_annotations",
                    path,
                    "--pred_annotations",
                    fx["results"],
                    "--output_dir",
                    str(out / f"ev_{k}"),
                ],
                "error",
            ),
            (
                "object_reasoning.py",
                [
                    "--image_dir",
                    str(fx["scenes"]),
                    "--oracle_annotations",
                    path,
                    "--output_dir",
                    str(out / f"reason_{k}"),
                    "--device",
                    "cpu",
                    "--num_workers",
                    "0",
                ],
                "error",
            ),
            (
                "tools/preprocess_votecut.py",
                ["--votecut_json", path, "--out_dir", str(out / f"vc_{k}")],
                "error",
            ),
            (
                "COCO*/utils/compute_category_stats.py",
                ["--labels", path, "--out", str(out / f"st_{k}.json")],
                "error",
            ),
        ]
        users.append(
            (
                "cad/train_net.py",
                [
                    "--config-file",
                    "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml",
                    "--train-json",
                    path,
                    "--train-image-root",
                    str(fx["scenes"]),
                    "SOLVER.MAX_ITER",
                    "1",
                    "DATASETS.TEST",
                    "()",
                    "OUTPUT_DIR",
                    str(out / f"det_{k}"),
                ],
                "error",
            )
        )
        # every file through the checker and, in turn, through 4 of the 8 stages that read COCO JSON
        chosen = [users[0]] + [users[1 + (2 * k + j) % (len(users) - 1)] for j in range(4)]
        for script, args, expect in chosen:
            cases.append(Case(script, args, f"COCO JSON: {what}", expect))
    return cases


def result_cases(fx: dict, tmp: Path) -> list[Case]:
    """Spoiled predictions (evaluator), scored results (post_process) and raw boxes (scoring)."""
    gt = fx["gt"]
    first = gt["annotations"][0]
    good = {"image_id": first["image_id"], "category_id": 1, "bbox": first["bbox"], "score": 0.5}
    preds = [
        ("all image ids wrong", [{**good, "image_id": 99999}]),
        ("bbox NaN", [{**good, "bbox": [1, 1, float("nan"), 3]}]),
        ("bbox a number", [{**good, "bbox": 5}]),
        ("bbox strings", [{**good, "bbox": ["a", "b", "c", "d"]}]),
        ("score a string", [{**good, "score": "high"}]),
        ("score NaN", [{**good, "score": float("nan")}]),
        ("no image_id", [{k: v for k, v in good.items() if k != "image_id"}]),
        ("image_id a dict", [{**good, "image_id": {"id": 1}}]),
        ("corrupt mask", [{**good, "segmentation": {"size": [5, 5], "counts": "!!"}}]),
        ("a string", "results"),
        ("discovery box 3 numbers", {str(first["image_id"]): [[1, 2, 3]]}),
        ("discovery box strings", {str(first["image_id"]): [["a", "b", "c", "d"]]}),
    ]
    cases = []
    for k, (what, content) in enumerate(preds):
        path = _write(tmp / "preds" / f"pred_{k}.json", json.dumps(content))
        cases.append(
            Case(
                "COCO_evaluator/main.py",
                [
                    "--gt_annotations",
                    fx["gt_path"],
                    "--pred_annotations",
                    path,
                    "--output_dir",
                    str(tmp / "out" / f"evp_{k}"),
                ],
                f"predictions: {what}",
            )
        )
    scored = json.loads(Path(fx["scored"]).read_text())
    spoiled = [
        ("center_score NaN", lambda r: r.__setitem__("center_score", float("nan"))),
        ("existence_score a string", lambda r: r.__setitem__("existence_score", "x")),
        ("image ids not in the list", lambda r: r.__setitem__("image_id", 424242)),
        ("bbox NaN", lambda r: r.__setitem__("bbox", [1, 1, float("nan"), 3])),
        ("bbox negative", lambda r: r.__setitem__("bbox", [1, 1, -3, 3])),
        ("corrupt RLE", lambda r: r.__setitem__("segmentation", {"size": [64, 64], "counts": "PPP"})),
        ("no scores", lambda r: r.pop("area_score")),
        ("image_id a list", lambda r: r.__setitem__("image_id", [1])),
    ]
    for k, (what, fn) in enumerate(spoiled):
        data = copy.deepcopy(scored)
        for r in data:
            fn(r)
        path = _write(tmp / "scored" / f"scored_{k}.json", json.dumps(data))
        cases.append(
            Case(
                "post_process.py",
                [
                    "--pred_annotations_path",
                    path,
                    "--gt_annotations",
                    fx["gt_path"],
                    "--output_path",
                    str(tmp / "out" / f"pps_{k}.json"),
                ],
                f"scored results: {what}",
            )
        )
    stem = next(iter(json.loads(Path(fx["raw"]).read_text())))
    raws = [
        ("8-number box", {stem: [[1, 1, 20, 20, 5, 5, 30, 30]]}, "error", ""),
        ("NaN box", {stem: [[1, 1, float("nan"), 20]]}, "error", ""),
        ("1e9 box", {stem: [[1, 1, 1e9, 20]]}, "error", ""),
        ("string box", {stem: [["1", "1", "20", "20"]]}, "error", ""),
        ("boxes a string", {stem: "1 1 20 20"}, "error", ""),
        ("a list, not a dict", [[1, 1, 20, 20]], "error", ""),
        ("zero-area box", {stem: [[5, 5, 5, 20], [4, 4, 30, 30]]}, "ok", "dropped 1 boxes with zero area"),
        ("inverted box", {stem: [[30, 30, 4, 4], [4, 4, 30, 30]]}, "ok", "dropped 1 boxes with zero area"),
    ]
    for k, (what, content, expect, warning) in enumerate(raws):
        path = _write(tmp / "raw" / f"raw_{k}.json", json.dumps(content))
        cases.append(
            Case(
                "object_scoring.py",
                [
                    "--image_dir",
                    str(fx["scenes"]),
                    "--annotations",
                    fx["gt_path"],
                    "--oracle_annotations",
                    fx["gt_path"],
                    "--raw_annotations_path",
                    path,
                    "--output_dir",
                    str(tmp / "out" / f"score_{k}"),
                    "--device",
                    "cpu",
                    "--num_workers",
                    "0",
                ],
                f"raw boxes: {what}",
                expect,
                warning,
            )
        )
    return cases


# --------------------------------------------------------------------------------------------- flags and keys
# thresholds on the boundary field, which can be negative (a linear sdf output)
NEGATIVE_OK = {"--max_sdf_thres", "--boundary_score_thres"}
BAD_NUMBERS = {"negative": "-1", "NaN": "nan", "inf": "inf", "text": "abc"}


def flag_cases(fx: dict, tmp: Path) -> list[Case]:
    out = tmp / "out"
    reasoning = [
        "--image_dir",
        str(fx["scenes"]),
        "--annotations",
        fx["gt_path"],
        "--oracle_annotations",
        fx["gt_path"],
        "--device",
        "cpu",
        "--output_dir",
        str(out / "rflags"),
    ]
    scoring = [
        "--image_dir",
        str(fx["scenes"]),
        "--annotations",
        fx["gt_path"],
        "--oracle_annotations",
        fx["gt_path"],
        "--device",
        "cpu",
        "--raw_annotations_path",
        fx["raw"],
        "--output_dir",
        str(out / "sflags"),
    ]
    stage1 = [
        "--train_center_and_boundary",
        "--imagenet_root",
        str(fx["single"]),
        "--mask_root",
        str(fx["single"] / "masks_top1_single_component"),
        "--output_dir",
        str(out / "s1"),
        "--device",
        "cpu",
        "--num_workers",
        "0",
        "--max_iters",
        "1",
        "--crop_size",
        "32",
        "--batch_size",
        "2",
    ]
    tiny = [
        "--config-file",
        "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml",
        "--train-json",
        fx["gt_path"],
        "--train-image-root",
        str(fx["scenes"]),
        "DATASETS.TEST",
        "()",
    ]
    specs = [
        (
            "object_reasoning.py",
            reasoning,
            [
                "--n_round",
                "--delta_ratio",
                "--max_sdf_thres",
                "--class_score_thres",
                "--center_score_max_thres",
                "--max_shrink_threshold",
                "--proposal_area_thres",
                "--batch_size",
                "--crop_size",
                "--gpu_index",
                "--max_image_pixels",
                "--merge_iou",
            ],
        ),
        ("object_scoring.py", scoring, ["--nms_iou", "--batch_size", "--crop_size"]),
        (
            "train_objectness_net.py",
            stage1,
            [
                "--learning_rate",
                "--random_crop_scale_min",
                "--lr_scheduler_gamma",
                "--ckpt_interval",
                "--log_interval",
            ],
        ),
        (
            "post_process.py",
            [
                "--pred_annotations_path",
                fx["scored"],
                "--gt_annotations",
                fx["gt_path"],
                "--output_path",
                str(out / "ppf.json"),
            ],
            ["--existence_score_thres", "--center_score_thres", "--boundary_score_thres"],
        ),
        (
            "merge_coco_and_imagenet.py",
            [
                "--coco_annotations_training_format_path",
                fx["gt_path"],
                "--imagenet_annotations_training_format_path",
                fx["votecut"],
                "--output_path",
                str(out / "mf.json"),
            ],
            ["--min_weight"],
        ),
        (
            "COCO_evaluator/main.py",
            [
                "--gt_annotations",
                fx["gt_path"],
                "--pred_annotations",
                fx["results"],
                "--output_dir",
                str(out / "evf"),
            ],
            ["--max_dets"],
        ),
        (
            "tools/make_synthetic_data.py",
            ["--out", str(out / "synth"), "--skip_single"],
            ["--train_scenes", "--val_scenes", "--max_objects", "--scene_size_jitter"],
        ),
        (
            "cad/demo.py",
            ["--input", fx["text_jpg"], "--output", str(out / "demof")],
            ["--confidence-threshold"],
        ),
        (
            "eval_objectness_net.py",
            ["--checkpoint", fx["unrelated"], "--imagenet_root", str(fx["single"])],
            ["--batch_size", "--samples_per_image", "--crop_size"],
        ),
        ("cad/train_net.py", tiny, ["--num-gpus", "--coco-repeat"]),
    ]
    cases = []
    for script, base, flags in specs:
        for flag in flags:
            for kind, value in BAD_NUMBERS.items():
                if kind == "text" and flag not in (flags[0], flags[-1]):
                    continue  # a non-number is one argparse rule: two flags per script suffice
                if kind == "negative" and flag in NEGATIVE_OK:
                    continue
                cases.append(Case(script, [*base, flag, value], f"{flag} {kind} ({value})"))
    zero_ok = {
        "--n_round",
        "--max_sdf_thres",
        "--center_score_max_thres",
        "--max_shrink_threshold",
        "--proposal_area_thres",
        "--merge_iou",
        "--class_score_thres",
        "--nms_iou",
        "--existence_score_thres",
        "--center_score_thres",
        "--boundary_score_thres",
        "--min_weight",
        "--train_scenes",
        "--val_scenes",
        "--scene_size_jitter",
        "--confidence-threshold",
        "--gpu_index",
    }
    for script, base, flags in specs:
        for flag in flags:
            if flag not in zero_ok:
                cases.append(Case(script, [*base, flag, "0"], f"{flag} zero"))
    cases += [
        Case("object_reasoning.py", [*reasoning, "--class_score_thres", "2"], "--class_score_thres 2"),
        Case("object_reasoning.py", [*reasoning, "--delta_ratio", "1.5"], "--delta_ratio 1.5"),
        Case(
            "post_process.py",
            [
                "--pred_annotations_path",
                fx["scored"],
                "--gt_annotations",
                fx["gt_path"],
                "--center_score_thres",
                "1.5",
            ],
            "--center_score_thres 1.5",
        ),
        Case(
            "tools/make_synthetic_data.py",
            ["--out", str(out / "synth2"), "--skip_single", "--min_objects", "5", "--max_objects", "2"],
            "--min_objects > --max_objects",
        ),
        Case(
            "train_objectness_net.py",
            [*stage1, "--random_crop_scale_min", "0.9", "--random_crop_scale_max", "0.5"],
            "crop scale min > max",
        ),
    ]
    return cases


def key_cases(fx: dict, tmp: Path) -> list[Case]:
    rmonet = ["--config", fx["rmonet_yaml"], "--device", "cpu", "--output_dir", str(tmp / "out" / "rm")]
    sets = [
        "train.max_iters=-3",
        "train.max_iters=0",
        "train.grad_clip=-1",
        "train.batch_size=0",
        "train.lr=-1e-3",
        "train.lr=nan",
        "train.lr=.inf",
        "train.max_epochs=-2",
        "train.max_minutes=0",
        "train.log_every=0",
        "train.ckpt_every=0",
        "train.eval_every=-1",
        "train.schedule.cycle=0",
        "train.schedule.warmup=-1",
        "model.num_slots=1",
        "model.z_dim=0",
        "model.sigma_fg=0",
        "model.rpn.fg_iou_thresh=1.5",
        "model.rpn.anchor_sizes=[16,-32]",
        "loss.beta=-1",
        "data.image_size=0",
        "data.num_train=0",
        "eval.box_score_thresh=2",
        "train.max_iters=abc",
        "train.batch_size=2.5",
        "train.max_iter=10",
        "train=5",
        "model.variant=nope",
    ]
    cases = [Case("train_rmonet.py", [*rmonet, "--set", s], f"--set {s}") for s in sets]
    tiny = [
        "--config-file",
        "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml",
        "--train-json",
        fx["gt_path"],
        "--train-image-root",
        str(fx["scenes"]),
        "DATASETS.TEST",
        "()",
        "OUTPUT_DIR",
        str(tmp / "out" / "detk"),
    ]
    keys = [
        ("SOLVER.IMS_PER_BATCH", "0"),
        ("SOLVER.MAX_ITER", "0"),
        ("SOLVER.BASE_LR", "-0.01"),
        ("SOLVER.BASE_LR", "0.0"),
        ("SOLVER.MOMENTUM", "1.5"),
        ("SOLVER.WEIGHT_DECAY", "-1e-4"),
        ("SOLVER.GAMMA", "0.0"),
        ("SOLVER.STEPS", "(10,-5)"),
        ("SOLVER.WARMUP_ITERS", "-1"),
        ("SOLVER.CHECKPOINT_PERIOD", "0"),
        ("DATALOADER.NUM_WORKERS", "-1"),
        ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.5"),
        ("MODEL.ROI_HEADS.NMS_THRESH_TEST", "-0.5"),
        ("TEST.DETECTIONS_PER_IMAGE", "0"),
        ("INPUT.MIN_SIZE_TRAIN", "(0,)"),
        ("INPUT.MAX_SIZE_TRAIN", "0"),
        ("SOLVER.IMS_PER_BATCH", "abc"),
        ("SOLVER.NO_SUCH_KEY", "1"),
        ("TEST.AUG.ENABLED", "True"),
    ]
    cases += [Case("cad/train_net.py", [*tiny, k, v], f"{k} {v}") for k, v in keys]
    return cases


# --------------------------------------------------------------------------------------------- devices, files
def misc_cases(fx: dict, tmp: Path) -> list[Case]:
    out = tmp / "out"
    root = fx["root"]
    tiny_cfg = "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"
    garbage = _write(root / "garbage.pth", "not a checkpoint")
    empty_dir = root / "no_images"
    empty_dir.mkdir(exist_ok=True)
    reasoning = ["--oracle_annotations", fx["gt_path"], "--output_dir", str(out / "rm"), "--num_workers", "0"]
    listed = ["--annotations", fx["gt_path"]]
    stage1 = [
        "--train_center_and_boundary",
        "--imagenet_root",
        str(fx["single"]),
        "--output_dir",
        str(out / "s1m"),
        "--num_workers",
        "0",
        "--max_iters",
        "1",
        "--crop_size",
        "32",
        "--batch_size",
        "2",
    ]
    mask_root = str(fx["single"] / "masks_top1_single_component")
    detector_eval = ["--config-file", tiny_cfg, "--eval-only", "--test-json", fx["gt_path"],
                     "--test-image-root", str(fx["scenes"])]
    cases = [
        Case(
            "object_reasoning.py",
            ["--image_dir", str(fx["scenes"]), *reasoning, "--gpu_index", "0"],
            "--gpu_index 0 without a GPU",
        ),
        Case(
            "object_reasoning.py",
            ["--image_dir", str(fx["scenes"]), *reasoning, "--device", "cuda"],
            "--device cuda without a GPU",
        ),
        Case(
            "object_reasoning.py",
            ["--image_dir", str(fx["scenes"]), *reasoning, "--device", "tpu"],
            "--device tpu",
        ),
        Case(
            "object_reasoning.py",
            ["--image_dir", str(empty_dir), *reasoning, "--device", "cpu"],
            "empty --image_dir",
        ),
        Case(
            "object_reasoning.py",
            ["--image_dir", str(root / "nope"), *reasoning, "--device", "cpu"],
            "missing --image_dir",
        ),
        Case(
            "object_reasoning.py",
            [
                "--image_dir",
                str(fx["scenes"]),
                "--objectness_resume",
                garbage,
                "--binary_classifier_resume",
                garbage,
                "--device",
                "cpu",
                "--output_dir",
                str(out / "rg"),
            ],
            "garbage checkpoints",
        ),
        Case(
            "object_reasoning.py",
            [
                "--image_dir",
                str(fx["scenes"]),
                "--objectness_resume",
                fx["unrelated"],
                "--binary_classifier_resume",
                fx["unrelated"],
                "--device",
                "cpu",
                "--output_dir",
                str(out / "ru"),
            ],
            "unrelated checkpoints",
        ),
        Case(
            "object_reasoning.py",
            [
                "--image_dir",
                str(fx["scenes"]),
                *listed,
                *reasoning,
                "--device",
                "cpu",
                "--max_image_pixels",
                "100",
            ],
            "every image above --max_image_pixels",
        ),
        Case(
            "train_objectness_net.py",
            [*stage1, "--mask_root", mask_root, "--device", "cuda"],
            "--device cuda without a GPU",
        ),
        Case(
            "train_objectness_net.py",
            [*stage1, "--mask_root", str(root / "empty_masks"), "--device", "cpu"],
            "empty --mask_root",
        ),
        Case(
            "train_objectness_net.py",
            [*stage1, "--mask_root", mask_root, "--device", "cpu", "--resume", garbage],
            "garbage --resume checkpoint",
        ),
        Case(
            "eval_objectness_net.py",
            ["--checkpoint", garbage, "--imagenet_root", str(fx["single"])],
            "garbage --checkpoint",
        ),
        Case(
            "eval_objectness_net.py",
            ["--checkpoint", fx["unrelated"], "--imagenet_root", str(fx["single"])],
            "unrelated --checkpoint",
        ),
        Case(
            "eval_objectness_net.py",
            ["--checkpoint", str(root / "nope.pth"), "--imagenet_root", str(fx["single"])],
            "missing --checkpoint",
        ),
        Case(
            "train_rmonet.py",
            ["--config", fx["rmonet_yaml"], "--device", "cuda"],
            "--device cuda without a GPU",
        ),
        Case("train_rmonet.py", ["--config", str(root / "nope.yaml")], "missing --config"),
        Case("train_rmonet.py", ["--config", _write(root / "bad.yaml", "train: [1, 2")], "invalid YAML"),
        Case("train_rmonet.py", ["--eval", garbage, "--device", "cpu"], "garbage --eval checkpoint"),
        Case(
            "train_rmonet.py",
            [
                "--config",
                fx["rmonet_yaml"],
                "--resume",
                garbage,
                "--device",
                "cpu",
                "--output_dir",
                str(out / "rmr"),
            ],
            "garbage --resume checkpoint",
        ),
        Case("cad/train_net.py", [*detector_eval, "MODEL.WEIGHTS", ""],
             "--eval-only with empty MODEL.WEIGHTS"),
        Case(
            "cad/train_net.py",
            [*detector_eval, "MODEL.WEIGHTS", fx["unrelated"], "OUTPUT_DIR", str(out / "deu")],
            "--eval-only with unrelated MODEL.WEIGHTS",
        ),
        Case("cad/train_net.py", [*detector_eval, "MODEL.WEIGHTS", garbage],
             "--eval-only with garbage MODEL.WEIGHTS"),
        Case(
            "cad/train_net.py",
            [
                "--config-file",
                tiny_cfg,
                "--train-json",
                fx["gt_path"],
                "--train-image-root",
                str(fx["scenes"]),
                "MODEL.DEVICE",
                "cuda",
            ],
            "MODEL.DEVICE cuda without a GPU",
        ),
        Case(
            "cad/train_net.py",
            ["--config-file", tiny_cfg, "--train-json", fx["gt_path"]],
            "--train-json without --train-image-root",
        ),
        Case("cad/train_net.py", ["--config-file", str(root / "nope.yaml")], "missing --config-file"),
        Case(
            "cad/demo.py",
            [
                "--config-file",
                tiny_cfg,
                "--input",
                fx["text_jpg"],
                "--output",
                str(out / "d1"),
                "MODEL.WEIGHTS",
                fx["unrelated"],
            ],
            "unrelated MODEL.WEIGHTS",
        ),
        Case(
            "cad/demo.py",
            ["--config-file", tiny_cfg, "--input", fx["text_jpg"], "--output", str(out / "d2")],
            "empty MODEL.WEIGHTS",
        ),
        Case(
            "cad/demo.py",
            ["--config-file", tiny_cfg, "--input", str(root / "*.nothing"), "--output", str(out / "d3")],
            "input glob matching nothing",
        ),
        Case("cad/tools/convert_checkpoint.py", [garbage, str(out / "c.pkl")], "garbage checkpoint"),
        Case(
            "cad/tools/convert_checkpoint.py",
            [str(root / "nope.pth"), str(out / "c2.pkl")],
            "missing checkpoint",
        ),
        Case(
            "cad/tools/convert_checkpoint.py",
            ["--config-file", tiny_cfg, fx["unrelated"], str(out / "c3.pkl")],
            "unrelated weights into a config's model",
        ),
        Case(
            "tools/preprocess_votecut.py",
            ["--votecut_json", fx["votecut"], "--out_dir", str(out / "vcs"), "--shard", "5/2"],
            "--shard 5/2",
        ),
        Case(
            "tools/preprocess_votecut.py",
            ["--votecut_json", fx["votecut"], "--out_dir", str(out / "vcw"), "--num_workers", "-2"],
            "--num_workers -2",
        ),
        Case("tools/check_coco_json.py", [str(root / "nope.json")], "missing file"),
        Case("tools/check_coco_json.py", [fx["gt_path"], "--tolerance", "nan"], "--tolerance nan"),
        Case("tools/check_coco_json.py", [fx["gt_path"]], "a valid file", "ok"),
        Case(
            "tools/make_synthetic_data.py",
            [
                "--out",
                str(out / "crowded"),
                "--skip_single",
                "--scene_size",
                "48",
                "--train_scenes",
                "2",
                "--val_scenes",
                "0",
                "--max_objects",
                "60",
            ],
            "--max_objects 60 on 48x48 scenes",
            "ok",
            "too small for that many",
        ),
        Case(
            "COCO*/utils/merge_extra_labels_with_original.py",
            ["--original", fx["gt_path"], "--extra", fx["text_jpg"], "--out", str(out / "m.json")],
            "--extra not JSON",
        ),
        Case(
            "COCO*/utils/generate_mask_for_extra_coco_labels.py",
            [
                "--boxes",
                fx["gt_path"],
                "--image_dir",
                str(fx["scenes"]),
                "--sam_checkpoint",
                garbage,
                "--device",
                "cpu",
                "--out",
                str(out / "sam.json"),
            ],
            "garbage SAM checkpoint",
        ),
        Case(
            "COCO*/utils/generate_mask_for_extra_coco_labels.py",
            [
                "--boxes",
                fx["gt_path"],
                "--image_dir",
                str(fx["scenes"]),
                "--sam_checkpoint",
                garbage,
                "--box_batch",
                "0",
            ],
            "--box_batch 0",
        ),
    ]
    return cases


def all_cases(fx: dict, tmp: Path) -> list[Case]:
    return _tolerated(
        [
            *flag_cases(fx, tmp),
            *key_cases(fx, tmp),
            *coco_cases(fx, tmp),
            *result_cases(fx, tmp),
            *misc_cases(fx, tmp),
        ]
    )


# --------------------------------------------------------------------------------------------- running
PRELOAD = (
    "torch",
    "torchvision",
    "numpy",
    "PIL.Image",
    "yaml",
    "pycocotools.mask",
    "utils.io",
    "utils.config",
    "coco_tools.checker",
    "reasoning.cli",
    "training.objectness.args",
    "training.rmonet.loop",
    "cad.engine.defaults",
    "cad.modeling",
    "COCO_evaluator.evaluate",
)


def _child(case: Case, env: dict, out_fd: int, err_fd: int, memory_mb: int) -> None:
    """In the forked child: `python SCRIPT ARGS` semantics (argv, `__main__`, exit status, an uncaught
    exception's traceback on stderr) with stdout/stderr on the given files; never returns."""
    code = 1
    try:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 4 << 20, memory_mb * 4 << 20))
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.environ.update({**env, **case.env})
        os.chdir(REPO)
        script = REPO / case.script
        sys.argv = [str(script), *case.args]
        try:
            runpy.run_path(str(script), run_name="__main__")
            code = 0
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - what the interpreter would print
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed stream: nothing left to flush
                pass
        os._exit(code)


def run_case(case: Case, timeout: float, memory_mb: int, env: dict, fork: bool) -> dict:
    """Run one case in its own process and process group (a fresh interpreter, or with `fork` a child of
    this process, which has imported `PRELOAD`); returns its outcome and evidence."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 4 << 20, memory_mb * 4 << 20))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.time()
        sys.stdout.flush()
        if fork:
            pid = os.fork()
            if pid == 0:
                _child(case, env, out.fileno(), err.fileno(), memory_mb)
        else:
            pid = subprocess.Popen(
                [sys.executable, case.script, *case.args],
                cwd=REPO,
                stdout=out,
                stderr=err,
                env={**env, **case.env},
                start_new_session=True,
                preexec_fn=limit,
            ).pid
        killed = []
        timer = threading.Timer(timeout, lambda: (killed.append(1), os.killpg(pid, signal.SIGKILL)))
        timer.start()
        _, status, usage = os.wait4(pid, 0)
        timer.cancel()
        rc = os.waitstatus_to_exitcode(status)
        seconds = time.time() - t0
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    rss_mb = usage.ru_maxrss / 1024
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    clear = last.startswith("error: ") or (": error: " in last and not last.startswith("Traceback"))
    if killed:
        outcome = "hang"
    elif rss_mb > memory_mb or "MemoryError" in stderr or rc in (-9, 137):
        outcome = "memory"
    elif "Traceback (most recent call last)" in stderr:
        outcome = "traceback"
    elif case.expect == "ok":
        if rc == 0:
            outcome = "handled" if case.warning in stdout + stderr else "silent wrong"
        else:
            outcome = "clear error" if clear else "unclear error"
    elif case.expect == "defects":
        done = stdout.strip().splitlines()[-1:] if stdout.strip() else []
        ok = (rc == 1 and done and "defects" in done[0]) or (rc == 2 and clear)
        outcome = "clear error" if ok else ("silent wrong" if rc == 0 else "unclear error")
    elif rc == 0:
        outcome = "silent wrong"
    else:
        outcome = "clear error" if clear else "unclear error"
    return {
        "script": case.script,
        "what": case.what,
        "args": case.args,
        "expect": case.expect,
        "outcome": outcome,
        "returncode": rc,
        "seconds": round(seconds, 1),
        "max_rss_mb": round(rss_mb),
        "last_line": (last or (stdout.strip().splitlines() or [""])[-1])[:300],
        "stderr_tail": stderr[-1500:] if outcome not in ("clear error", "handled") else "",
    }


def table(results: list[dict]) -> str:
    counts = Counter(r["outcome"] for r in results)
    lines = ["| outcome | count |", "|---|---|"]
    lines += [f"| {o} | {counts.get(o, 0)} |" for o in OUTCOMES]
    lines += [
        f"| **total** | **{len(results)}** |",
        "",
        "| script | cases | " + " | ".join(OUTCOMES) + " |",
        "|---|---|" + "---|" * len(OUTCOMES),
    ]
    by_script: dict = defaultdict(Counter)
    for r in results:
        by_script[r["script"]][r["outcome"]] += 1
    for script in sorted(by_script):
        c = by_script[script]
        lines.append(
            f"| `{script}` | {sum(c.values())} | " + " | ".join(str(c.get(o, 0)) for o in OUTCOMES) + " |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", default="", help="run the cases whose script or description contains this")
    p.add_argument("--timeout", type=float, default=120, help="seconds before a case counts as a hang")
    p.add_argument(
        "--memory_mb",
        type=int,
        default=3000,
        help="resident memory above which a case counts as "
        "a memory blow-up (the address space is capped at 4x this)",
    )
    p.add_argument("--output_dir", "--out", dest="out", default="outputs/probe_bad_inputs",
                   help="results.json and table.md go here")
    p.add_argument("--list", action="store_true", help="only list the cases")
    p.add_argument(
        "--spawn",
        action="store_true",
        help="a fresh interpreter per case (default: a child forked "
        "from this process after it imported torch and the project once; same isolation, far faster)",
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe_bad_inputs_") as tmpdir:
        tmp = Path(tmpdir)
        fx = build_fixtures(tmp / "fixtures")
        cases = [c for c in all_cases(fx, tmp) if args.only in c.script or args.only in c.what]
        if args.list:
            for c in cases:
                print(f"{c.script}: {c.what}")
            print(f"{len(cases)} cases")
            return 0
        env = {
            "OMP_NUM_THREADS": "1",
            "DETECTRON2_DATASETS": str(tmp / "fixtures"),
            "PYTHONWARNINGS": "ignore",
        }
        os.environ.update(env)  # before the preloaded modules read it
        if not args.spawn:
            for name in PRELOAD:
                importlib.import_module(name)
        results = []
        t0 = time.time()
        for k, case in enumerate(cases):
            r = run_case(case, args.timeout, args.memory_mb, {**os.environ, **env}, not args.spawn)
            results.append(r)
            flag = "" if r["outcome"] in ("clear error", "handled") else f"   <-- {r['last_line'][:150]}"
            print(
                f"[{k + 1}/{len(cases)} {time.time() - t0:5.0f}s] {r['outcome']:13s} {case.script}: "
                f"{case.what}{flag}",
                flush=True,
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    text = table(results)
    (out / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    run_cli(main)
