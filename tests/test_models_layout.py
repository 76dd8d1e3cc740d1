"""State-dict layout parity with the released unMORE checkpoints, and the head definitions."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from models.objectness_net import (
    RELEASED_OBJECTNESS,
    ExistenceNet,
    ObjectnessNet,
    boundary_field_head,
    center_field_head,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "unmore_checkpoint_keys.json"


def _layout(model: nn.Module) -> list:
    return [[name, list(t.shape)] for name, t in model.state_dict().items()]


@pytest.fixture(scope="module")
def fixture_keys():
    return json.loads(FIXTURE.read_text())


def test_objectness_dpt_large_matches_released_layout(fixture_keys):
    with torch.device("meta"):  # no memory, no weight init: layout only
        net = ObjectnessNet.from_config(RELEASED_OBJECTNESS)  # dpt_large, tanh, bg sdf
    expected = fixture_keys["objectness_dpt_large"]
    assert len(expected) == 378
    assert _layout(net) == expected  # names, shapes and order
    # Input normalisation buffers are non-persistent: not part of the released layout.
    assert "normalise.mean" not in net.state_dict()


def test_existence_resnet50_matches_released_layout(fixture_keys):
    with torch.device("meta"):
        net = ExistenceNet()
    expected = fixture_keys["existence_resnet50"]
    assert _layout(net) == expected
    assert expected[-2:] == [
        ["binary_classification_head.weight", [1, 1000]],
        ["binary_classification_head.bias", [1]],
    ]


def test_released_state_dict_loads_strict():
    with torch.device("meta"):
        a = ObjectnessNet.from_config(RELEASED_OBJECTNESS)
        b = ObjectnessNet.from_config(RELEASED_OBJECTNESS)
    result = b.load_state_dict(a.state_dict(), strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_center_head_structure():
    head = center_field_head(256)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d"]
    assert [tuple(head[i].weight.shape) for i in (0, 2, 4, 6)] == [
        (512, 256, 1, 1), (512, 512, 3, 3), (1024, 512, 1, 1), (2, 1024, 1, 1)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "activation,use_bg,kinds",
    [
        ("tanh", True, ["Conv2d"] * 4 + ["Tanh"]),
        ("sine", True, ["Conv2d"] * 4 + ["Sine"]),
        ("none", True, ["Conv2d"] * 4),
        ("relu", True, ["Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d"]),
        ("tanh", False, ["Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d"]),
    ],
)
def test_boundary_head_variants(activation, use_bg, kinds):
    head = boundary_field_head(16, activation, use_bg, hidden=(8, 8))
    assert [type(m).__name__ for m in head] == kinds


def test_boundary_head_ranges():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 6, 6) * 50  # large inputs saturate bounded activations
    assert boundary_field_head(16, "tanh", True, (8, 8))(x).abs().max() <= 1.0
    assert boundary_field_head(16, "sine", True, (8, 8))(x).abs().max() <= 1.0
    assert boundary_field_head(16, "none", True, (8, 8))(x).abs().max() > 1.0


def test_none_activation_alias_and_bad_values():
    with torch.device("meta"):
        net = ObjectnessNet("resnet18", sdf_activation=None)
    assert net.sdf_activation == "none"
    with pytest.raises(ValueError, match="sdf_activation"):
        boundary_field_head(8, "softplus")
    with pytest.raises(ValueError, match="backbone_type"):
        ObjectnessNet("resnet1000")
    with pytest.raises(ValueError, match="arch"):
        ExistenceNet(arch="vgg16")
