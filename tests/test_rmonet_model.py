"""R-MONet / MONet models, procedural Multi-dSprites and the CLI (training, resume, eval) on tiny runs."""

import json

import numpy as np
import pytest
import torch
from helpers import TINY_MODEL, tiny_cfg

from datasets.multi_dsprites import ProceduralMultiDSprites, render_multi_dsprites
from losses.rmonet import scene_loss
from models.rmonet.model import build_model
from training.rmonet.config import config_dict, load_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("variant", ["unet", "lite", "roialign", "monet_fpn", "monet_fpn_unet"])
def test_variants_forward_backward(variant):
    torch.manual_seed(0)
    cfg = load_config(None, TINY_MODEL + [f"model.variant={variant}"])
    model = build_model(cfg.model, image_size=32)
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    loss, terms = scene_loss(out, x, model.sigmas, cfg.loss)
    assert out["masks"].shape == (2, 3, 32, 32)
    assert torch.allclose(out["masks"].sum(1), torch.ones(2, 32, 32), atol=1e-5)
    assert out["boxes"].shape == (2, 2, 4) and out["box_scores"].shape == (2, 2)
    assert out["xbar"].shape == (2, 3, 3, 32, 32) and out["recon"].shape == (2, 3, 32, 32)
    expected_terms = {"nll", "kl_z", "kl_mask"} | (
        {"rpn_objectness", "rpn_box"} if "monet" not in variant else set()
    )
    assert set(terms) == expected_terms
    loss.backward()
    head_grads = [p.grad for p in model.head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in head_grads)
    assert any(g.abs().sum() > 0 for g in head_grads)
    model.eval()
    with torch.no_grad():
        ev = model(x)
    assert set(scene_loss(ev, x, model.sigmas, cfg.loss)[1]) == {"nll", "kl_z", "kl_mask"}
    if "monet" not in variant:
        s = ev["box_scores"]
        above = s >= 0.5  # boxes passing the score threshold come first, each group sorted by score
        assert (above[:, :-1].int() >= above[:, 1:].int()).all()


def _grads(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def test_separate_rpn_backbone_learns_from_the_rpn_loss_only():
    torch.manual_seed(0)
    cfg = load_config(None, TINY_MODEL + ["model.rpn_backbone=separate"])
    model = build_model(cfg.model, image_size=32)
    assert model.rpn_backbone is not None
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    _, terms = scene_loss(out, x, model.sigmas, cfg.loss)
    (terms["nll"] + terms["kl_z"] + terms["kl_mask"]).backward(retain_graph=True)
    assert _grads(model.backbone) > 0 and _grads(model.rpn_backbone) == 0 and _grads(model.rpn) == 0
    model.zero_grad(set_to_none=True)
    (terms["rpn_objectness"] + terms["rpn_box"]).backward()
    assert _grads(model.backbone) == 0 and _grads(model.rpn_backbone) > 0 and _grads(model.rpn) > 0
    shared = build_model(load_config(None, TINY_MODEL).model, image_size=32)
    assert shared.rpn_backbone is None
    n_shared = sum(p.numel() for p in shared.parameters())
    n_sep = sum(p.numel() for p in model.parameters())
    assert n_sep - n_shared == sum(p.numel() for p in model.rpn_backbone.parameters())


def test_rpn_backbone_is_refused_on_the_monet_baseline():
    from utils.io import DataError

    with pytest.raises(DataError, match="rpn_backbone"):
        load_config(None, TINY_MODEL + ["model.variant=monet_fpn", "model.rpn_backbone=separate"])


def test_procedural_multi_dsprites_is_deterministic_and_consistent():
    ds = ProceduralMultiDSprites(5, "train", seed=3, image_size=64)
    a, la = ds[2]
    b, lb = ds[2]
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert not torch.equal(ProceduralMultiDSprites(5, "test", seed=3)[2][0], a)
    for i in range(5):
        rng = np.random.default_rng([3, 0, i])
        image, labels, factors = render_multi_dsprites(rng, 64)
        assert 2 <= len(factors) <= 5 and {f["shape"] for f in factors} <= {"square", "ellipse", "heart"}
        bg = image[labels == 0]
        assert (bg == bg[0]).all() and bg[0][0] == bg[0][1] == bg[0][2]  # uniform grey background
        for k in np.unique(labels[labels > 0]):
            colors = np.unique(image[labels == k], axis=0)
            assert len(colors) == 1  # each visible sprite is a single colour
        assert labels.max() <= len(factors)


def test_cli_resume_and_eval(tmp_path):
    import train_rmonet

    cfg_path = tmp_path / "tiny.yaml"
    cfg = tiny_cfg(tmp_path, "model.variant=lite")
    import yaml

    cfg_path.write_text(yaml.safe_dump(config_dict(cfg)))
    run = tmp_path / "run"
    train_rmonet.main(["--config", str(cfg_path), "--device", "cpu", "--set", "train.max_iters=2"])
    first = torch.load(run / "checkpoint_last.pth", weights_only=False)
    assert first["iter"] == 2 and first["optimizer_state_dict"]["state"]
    train_rmonet.main(
        ["--config", str(cfg_path), "--device", "cpu", "--resume", "--set", "train.max_iters=3"]
    )
    second = torch.load(run / "checkpoint_last.pth", weights_only=False)
    assert second["iter"] == 3
    logged = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in logged if "loss" in r] == [1, 2, 3]
    assert list((run / "tensorboard").iterdir())
    assert (run / "figures" / "training_curves.png").stat().st_size > 1000
    train_rmonet.main(["--eval", str(run / "checkpoint_last.pth"), "--device", "cpu"])
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert {"fg_ari", "box_AP", "box_AP50", "box_AP75", "one_mask_fg_ari", "roi_recall50"} <= set(metrics)
    assert metrics["num_images"] == 4 and metrics["iter"] == 3
    assert 0.0 <= metrics["roi_recall50"] <= 1.0
    assert (run / "eval" / "decomposition.png").stat().st_size > 1000
    # the vocabulary's spelling: --eval_only with --resume auto (the config's output_dir's checkpoint)
    train_rmonet.main(["--eval_only", "--config_file", str(cfg_path), "--resume", "auto", "--device", "cpu",
                       "--eval_dir", str(tmp_path / "eval_auto")])
    assert json.loads((tmp_path / "eval_auto" / "metrics.json").read_text()) == metrics


