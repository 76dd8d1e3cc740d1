"""Backbone structure checks against torchvision with converted weights (CAD_SPEC C key mapping):
our Detectron2-layout ResNet (stride in the 3x3 conv) equals torchvision's ResNet, our FPN equals
torchvision's FeaturePyramidNetwork + LastLevelMaxPool on /32-padded inputs."""

from collections import OrderedDict

import pytest
import torch
import torchvision
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from cad.checkpoint import torchvision_resnet_to_d2
from cad.modeling.backbone import FPN, ResNet


def _randomise_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_equals_torchvision(depth):
    torch.manual_seed(depth)
    tv = getattr(torchvision.models, f"resnet{depth}")(weights=None).eval()
    _randomise_bn(tv)
    ours = ResNet(
        depth=depth, norm="BN", res2_out_channels=64 if depth == 18 else 256, stride_in_1x1=False
    ).eval()
    missing, unexpected = ours.load_state_dict(torchvision_resnet_to_d2(tv.state_dict()), strict=True)
    assert not missing and not unexpected
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        out = ours(x)
        t = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        for i, name in enumerate(("res2", "res3", "res4", "res5"), start=1):
            t = getattr(tv, f"layer{i}")(t)
            torch.testing.assert_close(out[name], t, atol=1e-4, rtol=1e-4)
    assert ours.output_shape()["res5"] == (512 if depth == 18 else 2048, 32)


def test_fpn_equals_torchvision_fpn():
    torch.manual_seed(0)
    bottom_up = ResNet(depth=18, norm="BN", res2_out_channels=64).eval()
    fpn = FPN(bottom_up, ["res2", "res3", "res4", "res5"], 32, norm="").eval()
    for m in fpn.modules():  # non-zero biases so that the mapping of every tensor is checked
        if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
            torch.nn.init.normal_(m.bias, std=0.1)
    tv = FeaturePyramidNetwork([64, 128, 256, 512], 32, extra_blocks=LastLevelMaxPool()).eval()
    sd = {}
    for i in range(4):
        for p in ("weight", "bias"):
            sd[f"inner_blocks.{i}.0.{p}"] = getattr(fpn, f"fpn_lateral{i + 2}").state_dict()[p]
            sd[f"layer_blocks.{i}.0.{p}"] = getattr(fpn, f"fpn_output{i + 2}").state_dict()[p]
    tv.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        ours = fpn(x)
        feats = bottom_up(x)
        ref = tv(OrderedDict((k, feats[k]) for k in ("res2", "res3", "res4", "res5")))
    assert list(ours) == ["p2", "p3", "p4", "p5", "p6"]
    for a, b in zip(ours.values(), ref.values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert (
        ours["p6"].shape[-2:] == (2, 2)
        and fpn.out_feature_strides["p6"] == 64
        and fpn.size_divisibility == 32
    )


def test_efficientnet_fpn_backbone_from_packaged_weights():
    from cad.config import get_cfg
    from cad.modeling.backbone import build_backbone
    from models.backbones.weights import PACKAGED, read_weight_file, resolve_weight_path

    cfg = get_cfg()
    cfg.merge_from_file("cad/model_zoo/configs/tiny/cascade_mask_rcnn_effnet_lite0_FPN_cpu.yaml")
    cfg.MODEL.BACKBONE.FREEZE_AT = 2
    backbone = build_backbone(cfg)
    body = backbone.bottom_up.body
    assert backbone.bottom_up.output_shape() == {"res2": (24, 4), "res3": (40, 8), "res4": (112, 16),
                                                 "res5": (320, 32)}
    mapped = read_weight_file(resolve_weight_path(PACKAGED, "efficientnet_lite0"))
    assert torch.equal(body.blocks[2][0].conv_pw.weight, mapped["blocks.2.0.conv_pw.weight"])
    bn = body.blocks[2][0].bn1
    assert torch.equal(bn.running_var, mapped["blocks.2.0.bn1.running_var"])
    backbone.train()  # FrozenBN: batch norms stay in eval mode with fixed parameters, their ReLU6 kept
    assert not bn.training and not bn.weight.requires_grad and isinstance(bn.act, torch.nn.ReLU6)
    assert body.blocks[2][0].conv_pw.weight.requires_grad
    frozen = {".".join(n.split(".")[:2]) for n, p in body.named_parameters()
              if not p.requires_grad and ".bn" not in n and not n.startswith("bn")}
    assert frozen == {"conv_stem.weight", "blocks.0", "blocks.1"}  # FREEZE_AT 2: stem and the res2 stage
    with torch.no_grad():  # the pretrained features keep a sane scale (no activation lost)
        assert backbone.bottom_up(torch.rand(1, 3, 64, 64) * 2 - 1)["res5"].abs().max() < 100
    feats = backbone(torch.rand(1, 3, 64, 96))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "p2": (1, 64, 16, 24), "p3": (1, 64, 8, 12), "p4": (1, 64, 4, 6), "p5": (1, 64, 2, 3),
        "p6": (1, 64, 1, 2)}


def test_unknown_backbone_name_is_rejected():
    from cad.config import get_cfg
    from cad.modeling.backbone import build_backbone

    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_vgg_backbone"
    with pytest.raises(ValueError, match="build_efficientnet_fpn_backbone"):
        build_backbone(cfg)
