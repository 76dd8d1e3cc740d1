"""cad/demo.py with CutLER's command line (`--opts`, glob `--input`, `--output` folder, threshold) and the
CPU fallback when the config asks for CUDA on a machine without it."""

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from cad.config import get_cfg
from cad.demo import main as demo_main
from cad.demo import parse_args
from cad.engine.predictor import use_cpu_without_cuda
from cad.modeling import build_model

TINY = "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"
pytestmark = pytest.mark.usefixtures("one_thread")


def test_cutler_opts_flag_and_trailing_pairs_give_the_same_overrides():
    flag = parse_args(["--input", "imgs/*.jpg", "--output", "o", "--confidence-threshold", "0.2",
                       "--opts", "MODEL.WEIGHTS", "w.pth", "MODEL.DEVICE", "cpu"])
    trailing = parse_args(["--output", "o", "--input", "imgs/*.jpg", "MODEL.WEIGHTS", "w.pth", "MODEL.DEVICE",
                           "cpu"])
    assert flag.opts == trailing.opts == ["MODEL.WEIGHTS", "w.pth", "MODEL.DEVICE", "cpu"]
    assert flag.input == trailing.input == ["imgs/*.jpg"]
    assert flag.confidence_threshold == 0.2 and trailing.confidence_threshold == 0.35  # CutLER's default


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_cuda_config_without_cuda_runs_on_cpu_with_syncbn_as_bn(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    cfg = get_cfg()
    cfg.merge_from_file("cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml")
    assert cfg.MODEL.DEVICE == "cuda" and cfg.MODEL.RESNETS.NORM == "SyncBN"
    recorder = Recorder()
    logging.getLogger("cad.engine.predictor").addHandler(recorder)
    try:
        use_cpu_without_cuda(cfg)
    finally:
        logging.getLogger("cad.engine.predictor").removeHandler(recorder)
    assert cfg.MODEL.DEVICE == "cpu" and cfg.MODEL.RESNETS.NORM == cfg.MODEL.FPN.NORM == "BN"
    assert [m for m in recorder.messages if "CUDA is not available, running on the CPU" in m] == [
        "MODEL.DEVICE cuda: CUDA is not available, running on the CPU"]


def test_demo_on_a_glob_with_cuda_asked_for(tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    images = tmp_path / "imgs"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(images / name)
    cfg = get_cfg()
    cfg.merge_from_file(TINY)
    weights = tmp_path / "detector.pth"
    torch.save({"model": build_model(cfg).state_dict()}, weights)  # the demo refuses to run without weights
    out = tmp_path / "out"
    status = demo_main(["--config-file", TINY, "--input", str(images / "*.jpg"), "--output", str(out),
                        "--confidence-threshold", "0.0", "--opts", "MODEL.DEVICE", "cuda",
                        "MODEL.WEIGHTS", str(weights)])
    assert status == 0
    assert (out / "a.jpg").is_file() and (out / "b.jpg").is_file()
    results = json.loads((out / "coco_instances_results.json").read_text())
    assert {r["image_id"] for r in results} <= {"a", "b"}
