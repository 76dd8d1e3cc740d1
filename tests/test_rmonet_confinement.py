"""Segmentation only inside the enlarged ROI (paper sections 1, 3.4, 4.1) and the documented config flags."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from datasets.multi_dsprites import ProceduralMultiDSprites
from losses.rmonet import LossConfig, scene_loss
from models.rmonet.model import RMONet, build_model
from models.rmonet.pseudo_boxes import PseudoBoxConfig, pseudo_boxes
from models.rmonet.roi_masking import cells_inside, confine_logits, expand_boxes
from models.rmonet.stick_breaking import log_stick_breaking
from training.rmonet.config import EvalConfig, load_config
from training.rmonet.evaluate import evaluate
from utils.io import DataError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "model.num_slots=4",
    "model.fpn_channels=16",
    "model.head_channels=8",
    "model.vae_channels=[8,8,32]",
]


def _model(*extra):
    torch.manual_seed(0)
    cfg = load_config(None, [*TINY, *extra])
    return build_model(cfg.model, image_size=32)


def _scenes(n=4):
    ds = ProceduralMultiDSprites(n, "train", seed=1, image_size=32)
    return torch.stack([ds[i][0] for i in range(n)])


def _outside_enlarged_roi(model: RMONet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eval-mode forward -> (alpha outside / inside each slot's enlarged ROI, fg masks outside)."""
    model.eval()
    with torch.no_grad():
        out = model(x)
    b, r, h, w = out["alpha_logits"].shape
    region = cells_inside(expand_boxes(out["boxes"].reshape(-1, 4), model.roi_expand_ratio), h, w, 1.0)
    region = region.view(b, r, h, w)
    alpha = torch.sigmoid(out["alpha_logits"])
    return alpha[~region], alpha[region], out["masks"][:, :-1][~region]