def _table(stdout: str) -> list[str]:
    """The benchmark's printed table (the training log also goes to stdout)."""
    lines = stdout.strip().splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("Procedural")) :]


def test_benchmark_trains_each_variant_then_reports_again(tmp_path, capsys):
    from benchmarks import bench_rmonet

    out = tmp_path / "bench"
    common = ["--num_workers", "0", "--out", str(out)]
    tiny = ["--set", "data.image_size=32", "--set", "model.num_slots=3", "--set", "data.num_test=4"]
    bench_rmonet.main(
        ["--minutes", "0.02", "--variants", "unet", "monet_fpn", "--test_images", "4", *common, *tiny]
    )
    table = _table(capsys.readouterr().out)
    rows = [line for line in table if line.startswith("| R-MONet") or line.startswith("| MONet")]
    assert [r.split(" | ")[0] for r in rows] == ["| R-MONet(UNet)", "| MONet(ResNet18+FPN)"]
    assert "| one mask for all objects | - | - | 0.000 |" in table[-1]
    assert "(wall-clock)" in table[0]
    assert (out / "bench_curves.png").stat().st_size > 1000
    saved = json.loads((out / "bench_results.json").read_text())
    assert [r["variant"] for r in saved["results"]] == ["unet", "monet_fpn"]
    assert all(r["iterations"] >= 1 and r["evals"] for r in saved["results"])
    bench_rmonet.main(["--report", *common])
    assert _table(capsys.readouterr().out) == table


def test_benchmark_seeds_share_a_cpu_time_budget(tmp_path, capsys):
    from benchmarks import bench_rmonet

    out = tmp_path / "bench"
    tiny = ["--set", "data.image_size=32", "--set", "model.num_slots=3", "--set", "data.num_test=4"]
    argv = ["--minutes", "0.01", "--clock", "process", "--seeds", "0", "1", "--variants", "unet"]
    bench_rmonet.main([*argv, "--test_images", "4", "--num_workers", "0", "--out", str(out), *tiny])
    table = _table(capsys.readouterr().out)
    assert "(CPU time of the training process)" in table[0] and "seed(s) 0, 1" in table[0]
    names = [line.split(" | ")[0] for line in table if line.startswith("| R-MONet")]
    mean = "| R-MONet(UNet), mean +- std over 2 seeds"
    assert names == ["| R-MONet(UNet) (seed 0)", "| R-MONet(UNet) (seed 1)", mean]
    saved = json.loads((out / "bench_results.json").read_text())
    assert saved["clock"] == "process" and [r["seed"] for r in saved["results"]] == [0, 1]
    for seed in (0, 1):  # each run stopped by its own CPU time, in its own folder
        summary = json.loads((out / f"unet_seed{seed}" / "train_summary.json").read_text())
        assert summary["iterations"] >= 1 and summary["train_seconds"] >= 0.6
        assert json.loads((out / f"unet_seed{seed}" / "config.json").read_text())["train"]["seed"] == seed


