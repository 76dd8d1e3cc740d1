"""A short CPU run of R-MONet(UNet) on procedural Multi-dSprites lowers the loss and separates sprites."""

import pytest
import torch

from datasets.multi_object import build_multi_object_datasets
from losses.rmonet import scene_loss
from models.rmonet.model import build_model
from training.rmonet.config import load_config
from training.rmonet.evaluate import evaluate
from training.rmonet.loop import train

pytestmark = pytest.mark.usefixtures("one_thread")

# The paper's Multi-dSprites model (K = 6, sigmas, RPN, pseudo boxes, loss weights) with narrow layers on
# 32x32 scenes, constant lr 1e-3 after a 10-iteration warm-up: the CPU preset of benchmarks/bench_rmonet.py.
SHORT_RUN = [
    "model.variant=unet",
    "model.fpn_channels=32",
    "model.head_channels=16",
    "model.vae_channels=[16,16,64]",
    "data.image_size=32",
    "data.num_train=256",
    "data.num_test=64",
    "data.num_workers=0",
    "train.batch_size=8",
    "train.lr=1e-3",
    "train.max_epochs=null",
    "train.max_iters=400",
    "train.schedule={unit: iter, warmup: 10, cycle: 1000000000, reset_decay: 1.0}",
    "train.eval_every=0",
    "train.ckpt_every=1000000",
    "train.log_every=50",
    "train.eval_images=64",
    "train.seed=0",
    "eval.batch_size=64",
    "eval.num_figures=4",
]


def test_short_run_lowers_the_loss_and_beats_the_one_mask_baseline(tmp_path):
    """400 iterations (about 2 minutes on one idle CPU thread), then foreground ARI on 64 held-out test
    scenes.

    With the defaults (masks confined to the enlarged ROIs, alpha-logit bias -2, ARI over all K slots) the
    untrained network and the one-mask-for-all-objects baseline both score 0.000 (every pixel in the
    background slot, resp. one label); seed 0 reaches 0.161 at 400 iterations (0.089 over the foreground
    slots only). Before ~300 iterations the sprites may still all sit in the background slot, so shorter runs
    are not a safe test.
    """
    cfg = load_config(None, [*SHORT_RUN, f"output_dir={tmp_path / 'run'}"])
    cpu = torch.device("cpu")
    _, test_set = build_multi_object_datasets(cfg.data)
    torch.manual_seed(cfg.train.seed)  # the initialisation `train` starts from
    model = build_model(cfg.model, 32)
    loss_fn = lambda o, x: scene_loss(o, x, model.sigmas, cfg.loss)[0]  # noqa: E731
    untrained = evaluate(model, test_set, cpu, cfg.eval, "fp32", loss_fn=loss_fn)

    summary = train(cfg, cpu)
    trained = summary["eval"]

    assert summary["iterations"] == 400 and trained["num_images"] == 64
    assert trained["loss"] < untrained["loss"] - 0.9 * abs(untrained["loss"])
    assert trained["fg_ari"] > trained["one_mask_fg_ari"] + 0.05, (trained, untrained)
    assert trained["fg_ari"] > untrained["fg_ari"] + 0.05, (trained, untrained)
    for figure in ("decomposition_iter400.png", "training_curves.png"):
        assert (tmp_path / "run" / "figures" / figure).stat().st_size > 1000
