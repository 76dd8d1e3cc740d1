"""Bad input, one kind per row, per stage: each is refused with one line naming the flag, key or file, field
and problem (in-process: no interpreter is spawned). The same inputs, through every command line, are what
benchmarks/probe_bad_inputs.py measures."""

from __future__ import annotations

import copy
import json
import logging
import re

import pytest
import torch
from helpers import set_at, two_image_coco

from coco_tools.checker import load_coco_json, validate_coco, validate_discoveries
from utils.config import from_mapping
from utils.io import DataError, ImageTooLarge, load_image_rgb

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def logged():
    """Messages logged by the project's loggers during the test (they propagate to the root logger)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    collect = Collect()
    logging.getLogger().addHandler(collect)
    yield records
    logging.getLogger().removeHandler(collect)


# ------------------------------------------------------------------------------------------ flags and keys
def _parse_error(parser, argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        parser.parse_args(argv)
    assert e.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def _reasoning():
    from reasoning.cli import reasoning_parser

    return reasoning_parser()


def _scoring():
    from reasoning.cli import scoring_parser

    return scoring_parser()


def _stage1():
    from training.objectness.args import build_train_parser

    return build_train_parser()


def _post_process():
    import post_process

    return post_process.build_parser()


def _evaluator():
    from COCO_evaluator.main import build_parser

    return build_parser()


def _detector():
    from cad.engine.defaults import default_argument_parser

    return default_argument_parser()


def _synthetic():
    from tools.make_synthetic_data import build_parser

    return build_parser()


FLAG_CASES = [
    (_reasoning, ["--n_round", "-1"], "--n_round: must be >= 0, got -1"),
    (_reasoning, ["--delta_ratio", "-1"], "--delta_ratio: must be > 0, got -1"),
    (_reasoning, ["--delta_ratio", "1"], "--delta_ratio: must be < 1, got 1"),
    (_reasoning, ["--max_sdf_thres", "nan"], "--max_sdf_thres: must be a finite number, got nan"),
    (_reasoning, ["--class_score_thres", "2"], "--class_score_thres: must be <= 1, got 2"),
    (_reasoning, ["--batch_size", "0"], "--batch_size: must be >= 1, got 0"),
    (_reasoning, ["--gpu_index", "-1"], "--gpu_index: must be >= 0, got -1"),
    (_reasoning, ["--crop_size", "1"], "--crop_size/--image_size: must be >= 8, got 1"),
    (_scoring, ["--nms_iou", "1.5"], "--nms_iou: must be <= 1, got 1.5"),
    (_stage1, ["--crop_size", "0"], "--crop_size/--image_size: must be >= 8, got 0"),
    (_stage1, ["--learning_rate", "-0.1"], "--learning_rate: must be > 0, got -0.1"),
    (_stage1, ["--max_iters", "0"], "--max_iters/--train_iter: must be >= 1, got 0"),
    (_stage1, ["--batch_size", "inf"], "--batch_size: invalid int value: 'inf'"),
    (_post_process, ["--center_score_thres", "1.5"], "--center_score_thres: must be <= 1, got 1.5"),
    (_post_process, ["--existence_score_thres", "nan"], "must be a finite number, got nan"),
    (_evaluator, ["--max_dets", "0"], "--max_dets: must be >= 1, got 0"),
    (_evaluator, ["--max_dets", "-5"], "--max_dets: must be >= 1, got -5"),
    (_detector, ["--num-gpus", "0"], "--num-gpus: must be >= 1, got 0"),
    (_detector, ["--coco-repeat", "-1"], "--coco-repeat: must be >= 1, got -1"),
    (_synthetic, ["--train_scenes", "-1"], "--train_scenes: must be >= 0, got -1"),
]


@pytest.mark.parametrize(("parser", "argv", "message"), FLAG_CASES,
                         ids=[f"{p.__name__[1:]}{a[0]}={a[1]}" for p, a, _ in FLAG_CASES])
def test_out_of_range_flag_is_one_argparse_error(parser, argv, message, capsys):
    line = _parse_error(parser(), argv, capsys)
    assert "error: argument" in line and message in line


def test_merge_min_weight_nan(capsys):
    import merge_coco_and_imagenet

    status = None
    try:
        status = merge_coco_and_imagenet.main(["--coco_annotations_training_format_path", "a.json",
                                               "--imagenet_annotations_training_format_path", "b.json",
                                               "--min_weight", "nan"])
    except SystemExit as e:
        status = e.code
    assert status == 2 and "--min_weight: must be a finite number" in capsys.readouterr().err


RMONET_CASES = [
    ("train.max_iters=-3", "train.max_iters must be >= 1, got -3"),
    ("train.grad_clip=-1", "train.grad_clip must be > 0, got -1"),
    ("train.batch_size=0", "train.batch_size must be >= 1, got 0"),
    ("train.lr=nan", "train.lr must be a finite number, got nan"),
    ("train.lr=-1e-4", "train.lr must be > 0"),
    ("train.max_iters=abc", "train.max_iters must be an integer, got 'abc'"),
    ("train.schedule.cycle=0", "train.schedule.cycle must be > 0, got 0"),
    ("model.num_slots=1", "model.num_slots must be >= 2, got 1"),
    ("model.rpn.anchor_sizes=[16,-32]", "model.rpn.anchor_sizes must be >= 1, got -32"),
    ("loss.beta=-0.5", "loss.beta must be >= 0, got -0.5"),
]


@pytest.mark.parametrize(("override", "message"), RMONET_CASES, ids=[o for o, _ in RMONET_CASES])
def test_rmonet_key_out_of_range_is_refused(override, message):
    from training.rmonet.config import load_config

    with pytest.raises(DataError, match=f"config: {message}"):
        load_config(None, [override])


def test_yaml_and_flag_share_one_range():
    from reasoning.algorithm import ReasoningConfig

    with pytest.raises(DataError, match="cfg: n_round must be >= 0, got -1"):
        from_mapping(ReasoningConfig, {"n_round": -1}, "cfg")
    assert from_mapping(ReasoningConfig, {"n_round": 3.0}).n_round == 3  # an integral float is an int


DETECTOR_KEYS = [
    (["SOLVER.IMS_PER_BATCH", "0"], "SOLVER.IMS_PER_BATCH must be >= 1, got 0"),
    (["SOLVER.MAX_ITER", "0"], "SOLVER.MAX_ITER must be >= 1, got 0"),
    (["SOLVER.BASE_LR", "-0.01"], "SOLVER.BASE_LR must be > 0, got -0.01"),
    (["SOLVER.STEPS", "(10, -5)"], "SOLVER.STEPS must be >= 0, got (10, -5)"),
    (["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.5"], "MODEL.ROI_HEADS.SCORE_THRESH_TEST must be <= 1"),
    (["DATALOADER.NUM_WORKERS", "-1"], "DATALOADER.NUM_WORKERS must be >= 0, got -1"),
]


@pytest.mark.parametrize(("opts", "message"), DETECTOR_KEYS, ids=[o[0] for o, _ in DETECTOR_KEYS])
def test_detector_key_out_of_range_is_refused(opts, message):
    from cad.config import check_implemented, get_cfg

    cfg = get_cfg()
    cfg.merge_from_list(opts)
    with pytest.raises(ValueError, match=re.escape(f"config key {message}")):
        check_implemented(cfg)


def test_detector_nan_learning_rate_is_refused():
    from cad.config import check_implemented, get_cfg

    cfg = get_cfg()
    cfg.SOLVER.BASE_LR = float("nan")
    with pytest.raises(ValueError, match="config key SOLVER.BASE_LR must be a finite number"):
        check_implemented(cfg)


# ------------------------------------------------------------------------------------------ COCO JSON
def _coco() -> dict:
    polygon = {"id": 11, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25.0, "iscrowd": 0,
               "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]]}
    return two_image_coco(1, [polygon], [{"id": 1, "name": "fg"}])


COCO_CASES = [
    ("bbox strings", set_at(["annotations", 0, "bbox"], ["1", "2", "3", "4"]), "annotation 10: bbox"),
    ("bbox nan", set_at(["annotations", 0, "bbox"], [1, 2, float("nan"), 4]), "not 4 finite numbers"),
    ("bbox 3 numbers", set_at(["annotations", 0, "bbox"], [1, 2, 3]), "not 4 finite numbers"),
    ("negative box", set_at(["annotations", 1, "bbox"], [1, 1, -5, 5]), "annotation 11: bbox width/height"),
    ("negative area", set_at(["annotations", 1, "area"], -3), "area -3 is not a non-negative number"),
    ("unknown image id", set_at(["annotations", 1, "image_id"], 99), "image_id 99 is not in 'images'"),
    ("list image id", set_at(["annotations", 1, "image_id"], [2]), "image_id [2] is not an integer or a"),
    ("duplicate image id", set_at(["images", 1, "id"], 1), "image 1: image id used more than once"),
    ("zero image height", set_at(["images", 0, "height"], 0), "height 0 is not a positive number"),
    ("odd polygon", set_at(["annotations", 1, "segmentation"], [[1, 1, 6, 1, 6]]), "polygon 0 must have"),
    ("polygon nan", set_at(["annotations", 1, "segmentation"], [[1, 1, 6, 1, 6, float("nan")]]),
     "non-finite coordinates"),
    ("corrupt rle", set_at(["annotations", 0, "segmentation", "counts"], "PPP"), "RLE counts are corrupt"),
    ("rle size mismatch", set_at(["annotations", 0, "segmentation", "size"], [40, 30]), "differs from"),
    ("huge rle", lambda d: (d["images"][0].update(height=40000, width=40000),
                            d["annotations"][0]["segmentation"].update(size=[40000, 40000])),
     "above the limit"),
    ("iscrowd 2", set_at(["annotations", 0, "iscrowd"], 2), "iscrowd 2 is not 0 or 1"),
    ("segmentation number", set_at(["annotations", 0, "segmentation"], 5), "segmentation of type int"),
    ("annotations not a list", set_at(["annotations"], {"a": 1}), "'annotations' is missing or not a list"),
]


@pytest.mark.parametrize(("mutate", "message"), [c[1:] for c in COCO_CASES], ids=[c[0] for c in COCO_CASES])
def test_malformed_coco_is_one_error_naming_file_and_field(tmp_path, mutate, message):
    data = _coco()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as e:
        load_coco_json(path)
    text = str(e.value)
    assert "\n" not in text and str(path) in text and message in text


def test_dropped_and_tolerated_defects_are_counted_in_a_warning(logged):
    data = _coco()
    data["annotations"][1]["bbox"] = [1, 1, 0, 5]  # zero width: dropped where the stage drops it
    data["annotations"][0]["category_id"] = 7  # an unknown category: tolerated, counted
    out = validate_coco(copy.deepcopy(data), "x.json", drop=("empty_box",))
    assert [a["id"] for a in out["annotations"]] == [10]
    text = "\n".join(logged)
    assert "dropped 1 of 2 annotations (empty_box: 1)" in text and "missing_category: 1" in text


DISCOVERY_CASES = [
    ({"1": [[0, 0, 5, 5, 6, 6, 7, 7]]}, "image 1 box 0: [0, 0, 5, 5, 6, 6, 7, 7] is not 4 finite numbers"),
    ({"1": [[0, 0, float("nan"), 5]]}, "is not 4 finite numbers"),
    ({"1": [[0, 0, 1e9, 5]]}, "is not in pixel coordinates"),
    ({"1": "0 0 5 5"}, "image 1: boxes must be a list"),
    ([[0, 0, 5, 5]], "expected {image_id: [[x1, y1, x2, y2], ...]}"),
]


@pytest.mark.parametrize(("data", "message"), DISCOVERY_CASES, ids=[m[:30] for _, m in DISCOVERY_CASES])
def test_malformed_raw_boxes_for_scoring(data, message):
    with pytest.raises(DataError) as e:
        validate_discoveries(data, "raw.json")
    assert message in str(e.value)


def test_degenerate_raw_boxes_are_dropped_with_a_count(logged):
    out = validate_discoveries({"1": [[0, 0, 5, 5], [3, 3, 3, 9], [9, 9, 2, 2]]}, "raw.json")
    assert out == {"1": [[0, 0, 5, 5]]} and any("dropped 2 boxes" in m for m in logged)


def _write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_post_process_refuses_nan_scores_and_foreign_image_ids(tmp_path, capsys, logged):
    import post_process

    gt = _write(tmp_path, "gt.json", {"images": [{"id": 1, "file_name": "a.jpg", "height": 30, "width": 40}]})
    result = {"image_id": 1, "bbox": [1, 1, 5, 5], "existence_score": 1.0, "center_score": 1.0,
              "boundary_score": 1.0, "area_score": 1.0}
    cases = [([{**result, "center_score": float("nan")}], "center_score not a finite number"),
             ([{**result, "image_id": 5}], "none of the 1 selected results is on an image"),
             ([{**result, "bbox": [1, 1, float("nan"), 5]}], "not 4 finite numbers")]
    for results, message in cases:
        pred = _write(tmp_path, "pred.json", results)
        assert post_process.main(["--pred_annotations_path", pred, "--gt_annotations", gt]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], errors


def test_evaluator_refuses_results_on_no_gt_image_and_bad_ids(tmp_path):
    from COCO_evaluator.evaluate import evaluate_class_agnostic

    gt = _coco()
    with pytest.raises(DataError, match="no result is on an image of the ground truth"):
        evaluate_class_agnostic(gt, [{"image_id": 77, "bbox": [1, 1, 4, 4], "score": 0.5}], tasks=("bbox",))
    with pytest.raises(DataError, match=r"image_id \[1\] is not an integer or a string"):
        evaluate_class_agnostic(gt, [{"image_id": [1], "bbox": [1, 1, 4, 4], "score": 0.5}])
    broken = _coco()
    broken["annotations"][0]["bbox"] = [1, 1, float("nan"), 3]
    with pytest.raises(DataError, match="defects the evaluator cannot score"):
        evaluate_class_agnostic(broken, [{"image_id": 1, "bbox": [1, 1, 4, 4], "score": 0.5}])


def test_detector_records_drop_empty_boxes_as_detectron2_with_a_count(tmp_path, logged):
    from cad.data.coco_records import load_coco_records

    data = _coco()
    data["annotations"][1]["bbox"] = [1, 1, 5, 0]
    records = load_coco_records(_write(tmp_path, "train.json", data), [tmp_path])
    assert sum(len(r["annotations"]) for r in records) == 1 and any("dropped 1 of 2" in m for m in logged)
    data["annotations"][1]["bbox"] = [1, 1, -5, 3]
    with pytest.raises(DataError, match="bbox width/height negative"):
        load_coco_records(_write(tmp_path, "train.json", data), [tmp_path])


def test_votecut_rle_declared_huge_is_refused_before_decoding(tmp_path):
    from datasets.votecut import load_votecut

    data = {"images": [{"id": 1, "file_name": "n01/n01_1.JPEG", "height": 40000, "width": 40000}],
            "annotations": [{"id": 1, "image_id": 1, "weight": 1.0,
                             "segmentation": {"size": [40000, 40000], "counts": "0"}}]}
    with pytest.raises(DataError, match="above the limit"):
        load_votecut(_write(tmp_path, "votecut.json", data))


# ----------------------------------------------------------------------------- devices, weights, images
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize(("flag", "option", "message"), [
    ("cuda:0", "--gpu_index", "--gpu_index cuda:0 requested but CUDA is not available; pass --device cpu"),
    ("cuda", "--device", "--device cuda requested but CUDA is not available; pass --device cpu"),
    ("gpu", "--device", "--device 'gpu' is not a device"),
])
def test_unavailable_device_is_a_one_line_input_error(flag, option, message):
    from utils.device import resolve_device

    with pytest.raises(DataError) as e:
        resolve_device(flag, option)
    assert message in str(e.value) and isinstance(e.value, RuntimeError)


def test_weights_of_another_network_are_refused(tmp_path):
    from cad.checkpoint import load_weights

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    other = tmp_path / "other.pth"
    torch.save({"model": {"encoder.weight": torch.zeros(5, 5)}}, other)
    with pytest.raises(DataError, match="only 0 of the model's 4 tensors match"):
        load_weights(model, other)
    half = tmp_path / "half.pth"
    torch.save({"model": {"0.weight": torch.ones(4, 3), "0.bias": torch.ones(4)}}, half)
    assert load_weights(model, half).loaded == ["0.bias", "0.weight"]  # training: a partial start is fine
    with pytest.raises(DataError, match="only 2 of the model's 4 tensors match"):
        load_weights(model, half, min_loaded=0.9)  # evaluation: nearly every tensor must be loaded


def test_eval_only_without_weights_is_refused():
    from cad.engine.defaults import default_argument_parser, preflight

    args = default_argument_parser().parse_args(["--eval-only", "MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu",
                                                   "DATASETS.TEST", "()"])
    with pytest.raises(DataError, match="--eval-only needs MODEL.WEIGHTS"):
        preflight(args)


def test_text_file_named_jpg_and_oversized_header(tmp_path):
    from PIL import Image

    fake = tmp_path / "photo.jpg"
    fake.write_text("not an image")
    with pytest.raises(DataError, match="cannot decode image"):
        load_image_rgb(fake)
    big = tmp_path / "big.png"
    Image.new("RGB", (64, 48)).save(big)
    with pytest.raises(ImageTooLarge, match="64x48"):
        load_image_rgb(big, max_pixels=1000)


def test_out_of_range_config_value_is_refused_even_when_built_in_code():
    from training.rmonet.config import TrainConfig
    from utils.config import check_config

    with pytest.raises(DataError, match="train.batch_size must be >= 1, got 0"):
        check_config(TrainConfig(batch_size=0), prefix="train.")


def test_demo_refuses_to_resume_results_of_other_weights(tmp_path):
    import importlib.util

    from utils.cli import CliError

    spec = importlib.util.spec_from_file_location("cad_demo", "cad/demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    jsonl = tmp_path / "results.jsonl"
    first = {"weights": {"size": 1, "sha256_head_tail": "a"}, "config": "c", "confidence_threshold": 0.5,
             "masks": True}
    demo._check_settings(tmp_path, jsonl, first, overwrite=False)  # a fresh folder
    jsonl.write_text('{"file_name": "a.jpg", "results": []}\n')
    demo._check_settings(tmp_path, jsonl, first, overwrite=False)  # same settings: resumed
    other = {**first, "weights": {"size": 2, "sha256_head_tail": "b"}}
    with pytest.raises(CliError, match=r"holds results of other settings \(weights\)"):
        demo._check_settings(tmp_path, jsonl, other, overwrite=False)
    demo._check_settings(tmp_path, jsonl, other, overwrite=True)
    assert not jsonl.exists()


def test_yaml_exponent_strings_are_numbers_as_with_set():
    from training.rmonet.config import build_config

    cfg = build_config({"train": {"lr": "1e-4", "max_iters": "1e3"}})  # what PyYAML reads from `lr: 1e-4`
    assert cfg.train.lr == 1e-4 and cfg.train.max_iters == 1000 and isinstance(cfg.train.max_iters, int)
