"""Checkpoint round trips and loading of pretrained backbone weights from local files."""

import argparse

import pytest
import torch
import torchvision

from models.checkpoint import (
    build_existence_net_from_checkpoint,
    build_objectness_net_from_checkpoint,
    load_model_weights,
    objectness_config_from_checkpoint,
    save_checkpoint,
)
from models.objectness_net import ExistenceNet, ObjectnessNet


def _train_a_step(net):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1], gamma=0.5)
    out = net(torch.rand(2, 3, 32, 32))
    (out["center_fields"].square().mean() + out["sdf_maps"].abs().mean()).backward()
    opt.step()
    sched.step()
    return opt, sched


def test_round_trip_strict_identical_outputs(tmp_path):
    torch.manual_seed(0)
    net = ObjectnessNet("resnet18", sdf_activation="sine", use_bg_sdf=True)
    opt, sched = _train_a_step(net)
    net.eval()
    args = argparse.Namespace(backbone_type="resnet18", sdf_activation="sine", use_bg_sdf=True, lr=1e-3)
    path = tmp_path / "ckpt" / "iter_7_model.ckpt"
    save_checkpoint(path, net, opt, sched, 7, args=args)
    assert [p.name for p in path.parent.iterdir()] == ["iter_7_model.ckpt"]  # no temp file left

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    assert {"model_state_dict", "optimizer_state_dict", "iter", "lr_scheduler_state_dict", "args"} <= set(
        ckpt
    )
    assert ckpt["iter"] == 7 and ckpt["args"]["lr"] == 1e-3
    assert ckpt["lr_scheduler_state_dict"]["last_epoch"] == 1

    torch.manual_seed(1)
    other = ObjectnessNet("resnet18", sdf_activation="sine", use_bg_sdf=True).eval()
    load_model_weights(other, path)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        a, b = net(x), other(x)
    assert torch.equal(a["sdf_maps"], b["sdf_maps"])
    assert torch.equal(a["center_fields"], b["center_fields"])

    rebuilt = build_objectness_net_from_checkpoint(path, "cpu")
    assert (rebuilt.backbone_type, rebuilt.sdf_activation, rebuilt.use_bg_sdf) == ("resnet18", "sine", True)
    assert not rebuilt.training
    with torch.no_grad():
        assert torch.equal(rebuilt(x)["sdf_maps"], a["sdf_maps"])
    # Command-line overrides win over the saved configuration (tanh has no parameters: strict load works).
    as_tanh = build_objectness_net_from_checkpoint(path, "cpu", overrides={"sdf_activation": "tanh"})
    with torch.no_grad():
        pre = as_tanh.sdf_prediction_head[:4](as_tanh.backbone(as_tanh.normalise(x)))
        assert torch.allclose(as_tanh(x)["sdf_maps"], torch.tanh(pre))
        assert torch.allclose(a["sdf_maps"], torch.sin(pre), atol=1e-6)


def test_ddp_prefix_is_unwrapped_and_stripped(tmp_path):
    torch.manual_seed(0)
    net = ObjectnessNet("resnet18").eval()
    path = tmp_path / "ddp.ckpt"
    wrapped = torch.nn.DataParallel(net)  # on CPU a transparent stand-in for DDP: keys get `module.`
    assert next(iter(wrapped.state_dict())).startswith("module.")
    save_checkpoint(path, wrapped, None, None, 3)
    assert not any(k.startswith("module.") for k in torch.load(path, weights_only=False)["model_state_dict"])
    # A released-style file written from a DDP-wrapped model (module. prefixes) loads strictly too.
    prefixed = {"module." + k: v for k, v in net.state_dict().items()}
    torch.save({"model_state_dict": prefixed, "iter": 5}, tmp_path / "released_style.ckpt")
    other = ObjectnessNet("resnet18").eval()
    load_model_weights(other, tmp_path / "released_style.ckpt")
    for k, v in net.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)


def test_released_defaults_when_no_args():
    cfg = objectness_config_from_checkpoint({"model_state_dict": {"x": torch.zeros(1)}})
    assert cfg == {"backbone_type": "dpt_large", "sdf_activation": "tanh", "use_bg_sdf": True}
    # A training command line with --sdf_activation unset (None) means a linear output, not tanh.
    args = {"backbone_type": "resnet18", "sdf_activation": None, "use_bg_sdf": True}
    cfg = objectness_config_from_checkpoint({"model_state_dict": {"x": torch.zeros(1)}, "args": args})
    assert cfg == {"backbone_type": "resnet18", "sdf_activation": "none", "use_bg_sdf": True}


