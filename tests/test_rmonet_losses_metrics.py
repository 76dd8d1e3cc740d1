"""R-MONet loss terms and metrics against direct computations / scikit-learn / pycocotools."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score

from losses.rmonet import component_sigmas, gaussian_kl, mask_kl, mixture_nll, rpn_losses
from training.rmonet.metrics import (
    BoxAP,
    adjusted_rand_index,
    foreground_ari,
    match_boxes_to_objects,
    object_boxes,
)


def test_mixture_nll_equals_direct_computation():
    rng = np.random.default_rng(0)
    b, k, h, w = 2, 4, 3, 5
    x = rng.uniform(0, 1, (b, 3, h, w))
    xbar = rng.uniform(0, 1, (b, k, 3, h, w))
    m = rng.dirichlet(np.ones(k), size=(b, h, w)).transpose(0, 3, 1, 2)  # [B,K,H,W], sums to 1
    sig = np.array([0.11, 0.11, 0.11, 0.09])
    direct = 0.0
    for i in range(b):
        for y in range(h):
            for xx in range(w):
                p = 0.0
                for j in range(k):
                    g = np.prod(
                        np.exp(-((x[i, :, y, xx] - xbar[i, j, :, y, xx]) ** 2) / (2 * sig[j] ** 2))
                        / (sig[j] * np.sqrt(2 * np.pi))
                    )
                    p += m[i, j, y, xx] * g
                direct -= np.log(p)
    direct /= b
    got = mixture_nll(
        torch.tensor(x), torch.tensor(np.log(m)), torch.tensor(xbar), component_sigmas(k, 0.11, 0.09)
    )
    assert float(got) == pytest.approx(direct, rel=1e-6)  # sigmas are stored in float32


def test_kl_terms_equal_direct_computation():
    mu = torch.tensor([[[0.5, -1.0], [0.0, 2.0]]])
    logvar = torch.tensor([[[0.0, np.log(4.0)], [np.log(0.25), 0.0]]])
    direct = sum(0.5 * (m**2 + v - 1 - np.log(v)) for m, v in [(0.5, 1), (-1, 4), (0, 0.25), (2, 1)])
    assert float(gaussian_kl(mu, logvar)) == pytest.approx(direct, rel=1e-6)
    m = torch.tensor([0.7, 0.2, 0.1]).view(1, 3, 1, 1)
    mbar = torch.tensor([0.5, 0.25, 0.25]).view(1, 3, 1, 1)
    direct = sum(p * np.log(p / q) for p, q in [(0.7, 0.5), (0.2, 0.25), (0.1, 0.25)])
    assert float(mask_kl(m.log(), mbar.log())) == pytest.approx(direct, rel=1e-6)
    assert float(mask_kl(m.log(), m.log())) == pytest.approx(0.0, abs=1e-7)


def test_ari_equals_sklearn():
    rng = np.random.default_rng(1)
    for n, ka, kb in [(300, 4, 3), (50, 2, 6), (7, 1, 3), (10, 10, 1)]:
        a, b = rng.integers(0, ka, n), rng.integers(0, kb, n)
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    a = rng.integers(0, 3, 100)
    assert adjusted_rand_index(a, (a + 1) % 3) == pytest.approx(1.0)
    assert adjusted_rand_index(np.zeros(9), np.zeros(9)) == adjusted_rand_score(np.zeros(9), np.zeros(9))


def test_foreground_ari_uses_only_foreground_pixels():
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 4, (3, 16, 16))
    pred = rng.integers(0, 5, (3, 16, 16))
    pred[0] = np.where(gt[0] == 0, 7, gt[0])  # perfect on foreground, arbitrary on background
    gt[2] = 0  # no foreground: NaN
    got = foreground_ari(gt, pred)
    assert got[0] == pytest.approx(1.0)
    fg = gt[1] != 0
    assert got[1] == pytest.approx(adjusted_rand_score(gt[1][fg], pred[1][fg]), abs=1e-12)
    assert np.isnan(got[2])
    # One mask for all objects scores 0 whenever there are at least two objects.
    assert foreground_ari(gt[:2], np.zeros_like(gt[:2])) == pytest.approx([0.0, 0.0])


def test_box_ap_known_answers():
    labels = np.zeros((40, 40), np.int64)
    labels[2:10, 3:12] = 1  # box x 3..12, y 2..10
    labels[20:30, 20:30] = 2  # box x 20..30, y 20..30
    perfect = BoxAP()
    perfect.add(labels, np.array([[3, 2, 12, 10], [20, 20, 30, 30]]), np.array([0.9, 0.8]))
    assert perfect.compute() == pytest.approx({"AP": 100.0, "AP50": 100.0, "AP75": 100.0})
    half = BoxAP()  # one exact box; one box with IoU 0.6 (AP50 hit, AP75 miss)
    half.add(labels, np.array([[3, 2, 12, 10], [20, 20, 30, 26]]), np.array([0.9, 0.8]))
    res = half.compute()
    assert res["AP50"] == pytest.approx(100.0)
    assert res["AP75"] == pytest.approx(50.0, abs=0.5)
    assert BoxAP().compute() == {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}


def test_match_boxes_to_objects_counts_found_objects_and_boxes_on_objects():
    labels = np.zeros((2, 40, 40), np.int64)
    labels[0, 2:10, 3:12] = 1  # box x 3..12, y 2..10
    labels[0, 20:30, 20:30] = 2  # box x 20..30, y 20..30
    labels[1, 5:9, 5:9] = 7  # box x 5..9, y 5..9
    rois = np.array([
        [[3, 2, 12, 10], [20, 20, 30, 24], [0, 0, 40, 40]],  # exact; IoU 0.4; IoU 0.06
        [[5, 5, 9, 10], [0, 0, 0, 0], [0, 0, 0, 0]],  # IoU 0.8; padding
    ], np.float32)
    objects = [object_boxes(g) for g in labels]
    assert objects[0].tolist() == [[3, 2, 12, 10], [20, 20, 30, 30]] and objects[1].tolist() == [[5, 5, 9, 9]]
    assert match_boxes_to_objects(objects, rois).tolist() == [2, 3, 2, 6]
    assert match_boxes_to_objects(objects, rois, iou=0.85).tolist() == [1, 3, 1, 6]
    no_objects = [object_boxes(np.zeros((8, 8), np.int64))]
    assert match_boxes_to_objects(no_objects, rois[:1]).tolist() == [0, 0, 0, 3]
    ragged = [rois[0, :1], np.zeros((0, 4), np.float32)]  # pseudo boxes: any number per image
    assert match_boxes_to_objects(objects, ragged).tolist() == [1, 3, 1, 1]


def test_rpn_losses_of_the_sampled_anchors_equal_torchvision():
    """Target sampling in the model plus `rpn_losses` reproduce torchvision's RPN loss (same RNG draws)."""
    from models.rmonet.rpn import RMONetRPN, RPNConfig

    torch.manual_seed(0)
    rpn = RMONetRPN(8, RPNConfig())
    images = torch.rand(2, 3, 64, 64)
    feats = [torch.randn(2, 8, 64 // s, 64 // s) for s in (4, 8, 16, 32, 64)]
    props = rpn.propose(images, feats, 3)
    gt = [torch.tensor([[4.0, 4.0, 30.0, 28.0]]), torch.zeros(0, 4)]
    torch.manual_seed(1)
    ours = rpn_losses(rpn.sample_targets(props, gt), "anchor_mean")
    torch.manual_seed(1)
    labels, matched = rpn.assign_targets_to_anchors(props.anchors, [{"boxes": b} for b in gt])
    reference = rpn.compute_loss(
        props.objectness, props.deltas, labels, rpn.box_coder.encode(matched, props.anchors)
    )
    assert all(torch.equal(a, b) for a, b in zip(ours, reference))
    # eq. 3's objectness term: the BCE summed over each image's sampled anchors, averaged over the 2 images
    torch.manual_seed(1)
    targets = rpn.sample_targets(props, gt)
    summed, box = rpn_losses(targets, "image_sum")
    bce = F.binary_cross_entropy_with_logits(targets.logits, targets.labels, reduction="sum")
    assert targets.num_images == 2 and targets.labels.numel() > 100
    assert torch.allclose(summed, bce / 2) and torch.equal(box, reference[1])
    assert torch.allclose(summed, reference[0] * targets.labels.numel() / 2)


class _RandomMasks(torch.nn.Module):
    """Stub scene model: fixed random masks [N, K, H, W] (K = 4, background last), one image per call."""

    num_slots, background_index, foreground_slots = 4, 3, [0, 1, 2]

    def __init__(self, masks):
        super().__init__()
        self.masks, self.calls = masks, 0

    def forward(self, x):
        m = self.masks[self.calls : self.calls + len(x)]
        self.calls += len(x)
        return {
            "masks": m,
            "boxes": torch.zeros(len(x), 3, 4),
            "box_scores": torch.zeros(len(x), 3),
            "recon": x,
        }


def test_evaluated_fg_ari_equals_sklearn_on_the_foreground_pixels():
    """`evaluate`'s fg_ari = mean over images of sklearn's ARI between the ground-truth instance ids and
    argmax_k m_k (all K slots) on the ground-truth foreground pixels only; `fg_ari_foreground_slots` takes
    the argmax over the K-1 foreground masks."""
    from training.rmonet.config import EvalConfig
    from training.rmonet.evaluate import evaluate

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (5, 12, 12))
    masks = torch.from_numpy(rng.dirichlet(np.ones(4), size=(5, 12, 12)).transpose(0, 3, 1, 2)).float()
    dataset = [(torch.zeros(3, 12, 12), torch.from_numpy(g)) for g in labels]
    got = evaluate(_RandomMasks(masks), dataset, torch.device("cpu"), EvalConfig(batch_size=1), "fp32")
    pred_all, pred_fg = masks.argmax(1).numpy(), masks[:, :3].argmax(1).numpy()
    fg = labels != 0
    want_all = np.mean([adjusted_rand_score(g[f], p[f]) for g, p, f in zip(labels, pred_all, fg)])
    want_fg = np.mean([adjusted_rand_score(g[f], p[f]) for g, p, f in zip(labels, pred_fg, fg)])
    assert got["fg_ari"] == pytest.approx(want_all, abs=1e-12) == got["fg_ari_all_slots"]
    assert got["fg_ari_foreground_slots"] == pytest.approx(want_fg, abs=1e-12)
    assert abs(want_all - want_fg) > 1e-3  # the two readings differ on these masks
    assert got["background_mass_on_objects"] == pytest.approx(float(masks[:, 3][torch.from_numpy(fg)].mean()))


class _OffsetReconstruction(_RandomMasks):
    """The stub whose reconstruction is the image plus (0.3, 0.4, 0) on the left half of every image."""

    def forward(self, x):
        out = super().forward(x)
        offset = torch.zeros_like(x)
        offset[:, 0, :, : x.shape[-1] // 2], offset[:, 1, :, : x.shape[-1] // 2] = 0.3, 0.4
        return {**out, "recon": x + offset}


def test_object_colour_error_is_the_mean_rgb_distance_over_the_object_pixels():
    """`object_colour_error` = mean |recon - x|_2 over the ground-truth object pixels only: 0.5 on the left
    half, 0 on the right, so the object pixels' share on the left half times 0.5."""
    from training.rmonet.config import EvalConfig
    from training.rmonet.evaluate import evaluate

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, (4, 10, 10))
    masks = torch.full((4, 4, 10, 10), 0.25)
    dataset = [(torch.rand(3, 10, 10), torch.from_numpy(g)) for g in labels]
    model = _OffsetReconstruction(masks)
    got = evaluate(model, dataset, torch.device("cpu"), EvalConfig(batch_size=2), "fp32")
    objects = labels != 0
    want = 0.5 * objects[:, :, :5].sum() / objects.sum()
    assert got["object_colour_error"] == pytest.approx(want, abs=1e-6)
    assert objects[:, :, 5:].sum() > 0  # the right half's objects count, with error 0


def test_mask_kl_to_attention_flag_routes_the_gradient():
    """loss.mask_kl_to_attention: True (eq. 3) sends the mask KL's gradient to m_k and mbar_k; False only to
    mbar_k (the VAE), with the same value."""
    from losses.rmonet import LossConfig, scene_loss

    torch.manual_seed(0)
    b, k, h, w = 2, 3, 4, 4
    log_m = torch.log_softmax(torch.randn(b, k, h, w), 1).requires_grad_()
    log_mbar = torch.log_softmax(torch.randn(b, k, h, w), 1).requires_grad_()
    out = {
        "log_masks": log_m,
        "log_masks_decoded": log_mbar,
        "xbar": torch.rand(b, k, 3, h, w),
        "mu": torch.zeros(b, k, 2),
        "logvar": torch.zeros(b, k, 2),
    }
    x, sigmas = torch.rand(b, 3, h, w), component_sigmas(k, 0.11, 0.09)
    grads, values = {}, {}
    for flag in (True, False):
        cfg = LossConfig(beta=0.0, gamma=1.0, mask_kl_to_attention=flag)
        _, terms = scene_loss(out, x, sigmas, cfg)
        values[flag] = float(terms["kl_mask"].detach())
        grads[flag] = torch.autograd.grad(terms["kl_mask"], [log_m, log_mbar], allow_unused=True)
    assert values[True] == pytest.approx(values[False])
    assert grads[True][0].abs().sum() > 0 and grads[False][0] is None
    assert torch.allclose(grads[True][1], grads[False][1])
