"""The scripts whose flags moved onto typed configs parse a realistic command line to the same values as
their argparse code did before (the expected values below are what the old parsers returned, with the old
`dest` names `out`, `out_dir`, `output` now the flag names `output_path`/`output_dir`), and the shared
runtime section keeps one help and range per setting."""

import dataclasses
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from utils.config import option, typed_parser
from utils.runtime_config import RuntimeConfig, runtime_help, runtime_option

REPO = Path(__file__).resolve().parents[1]

# name: (script, command line, the values its old parser gave)
CASES = {
    "merge_coco_and_imagenet": (
        "merge_coco_and_imagenet.py",
        "--coco_annotations_training_format_path c.json --imagenet_annotations_training_format_path "
        "i.json --min_weight 0.3 --output_path o.json --overwrite",
        {"coco_annotations_training_format_path": "c.json",
         "imagenet_annotations_training_format_path": "i.json",
         "min_weight": 0.3,
         "output_path": "o.json",
         "overwrite": True}),
    "evaluator": (
        "COCO_evaluator/main.py",
        "--gt_annotations g.json --pred_annotations p.json --tasks bbox --max_dets 1 10 1000 --strict",
        {"gt_annotations": "g.json",
         "max_dets": [1, 10, 1000],
         "output_dir": None,
         "pred_annotations": "p.json",
         "strict": True,
         "tasks": ["bbox"],
         "verbose": False}),
    "category_stats": (
        "COCO*/utils/compute_category_stats.py",
        "--labels l.json --out s.json",
        {"labels": "l.json", "output_path": "s.json"}),
    "sam_masks": (
        "COCO*/utils/generate_mask_for_extra_coco_labels.py",
        "--boxes b.json --image_dir imgs --sam_checkpoint sam_vit_b_01ec64.pth --model_type vit_b --out "
        "m.json --device cpu --box_batch 8",
        {"box_batch": 8,
         "boxes": "b.json",
         "category_attribute": "category",
         "device": "cpu",
         "image_dir": "imgs",
         "model_type": "vit_b",
         "output_path": "m.json",
         "reference": None,
         "sam_checkpoint": "sam_vit_b_01ec64.pth"}),
    "merge_extra": (
        "COCO*/utils/merge_extra_labels_with_original.py",
        "--original o.json --extra e.json",
        {"extra": "e.json", "original": "o.json", "output_path": "COCO_star_val2017.json"}),
    "check_coco_json": (
        "tools/check_coco_json.py",
        "a.json b.json --tolerance 0.5 --skip_rle_counts --max_print 3",
        {"json_files": ["a.json", "b.json"], "max_print": 3, "skip_rle_counts": True, "tolerance": 0.5}),
    "cls_agnostic": (
        "tools/convert_to_cls_agnostic.py",
        "--input i.json --output o.json --drop_crowd",
        {"drop_crowd": True, "input": "i.json", "output_path": "o.json"}),
    "synthetic": (
        "tools/make_synthetic_data.py",
        "--out d --seed 3 --image_size 64 --scene_size 64x96 --layout touching --size_jitter 0 --skip_single",
        {"heldout_classes": 8,
         "heldout_images_per_class": 8,
         "heldout_seed": None,
         "image_size": [64, 64],
         "images_per_class": 40,
         "layout": "touching",
         "max_objects": 6,
         "min_objects": 2,
         "num_classes": 8,
         "output_dir": "d",
         "overwrite": False,
         "scene_size": [64, 96],
         "scene_size_jitter": 0.1,
         "seed": 3,
         "size_jitter": 0.0,
         "skip_scenes": False,
         "skip_single": True,
         "train_scenes": 40,
         "val_scenes": 24}),
    "votecut": (
        "tools/preprocess_votecut.py",
        "--votecut_json v.json --out_dir o --num_workers 2 --shard 0/2",
        {"num_workers": 2, "output_dir": "o", "overwrite": False, "shard": "0/2", "votecut_json": "v.json"}),
    "votecut_original_path": (
        "utils/preprocess_votecut.py",
        "--votecut_json v.json --output_dir o",
        {"num_workers": 0, "output_dir": "o", "overwrite": False, "shard": None, "votecut_json": "v.json"}),
    "main_job_report": (
        "tools/main_job_report.py",
        "--gt_annotations g.json --image_dir imgs --row a=x.json --row b=c=y.json --stage1 s.json "
        "--out_dir o --overlay_score 0.25",
        {"gt_annotations": "g.json",
         "image_dir": "imgs",
         "num_overlays": 4,
         "output_dir": "o",
         "overlay_score": 0.25,
         "pseudo_labels": None,
         "row": [["a", "x.json"], ["b", "c=y.json"]],
         "stage1": ["s.json"]}),
    "check_setup": (
        "tools/check_setup.py",
        "--data_root d --steps 'stage 1' --sample 5 --max_json_mb 1.5",
        {"data_root": "d",
         "downloads": False,
         "max_json_mb": 1.5,
         "repo": ".",
         "sample": 5,
         "steps": ["stage 1"],
         "weights_dir": "weights",
         "detector_config": str(REPO / "cad/model_zoo/configs/unMORE-IN+COCO"
                                / "cascade_mask_rcnn_R_50_FPN.yaml")}),
    "demo": (
        "cad/demo.py",
        "--config-file c.yaml --input a.jpg --output o --device cpu --no-masks --confidence-threshold 0.5 "
        "--opts MODEL.WEIGHTS w.pth",
        {"confidence_threshold": 0.5,
         "config_file": "c.yaml",
         "device": "cpu",
         "input": ["a.jpg"],
         "no_masks": True,
         "opts": ["MODEL.WEIGHTS", "w.pth"],
         "opts_flag": ["MODEL.WEIGHTS", "w.pth"],
         "output_dir": "o",
         "overwrite": False}),
    "convert_checkpoint": (  # argparse's REMAINDER takes a flag after the positionals too (as before)
        "cad/tools/convert_checkpoint.py",
        "in.pth out.pkl --config-file c.yaml MODEL.DEVICE cpu",
        {"config_file": "",
         "input": "in.pth",
         "opts": ["--config-file", "c.yaml", "MODEL.DEVICE", "cpu"],
         "output": "out.pkl"}),
    "post_process": (
        "post_process.py",
        "--pred_annotations_path p.json --dataset COCO --split train --existence_score_thres 0.4",
        {"boundary_score_thres": 0.75,
         "center_score_thres": 0.8,
         "data_root": None,
         "dataset": "COCO",
         "existence_score_thres": 0.4,
         "gt_annotations": None,
         "output_path": None,
         "pred_annotations_path": "p.json",
         "split": "train"}),
    "train_rmonet": (
        "train_rmonet.py",
        "--config c.yaml --resume --set a=1 --set b.c=2 --device cpu --output_dir o",
        {"config_file": "c.yaml",
         "device": "cpu",
         "eval": None,
         "eval_dir": None,
         "eval_only": False,
         "output_dir": "o",
         "overrides": ["a=1", "b.c=2"],
         "resume": "auto"}),
    "discover": (  # of its many flags: the ones it declares itself and the runtime ones
        "discover.py",
        "a.jpg imgs --out o",
        {"images": ["a.jpg", "imgs"],
         "output_dir": "o",
         "device": None,
         "num_workers": 2,
         "seed": 0,
         "batch_size": "auto",
         "objectness": None,
         "original_behaviour": False}),
}