def test_unknown_budget_clock_is_refused(tmp_path):
    from training.rmonet.config import load_config
    from training.rmonet.loop import train

    overrides = ["train.budget_clock=gpu", "train.max_minutes=1", f"output_dir={tmp_path}"]
    with pytest.raises(ValueError, match="train.budget_clock must be one of"):
        cfg = load_config(None, [*overrides, "data.image_size=32", "model.num_slots=3", "data.num_test=4"])
        train(cfg, torch.device("cpu"))


def test_image_region_rois_are_the_sprites_boxes():
    """The diagnostic oracle RPN of bench_rmonet.py: on scenes whose sprites do not touch, one box per sprite,
    equal to the sprite's ground-truth box, largest first, zero boxes after the last sprite."""
    import numpy as np
    from scipy import ndimage

    from benchmarks import bench_rmonet
    from datasets.multi_dsprites import render_multi_dsprites

    checked = 0
    for seed in range(40):
        image, labels, _ = render_multi_dsprites(np.random.default_rng(seed), 32, 2, 3)
        ids = [i for i in np.unique(labels) if i]
        _, regions = ndimage.label(labels > 0, structure=np.ones((3, 3), bool))
        if regions != len(ids):  # touching sprites form one region
            continue
        gt = []
        for i in ids:
            ys, xs = np.nonzero(labels == i)
            gt.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        gt.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        boxes = bench_rmonet.image_region_boxes(x, 5)[0]
        assert boxes[: len(gt)].tolist() == [[float(v) for v in b] for b in gt], seed
        assert not boxes[len(gt):].any()
        checked += 1
    assert checked >= 10


def test_colour_region_rois_split_touching_sprites():
    """`--rois colour_regions`: one box per sprite also where sprites touch (whole, unoccluded sprites)."""
    import numpy as np
    from scipy import ndimage

    from benchmarks import bench_rmonet
    from datasets.multi_dsprites import render_multi_dsprites

    touching = 0
    for seed in range(200):
        image, labels, _ = render_multi_dsprites(np.random.default_rng(seed), 32, 2, 3)
        ids = [i for i in np.unique(labels) if i]
        eight = np.ones((3, 3), bool)
        if any(ndimage.label(labels == i, structure=eight)[1] != 1 for i in ids):
            continue  # an occluded sprite cut in two pieces
        if ndimage.label(labels > 0, structure=eight)[1] == len(ids):
            continue  # no touching sprites
        gt = []
        for i in ids:
            ys, xs = np.nonzero(labels == i)
            gt.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        boxes = bench_rmonet.image_region_boxes(x, 5, by_colour=True)[0]
        assert sorted(boxes[: len(gt)].tolist()) == sorted([[float(v) for v in b] for b in gt]), seed
        assert not boxes[len(gt):].any()
        assert bench_rmonet.image_region_boxes(x, 5)[0][len(gt) - 1].sum() == 0  # merged without colours
        touching += 1
    assert touching >= 10


def test_benchmark_runs_with_image_region_rois(tmp_path, capsys):
    from benchmarks import bench_rmonet

    out = tmp_path / "bench"
    tiny = ["--set", "data.image_size=32", "--set", "model.num_slots=3", "--set", "data.num_test=4"]
    for rois, label, extra in (("image_regions", "image-region ROIs", []),
                               ("colour_regions", "one-colour-region ROIs", []),
                               ("colour_regions", "one-colour-region ROIs until iteration 1, then the RPN's",
                                ["--oracle_rois_until", "1"])):
        run = out / f"{rois}{len(extra)}"
        bench_rmonet.main(["--minutes", "0.01", "--variants", "unet", "--rois", rois, "--test_images",
                           "4", "--num_workers", "0", "--out", str(run), *extra, *tiny])
        table = _table(capsys.readouterr().out)
        assert any(line.startswith(f"| R-MONet(UNet), {label} |") for line in table)
        saved = json.loads((run / "bench_results.json").read_text())
        assert [r["rois"] for r in saved["results"]] == [rois]