def test_existence_round_trip(tmp_path):
    torch.manual_seed(0)
    net = ExistenceNet(arch="resnet18").eval()
    path = tmp_path / "existence.ckpt"
    save_checkpoint(path, net, None, None, 2)
    rebuilt = build_existence_net_from_checkpoint(path)
    assert rebuilt.arch == "resnet18"
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(net(x), rebuilt(x))


def test_missing_checkpoint_names_what_to_download(tmp_path):
    net = ExistenceNet(arch="resnet18")
    with pytest.raises(FileNotFoundError, match="existence_model") as info:
        load_model_weights(net, tmp_path / "nope.pth", what="existence_model")
    assert "--binary_classifier_resume" in str(info.value)
    with pytest.raises(FileNotFoundError, match="center_boundary_model") as info:
        build_objectness_net_from_checkpoint(tmp_path / "nope.pth")
    assert "--objectness_resume" in str(info.value)


def test_strict_load_rejects_other_architecture(tmp_path):
    net = ObjectnessNet("resnet18")
    path = tmp_path / "r18.ckpt"
    save_checkpoint(path, net, None, None, 1)
    with pytest.raises(RuntimeError):
        load_model_weights(ObjectnessNet("resnet34"), path)


def test_backbone_weights_dino_style_wrapper_and_prefixes(tmp_path):
    torch.manual_seed(3)
    source = torchvision.models.resnet18(weights=None)
    state = {"module.backbone." + k: v for k, v in source.state_dict().items()}
    path = tmp_path / "dino_resnet18.pth"
    torch.save({"teacher": state, "epoch": 10, "args": argparse.Namespace(arch="resnet18")}, path)
    net = ObjectnessNet("resnet18", backbone_weights=path)
    body = net.backbone.body.state_dict()
    for k, v in source.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(body[k], v), k


def test_backbone_weights_vit_safetensors_with_pos_embed_resize(tmp_path):
    from safetensors.torch import save_file

    from models.backbones import backbone_weight_target
    from models.backbones.weights import load_backbone_weights

    torch.manual_seed(0)
    net = ObjectnessNet("vit_small")
    vit = net.backbone.vit
    weights = {k: torch.randn_like(v) for k, v in vit.state_dict().items() if not k.startswith("head.")}
    weights["pos_embed"] = torch.randn(1, 1 + 24 * 24, vit.embed_dim)  # trained at 384x384
    weights["extra.thing"] = torch.zeros(3)
    path = tmp_path / "vits.safetensors"
    save_file(weights, str(path))
    target, ignore = backbone_weight_target(net.backbone)
    report = load_backbone_weights(target, path, "ViT-S weights", ignore)
    assert report["resized"] == ["pos_embed"]
    assert report["unexpected"] == ["extra.thing"]
    assert sorted(report["missing"]) == ["head.bias", "head.weight"]
    assert torch.equal(vit.state_dict()["blocks.3.attn.qkv.weight"], weights["blocks.3.attn.qkv.weight"])
    assert vit.pos_embed.shape == (1, 197, vit.embed_dim)


def test_backbone_weights_missing_or_unusable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="vit_large_patch16_384") as info:
        with torch.device("meta"):
            ObjectnessNet("dpt_large", backbone_weights=tmp_path / "missing.safetensors")
    assert "--backbone_weights" in str(info.value)
    junk = tmp_path / "junk.pth"
    torch.save({"foo.bar": torch.zeros(2)}, junk)
    with pytest.raises(ValueError, match="none of its"):
        ObjectnessNet("resnet18", backbone_weights=junk)


def test_existence_backbone_weights_from_torchvision_file(tmp_path):
    torch.manual_seed(5)
    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-weights.pth"
    torch.save(source.state_dict(), path)
    net = ExistenceNet(arch="resnet18", backbone_weights=path)
    for k, v in source.state_dict().items():  # the 1000-way fc is part of the existence network
        assert torch.equal(net.classifier_backbone.state_dict()[k], v), k