@pytest.mark.parametrize("variant", ["unet", "lite", "roialign"])
def test_alpha_outside_the_enlarged_roi_is_zero_untrained_and_after_training_steps(variant):
    x = _scenes()
    model = _model(f"model.variant={variant}")
    out_alpha, in_alpha, out_mask = _outside_enlarged_roi(model, x)
    assert out_alpha.numel() > 0 and out_alpha.max() < 1e-4 and out_mask.max() < 1e-4
    assert in_alpha.mean() > 0.05  # the head does segment inside its region

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(3):
        loss = scene_loss(model(x), x, model.sigmas, LossConfig())[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    out_alpha, in_alpha, out_mask = _outside_enlarged_roi(model, x)
    assert out_alpha.max() < 1e-4 and out_mask.max() < 1e-4
    assert in_alpha.mean() > 0.05


@pytest.mark.parametrize("variant", ["unet", "lite"])
def test_without_confinement_the_masks_spill_out_of_the_roi(variant):
    """The ablation flag restores the unconstrained heads: untrained, alpha outside the ROI stays at its
    initial level (sigmoid(-2) = 0.12), not ~0."""
    out_alpha, _, _ = _outside_enlarged_roi(
        _model(f"model.variant={variant}", "model.confine_masks=false"), _scenes()
    )
    assert out_alpha.mean() > 0.05


def _object_scene(obj, size=32):
    """Logits of a perfect segmenter for one rectangular object xyxy: +10 on it, -10 elsewhere."""
    logits = torch.full((1, 1, size, size), -10.0)
    x1, y1, x2, y2 = obj
    logits[..., y1:y2, x1:x2] = 10.0
    return logits


def _pseudo_box(logits, box, ratio):
    """Confine the logits to the box enlarged by `ratio`, stick-break, multi-Otsu pseudo box of slot 1."""
    log_m = log_stick_breaking(confine_logits(logits, torch.tensor([[box]], dtype=torch.float32), ratio))
    cfg = PseudoBoxConfig(min_size=1, max_aspect=10.0)
    boxes, _ = pseudo_boxes(log_m[0, :1].exp().numpy(), cfg)
    assert len(boxes) == 1
    return boxes[0].astype(int).tolist()


def test_enlarged_roi_covers_an_object_whose_box_is_cut():
    # Object x 10..22, y 8..20; the ROI cuts its right part at x = 20. Enlarged by 0.3 of its width (10) and
    # height (12) on every side, the ROI spans x 7..23, y 4.4..23.6: the mask, and the pseudo box the RPN
    # learns from, cover the whole object. Without enlargement they stop at the cut.
    obj, cut = (10, 8, 22, 20), [10.0, 8.0, 20.0, 20.0]
    logits = _object_scene(obj)
    assert _pseudo_box(logits, cut, 0.3) == list(obj)
    assert _pseudo_box(logits, cut, 0.0) == [10, 8, 20, 20]


def test_repeated_enlargement_grows_a_cut_roi_until_the_object_is_covered():
    """Paper 4.1: the enlarged mask keeps enlarging the proposed ROI until the full object is covered."""
    obj = (10, 10, 30, 20)  # 20 x 10
    logits = _object_scene(obj)
    box, widths = [10, 10, 14, 20], []
    for _ in range(12):
        box = _pseudo_box(logits, [float(v) for v in box], 0.3)
        widths.append(box[2] - box[0])
    assert box == list(obj)
    first_full = widths.index(20)
    assert 4 <= first_full <= 10  # ~1.3x per round from 4 to 20 pixels
    assert all(a < b for a, b in zip(widths[:first_full], widths[1 : first_full + 1]))
    assert widths[first_full:] == [20] * (len(widths) - first_full)


def test_unknown_config_keys_are_rejected():
    for bad in ("train.lrr=1", "eval.ari=all", "data.sizes=3", "loss.alpha=1", "outputdir=x"):
        with pytest.raises(DataError, match="unknown config key"):
            load_config(None, [bad])
    with pytest.raises(DataError, match="unknown config key model.confine .did you mean confine_masks"):
        _model("model.confine=true")


def test_background_slot_of_rmonet_and_monet():
    rmonet = _model("model.variant=unet")
    assert rmonet.background_index == 3 and rmonet.sigmas.tolist() == pytest.approx([0.11] * 3 + [0.09])
    monet = _model("model.variant=monet_fpn_unet")  # null = MONet's own convention: the first slot
    assert monet.background_index == 0 and monet.sigmas.tolist() == pytest.approx([0.09] + [0.11] * 3)
    assert monet.foreground_slots == [1, 2, 3]
    assert _model("model.variant=monet_fpn", "model.background_slot=last").background_index == 3
    with pytest.raises(ValueError, match="last slot"):
        _model("model.variant=unet", "model.background_slot=first")


def test_input_norm_is_what_the_attention_network_sees():
    model = _model("model.input_norm=[0.5, 0.5]")
    seen = []
    model.backbone.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    x = _scenes(2)
    model.eval()
    with torch.no_grad():
        model(x)
    assert torch.allclose(seen[0], 2 * x - 1)
    assert model.vae.encoder[0].in_channels == 4  # the VAE still gets the [0, 1] image and the log mask


def test_group_norm_backbone_does_not_depend_on_the_batch():
    x = _scenes(4)
    for norm, independent in (("group", True), ("batch", False)):
        model = _model(f"model.backbone_norm={norm}")
        has_bn = any(isinstance(m, nn.BatchNorm2d) for m in model.backbone.modules())
        assert has_bn == (norm == "batch")
        model.train()
        with torch.no_grad():
            alone = model.attention(x[:2])["alpha_logits"]
            together = model.attention(x)["alpha_logits"][:2]
        assert torch.allclose(alone, together, atol=1e-5) == independent


class _FixedModel(nn.Module):
    """Returns fixed masks and boxes: K = 3 slots, background first."""

    num_slots, background_index, foreground_slots = 3, 0, [1, 2]

    def __init__(self, masks, boxes, scores):
        super().__init__()
        self.masks, self.boxes, self.scores = masks, boxes, scores

    def forward(self, x):
        b = x.shape[0]
        return {
            "masks": self.masks.expand(b, -1, -1, -1),
            "boxes": self.boxes.expand(b, -1, -1),
            "box_scores": self.scores.expand(b, -1),
            "recon": x,
        }


def test_evaluation_slot_set_and_box_score_threshold():
    # Objects A (rows 0-3, cols 0-3), B (rows 4-7, cols 0-3), C (cols 4-5); masks (background, m1, m2):
    # A (0.1, 0.8, 0.1), B (0.3, 0.0, 0.7), C (0.55, 0.0, 0.45). Argmax over all slots: A -> 1, B -> 2,
    # C -> background, an exact partition (ARI 1). Over the foreground slots: C -> 2, merged with B: ARI of
    # {A}, {B, C} against {A}, {B}, {C} with 16 pixels each = (360 - 196.6) / (488 - 196.6) = 0.561.
    labels = np.zeros((8, 8), np.int64)
    labels[0:4, 0:4], labels[4:8, 0:4], labels[:, 4:6] = 1, 2, 3
    m = np.zeros((3, 8, 8), np.float32)
    m[0] = 1.0
    for (rows, cols), value in (
        ((slice(0, 4), slice(0, 4)), (0.1, 0.8, 0.1)),
        ((slice(4, 8), slice(0, 4)), (0.3, 0.0, 0.7)),
        ((slice(0, 8), slice(4, 6)), (0.55, 0.0, 0.45)),
    ):
        m[:, rows, cols] = np.asarray(value, np.float32)[:, None, None]
    dataset = [(torch.zeros(3, 8, 8), torch.from_numpy(labels))]
    boxes = torch.tensor([[[0.0, 0.0, 4.0, 4.0], [0.0, 4.0, 4.0, 8.0]]])  # exact boxes of A and B
    model = _FixedModel(torch.from_numpy(m)[None], boxes, torch.tensor([[0.9, 0.4]]))

    def run(**kw):
        return evaluate(model, dataset, torch.device("cpu"), EvalConfig(batch_size=1, **kw), "fp32")

    fg, every = run(ari_slots="foreground", box_score_thresh=0.5), run(ari_slots="all", box_score_thresh=0.0)
    assert every["fg_ari"] == pytest.approx(1.0) == fg["fg_ari_all_slots"]
    assert fg["fg_ari"] == pytest.approx(0.561, abs=1e-3) == every["fg_ari_foreground_slots"]
    # Box B (score 0.4) counts only without the 0.5 threshold: recall 1/3 vs 2/3 at precision 1 (COCO's
    # 101-point interpolation: 34/101 and 67/101).
    assert fg["box_AP50"] == pytest.approx(100 * 34 / 101, abs=0.01)
    assert every["box_AP50"] == pytest.approx(100 * 67 / 101, abs=0.01)
