"""Inference-only rewrites of the stage-1 networks (models/inference.py) and the predictor that uses them:
BatchNorm folding, collapsed linear conv runs and channels-last give the same outputs within 1e-5."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.inference import CollapsedConvs, collapse_linear_convs, fold_batchnorm, inference_copy
from models.objectness_net import ExistenceNet, ObjectnessNet
from reasoning.fields import erode
from reasoning.predict import EXISTENCE, FIELDS, SDF, NetworkPredictor
from reasoning.stats import CountingPredictor

pytestmark = pytest.mark.usefixtures("one_thread")


def _randomise_batchnorm(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters (fresh layers would fold to the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def main_job_networks():
    """The main job's architectures (random weights): EfficientNet-Lite0 objectness (tanh boundary head, bg
    sdf) and existence networks, and a ResNet-18 existence network (torchvision BatchNorm layout)."""
    torch.manual_seed(0)
    objectness = ObjectnessNet(backbone_type="efficientnet_lite0", sdf_activation="tanh", use_bg_sdf=True)
    return {"objectness": _randomise_batchnorm(objectness, 1),
            "existence": _randomise_batchnorm(ExistenceNet(arch="efficientnet_lite0"), 2),
            "resnet18": _randomise_batchnorm(ExistenceNet(arch="resnet18"), 3)}


def _outputs(net, x):
    with torch.no_grad():
        out = net(x)
    return out if isinstance(out, dict) else {"out": out}


def _count(net, kind):
    return sum(isinstance(m, kind) for m in net.modules())


@pytest.mark.parametrize("name", ["objectness", "existence", "resnet18"])
def test_folded_batchnorm_gives_the_same_outputs(main_job_networks, name):
    net = main_job_networks[name]
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    fast, folded = inference_copy(net, x[:2])
    assert folded == _count(net, nn.BatchNorm2d) > 0 and _count(fast, nn.BatchNorm2d) == 0
    ref, got = _outputs(net, x), _outputs(fast, x)
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], atol=1e-5, rtol=1e-5)
    assert _count(net, nn.BatchNorm2d) == folded  # the original is left alone


def test_channels_last_copy_gives_the_same_outputs(main_job_networks):
    net = main_job_networks["objectness"]
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    fast, _ = inference_copy(net, x, channels_last=True)
    ref, got = _outputs(net, x), _outputs(fast, x.contiguous(memory_format=torch.channels_last))
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], atol=1e-5, rtol=1e-5)


def test_boundary_head_is_collapsed_and_the_center_head_is_not(main_job_networks):
    net = main_job_networks["objectness"]
    fast, _ = inference_copy(net, torch.zeros(2, 3, 64, 64))
    assert isinstance(fast.sdf_prediction_head[0], CollapsedConvs)  # 1x1, 3x3, 1x1, 1x1 -> one 3x3 conv
    assert fast.sdf_prediction_head[0].weight.shape == (1, 64, 3, 3)
    assert _count(fast.center_field_prediction_head, CollapsedConvs) == 0  # ReLUs between its convs


def test_collapsed_convs_keep_the_border_bias_of_the_zero_padding():
    torch.manual_seed(0)
    run = nn.Sequential(nn.Conv2d(5, 4, 1), nn.Conv2d(4, 6, 3, padding=1), nn.Conv2d(6, 2, 1), nn.Tanh())
    for conv in run[:3]:
        nn.init.uniform_(conv.bias, 0.5, 1.5)  # a large first bias: the padded border differs clearly
    x = torch.randn(3, 5, 9, 11)
    ref = run(x)
    assert collapse_linear_convs(run) == 1 and len(run) == 2
    torch.testing.assert_close(run(x), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(run(x[:, :, :6, :7]), nn.Sequential(*run[0].run, run[1])(x[:, :, :6, :7]),
                               atol=1e-5, rtol=1e-5)  # another feature size: its own bias map
    # not collapsed: two k x k convs, a strided conv, an activation between the convs
    for seq in (nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)),
                nn.Sequential(nn.Conv2d(2, 2, 1, stride=2), nn.Conv2d(2, 2, 1)),
                nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 1))):
        assert collapse_linear_convs(seq) == 0


def test_fold_refuses_training_mode_and_an_unfoldable_structure_falls_back():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)).train()
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(net, torch.zeros(1, 3, 8, 8))

    class Residual(nn.Module):  # the conv output also feeds an addition: folding would change it
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    res = _randomise_batchnorm(Residual())
    same, folded = inference_copy(res, torch.zeros(2, 3, 8, 8))
    assert same is res and folded == -1


def test_predictor_with_folded_networks_predicts_the_same(main_job_networks):
    objectness, existence = main_job_networks["objectness"], main_job_networks["existence"]
    image = torch.rand(3, 96, 120, generator=torch.Generator().manual_seed(6))
    boxes = torch.tensor([[0.0, 0.0, 120.0, 96.0], [10.5, 5.2, 70.0, 80.9], [30.0, 20.0, 50.0, 44.0]])
    out = {}
    for fold in (False, True):
        pred = CountingPredictor(NetworkPredictor(objectness, existence, torch.device("cpu"), batch_size=2,
                                                  precision="fp32", crop_mode="batched", input_size=64,
                                                  fold_batchnorm=fold))
        out[fold] = pred.predict(image, boxes, {FIELDS, EXISTENCE})
        sdf_only = pred.predict(image, boxes, {SDF})
        assert set(sdf_only) == {"sdf_maps"} and pred.counts == {"objectness": 6, "existence": 3}
        torch.testing.assert_close(sdf_only["sdf_maps"], out[fold]["sdf_maps"], atol=0, rtol=0)
        empty = pred.predict(image, boxes[:0], {SDF})
        assert empty["sdf_maps"].shape == (0, 128, 128)
    for key in out[False]:
        torch.testing.assert_close(out[True][key], out[False][key], atol=1e-5, rtol=1e-5)


def test_erode_by_running_sums_equals_the_max_pool_erosion():
    g = torch.Generator().manual_seed(7)
    blobs = F.interpolate(torch.rand(6, 1, 10, 10, generator=g), size=(128, 128), mode="bilinear")[:, 0]
    full, empty = torch.ones(1, 128, 128, dtype=torch.bool), torch.zeros(1, 128, 128, dtype=torch.bool)
    masks = torch.cat([blobs > 0.45, full, empty])
    size, pad = 25, 12  # three 9x9 erosions = one 25x25 erosion; outside the crop is background
    x = F.pad((~masks).float()[:, None], (pad, pad, pad, pad), value=1.0)
    ref = F.max_pool2d(x, size, stride=1)[:, 0] < 0.5
    assert torch.equal(erode(masks), ref) and erode(masks)[-2].sum() > 0
    assert erode(masks[:0]).shape == (0, 128, 128)