# Runs each script's main (cad/demo.py: its parse_args) by path in one interpreter and stops it right after
# argparse: prints {case: the parsed values}.
PARSE_DRIVER = """
import argparse, dataclasses, json, runpy, sys
cases = json.loads(sys.argv[1])
class Parsed(Exception):
    pass
parse_args = argparse.ArgumentParser.parse_args
def stop_after_parsing(parser, args=None, namespace=None):
    raise Parsed(vars(parse_args(parser, args, namespace)))
out = {}
for name, (path, argv) in cases.items():
    argparse.ArgumentParser.parse_args = stop_after_parsing
    script = runpy.run_path(path, run_name="parsed")
    try:
        if path == "cad/demo.py":
            argparse.ArgumentParser.parse_args = parse_args
            out[name] = dataclasses.asdict(script["parse_args"](argv))
        else:
            script["main"](argv)
    except Parsed as e:
        out[name] = e.args[0]
print(json.dumps(out, default=list))
"""


@pytest.fixture(scope="module")
def parsed() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cases = {name: [path, shlex.split(argv)] for name, (path, argv, _) in CASES.items()}
    r = subprocess.run(
        [sys.executable, "-c", PARSE_DRIVER, json.dumps(cases)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(CASES))
def test_converted_script_parses_as_before(parsed, name):
    values = parsed[name]
    expected = CASES[name][2]
    assert {k: values.get(k, "<missing>") for k in expected} == expected
    if name != "discover":
        assert set(values) == set(expected)


def test_runtime_option_keeps_the_shared_help_and_range():
    @dataclasses.dataclass(frozen=True)
    class Script:
        num_workers: int = runtime_option("num_workers", "decoding images", default=3)
        output_dir: str | None = runtime_option("output_dir", aliases=("--out",))

    p = typed_parser(None, Script)
    workers = next(a for a in p._actions if a.dest == "num_workers")
    assert workers.help == f"{runtime_help('num_workers')}; decoding images (>= 0)" and workers.default == 3
    assert next(a for a in p._actions if a.dest == "output_dir").option_strings == ["--output_dir", "--out"]
    with pytest.raises(SystemExit):
        p.parse_args(["--num_workers", "-1"])
    with pytest.raises(TypeError, match="come from RuntimeConfig"):
        runtime_option("seed", help="another seed")
    with pytest.raises(TypeError, match="come from RuntimeConfig"):
        runtime_option("num_workers", min=1)
    with pytest.raises(ValueError, match="not in utils/cli_vocabulary.py"):
        runtime_option("output_dir", aliases=("--dest",))
    assert {f.name for f in dataclasses.fields(RuntimeConfig)} == {
        "device",
        "seed",
        "num_workers",
        "output_dir",
        "output_path",
    }


def test_positional_and_respelt_fields():
    @dataclasses.dataclass(frozen=True)
    class Script:
        files: list[str] = option([], "inputs", positional=True)
        confidence_threshold: float = option(0.5, "score", flags=("--confidence-threshold",), min=0, max=1)

    p = typed_parser(None, Script)
    args = p.parse_args(["a", "b", "--confidence-threshold", "0.25"])
    assert args.files == ["a", "b"] and args.confidence_threshold == 0.25
    with pytest.raises(SystemExit):
        p.parse_args([])  # a positional list needs at least one item
