"""Forward passes: output shapes/ranges, input normalisation, DPT position-embedding resizing."""

import pytest
import torch

from models.backbones import BACKBONE_SPECS
from models.backbones.dpt import resize_pos_embed
from models.objectness_net import ExistenceNet, ObjectnessNet


@pytest.fixture(scope="module")
def resnet18_net():
    torch.manual_seed(0)
    return ObjectnessNet("resnet18").eval()


def test_resnet18_outputs(resnet18_net):
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        out = resnet18_net(x)
    assert set(out) == {"center_fields", "sdf_maps"}
    assert out["center_fields"].shape == (2, 2, 128, 128)
    assert out["sdf_maps"].shape == (2, 1, 128, 128)
    assert out["sdf_maps"].abs().max() <= 1.0  # tanh
    assert torch.isfinite(out["center_fields"]).all()


def test_resnet18_non_square_input(resnet18_net):
    with torch.no_grad():
        out = resnet18_net(torch.rand(1, 3, 96, 160))
    assert out["center_fields"].shape == (1, 2, 96, 160)
    assert out["sdf_maps"].shape == (1, 1, 96, 160)


def test_normalisation_uses_imagenet_stats_for_resnet(resnet18_net):
    norm = resnet18_net.normalise
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    x = mean.expand(1, 3, 4, 4).clone()
    assert torch.allclose(norm(x), torch.zeros(1, 3, 4, 4), atol=1e-6)
    assert "normalise.mean" not in resnet18_net.state_dict()


def test_dpt_normalisation_is_identity_like_the_original():
    # The original code fed DPT backbones raw [0, 1] RGB; the released weights expect exactly that.
    for name in ("dpt_large", "dpt_hybrid"):
        assert BACKBONE_SPECS[name].mean == (0.0, 0.0, 0.0)
        assert BACKBONE_SPECS[name].std == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("backbone", ["dpt_large", "dpt_hybrid"])
def test_dpt_output_shapes_on_meta(backbone):
    with torch.device("meta"):
        net = ObjectnessNet(backbone)
        out = net(torch.empty(2, 3, 128, 128))
        out2 = net(torch.empty(1, 3, 96, 160))
    assert out["center_fields"].shape == (2, 2, 128, 128)
    assert out["sdf_maps"].shape == (2, 1, 128, 128)
    assert out2["sdf_maps"].shape == (1, 1, 96, 160)


def test_dpt_hybrid_real_forward_small_input():
    torch.manual_seed(0)
    net = ObjectnessNet("dpt_hybrid", head_channels=(8, 8)).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 32, 32))
    assert out["center_fields"].shape == (1, 2, 32, 32)
    assert out["sdf_maps"].abs().max() <= 1.0
    assert torch.isfinite(out["center_fields"]).all()


def test_vit_small_dpt_forward():
    torch.manual_seed(0)
    net = ObjectnessNet("vit_small").eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 128, 128))
    assert out["center_fields"].shape == (1, 2, 128, 128)
    assert out["sdf_maps"].abs().max() <= 1.0


def test_dpt_rejects_sizes_not_multiple_of_16():
    with torch.device("meta"):
        net = ObjectnessNet("dpt_large")
        with pytest.raises(ValueError, match="multiples of 16"):
            net(torch.empty(1, 3, 100, 128))


def test_resize_pos_embed_known_answer():
    # A linear function of the grid coordinates: bilinear interpolation (align_corners=False) from 24x24
    # to 8x8 samples source position 3*i + 1 exactly, so the result is the same linear function there.
    rows, cols = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    grid = torch.stack([rows, cols, 2 * rows - cols], dim=-1).reshape(1, 576, 3)
    cls = torch.tensor([[[7.0, 8.0, 9.0]]])
    out = resize_pos_embed(torch.cat([cls, grid], dim=1), (8, 8))
    assert out.shape == (1, 65, 3)
    assert torch.equal(out[:, :1], cls)
    r, c = torch.meshgrid(3 * torch.arange(8.0) + 1, 3 * torch.arange(8.0) + 1, indexing="ij")
    expected = torch.stack([r, c, 2 * r - c], dim=-1).reshape(64, 3)
    assert torch.allclose(out[0, 1:], expected, atol=1e-4)
    # The native 24x24 grid (384x384 input) is used as is.
    same = torch.cat([cls, grid], dim=1)
    assert resize_pos_embed(same, (24, 24)) is same


def test_existence_net_probabilities_and_logits():
    torch.manual_seed(0)
    net = ExistenceNet(arch="resnet18").eval()
    x = torch.rand(3, 3, 128, 128)
    with torch.no_grad():
        p = net(x)
        z = net.logits(x)
    assert p.shape == (3, 1) and z.shape == (3, 1)
    assert torch.allclose(p, torch.sigmoid(z))
    assert ((p > 0) & (p < 1)).all()


@pytest.mark.parametrize("backbone", ["resnet18", "vit_small"])
def test_every_trainable_parameter_gets_a_gradient(backbone):
    # DDP (find_unused_parameters=False) needs a gradient for every trainable parameter.
    torch.manual_seed(0)
    net = ObjectnessNet(backbone, head_channels=(8, 8))
    out = net(torch.rand(2, 3, 32, 32))
    (out["center_fields"].sum() + out["sdf_maps"].sum()).backward()
    no_grad = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []
    frozen = sorted(n for n, p in net.named_parameters() if not p.requires_grad)
    if backbone == "vit_small":  # unused by DPT: the ViT's final norm and head, refinenet4's skip unit
        unit = "backbone.scratch.refinenet4.resConfUnit1"
        assert frozen == [
            "backbone.pretrained.model.head.bias", "backbone.pretrained.model.head.weight",
            "backbone.pretrained.model.norm.bias", "backbone.pretrained.model.norm.weight",
            f"{unit}.conv1.bias", f"{unit}.conv1.weight", f"{unit}.conv2.bias", f"{unit}.conv2.weight",
        ]  # fmt: skip
    else:
        assert frozen == []
