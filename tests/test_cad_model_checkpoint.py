"""Checkpoint layout parity with Detectron2 and the converter: fixture-shaped random checkpoints (.pth and
.pkl) load with no missing/unexpected keys; export -> import is lossless; partial/renamed inits align."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cad.checkpoint import export_d2_checkpoint, load_checkpoint_file, load_weights
from cad.config import get_cfg
from cad.modeling import GeneralizedRCNN
from cad.tools.convert_checkpoint import main as convert_main

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "d2_cascade_mask_rcnn_R_50_FPN_keys.json"
RECIPE = "cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml"
TINY = "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"


def _fixture_entries():
    return [(k, tuple(s)) for k, s in json.loads(FIXTURE.read_text())["entries"]]


def _cfg():
    c = get_cfg()
    c.merge_from_file(RECIPE)
    c.MODEL.DEVICE = "cpu"
    return c


def _tiny_cfg():
    c = get_cfg()
    c.merge_from_file(TINY)
    return c


@pytest.fixture(scope="module")
def r50():
    """The recipe's R50 model with uninitialised storage (built on the meta device, then materialised):
    every test overwrites the weights it checks."""
    with torch.device("meta"):
        model = GeneralizedRCNN(_cfg())
    return model.to_empty(device="cpu")


@pytest.fixture(scope="module")
def random_d2_state():
    g = torch.Generator().manual_seed(1)
    state = {}
    for k, shape in _fixture_entries():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(12345, dtype=torch.int64)
        else:
            state[k] = torch.randn(shape, generator=g)
    return state


def test_state_dict_layout_equals_detectron2_fixture():
    with torch.device("meta"):
        model = GeneralizedRCNN(_cfg())
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == _fixture_entries()  # same names, shapes and order


@pytest.mark.parametrize("fmt", ["pth", "pkl"])
def test_random_d2_checkpoint_loads_exactly(r50, random_d2_state, tmp_path, fmt):
    path = tmp_path / f"unMORE_model.{fmt}"
    if fmt == "pth":
        torch.save({"model": random_d2_state, "iteration": 29999}, path)
    else:
        arrays = {k: v.numpy() for k, v in random_d2_state.items()}
        with open(path, "wb") as f:
            pickle.dump({"model": arrays, "__author__": "Detectron2 test", "matching_heuristics": True}, f)
    report = load_weights(r50, path, log=False)
    assert report.missing == [] and report.unexpected == [] and report.shape_mismatch == []
    assert len(report.loaded) == len(random_d2_state)
    sd = r50.state_dict()
    for k, v in random_d2_state.items():
        assert torch.equal(sd[k], v), k
    # cls_score keeps Detectron2's [fg, bg] rows (no reordering)
    w = random_d2_state["roi_heads.box_predictor.1.cls_score.weight"]
    assert torch.equal(r50.roi_heads.box_predictor[1].cls_score.weight, w)


def test_export_import_roundtrip(r50, tmp_path):
    state = r50.state_dict()
    for fmt in ("pth", "pkl"):
        out = tmp_path / f"exported.{fmt}"
        export_d2_checkpoint(state, out)
        data = load_checkpoint_file(out)
        assert list(data["model"]) == list(state)
        for k, v in state.items():
            assert data["model"][k].dtype == v.dtype and torch.equal(data["model"][k], v), k
    with open(tmp_path / "exported.pkl", "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    assert raw["__author__"] and isinstance(raw["model"]["backbone.fpn_lateral2.weight"], np.ndarray)


def test_convert_cli_roundtrip(tmp_path):
    """ours (.pth with trainer state) -> Detectron2 .pkl -> ours .pth via a config-built model: identical."""
    torch.manual_seed(3)
    model = GeneralizedRCNN(_tiny_cfg())
    state = model.state_dict()
    torch.save({"model": state, "optimizer": {}, "iteration": 7}, tmp_path / "model_final.pth")
    assert convert_main([str(tmp_path / "model_final.pth"), str(tmp_path / "d2.pkl")]) == 0
    assert convert_main([str(tmp_path / "d2.pkl"), str(tmp_path / "ours.pth"), "--config-file", TINY]) == 0
    back = torch.load(tmp_path / "ours.pth", weights_only=True)
    assert set(back) == {"model"}
    assert list(back["model"]) == list(state)
    for k, v in state.items():
        assert torch.equal(back["model"][k], v), k


def test_dino_style_backbone_pkl_aligns_by_suffix(r50, tmp_path):
    """A Detectron2-format backbone-only .pkl (names 'stem.conv1.weight', 'res2.0.conv1.norm.weight', ...)
    fills backbone.bottom_up.* and nothing else."""
    bottom_up = {
        k[len("backbone.bottom_up.") :]: v
        for k, v in r50.state_dict().items()
        if k.startswith("backbone.bottom_up.") and not k.endswith("num_batches_tracked")
    }
    rng = np.random.default_rng(0)
    arrays = {k: rng.standard_normal(tuple(v.shape)).astype(np.float32) for k, v in bottom_up.items()}
    path = tmp_path / "dino_RN50_pretrain_d2_format.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": arrays, "__author__": "DINO", "matching_heuristics": True}, f)
    report = load_weights(r50, path, log=False)
    assert report.unexpected == [] and len(report.loaded) == len(arrays)
    assert all(not k.startswith("backbone.bottom_up.") for k in report.missing)
    assert any(k.startswith("roi_heads.") for k in report.missing)
    np.testing.assert_array_equal(
        r50.backbone.bottom_up.res3[2].conv2.norm.running_var.numpy(), arrays["res3.2.conv2.norm.running_var"]
    )


def test_torchvision_resnet_names_are_converted(tmp_path):
    import torchvision

    tv = torchvision.models.resnet18(weights=None).state_dict()
    model = GeneralizedRCNN(_tiny_cfg())
    torch.save(tv, tmp_path / "r18.pth")
    report = load_weights(model, tmp_path / "r18.pth", log=False)
    assert report.unexpected == [] and report.shape_mismatch == []
    assert torch.equal(model.backbone.bottom_up.stem.conv1.weight, tv["conv1.weight"])
    assert torch.equal(model.backbone.bottom_up.res3[0].shortcut.norm.bias, tv["layer2.0.downsample.1.bias"])
    assert torch.equal(model.backbone.bottom_up.res5[1].conv2.norm.weight, tv["layer4.1.bn2.weight"])
    # a DINO-style training checkpoint: teacher weights under DDP/backbone prefixes
    tv2 = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in tv.items()}
    torch.save(
        {"teacher": {f"module.backbone.{k}": v for k, v in tv2.items()}, "epoch": 3}, tmp_path / "dino.pth"
    )
    report = load_weights(model, tmp_path / "dino.pth", log=False)
    assert report.unexpected == [] and len(report.loaded) == len([k for k in tv2 if not k.startswith("fc.")])
    assert torch.equal(model.backbone.bottom_up.res4[0].conv1.weight, tv2["layer3.0.conv1.weight"])


def test_missing_file_names_the_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="dl.fbaipublicfiles.com/cutler/checkpoints"):
        load_checkpoint_file(tmp_path / "checkpoints" / "dino_RN50_pretrain_d2_format.pkl")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint_file(tmp_path / "other.pth")
