"""Stage-1 losses with known values."""

import pytest
import torch
import torch.nn.functional as F

from losses.objectness import (
    center_boundary_loss,
    existence_loss,
    forward_gradients,
    pointwise_error,
    valid_samples,
)


def make_batch() -> dict:
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(3, 1, 8, 8)
    mask[0, :, 2:6, 2:6] = 1  # valid
    mask[1] = 1  # all foreground -> skipped
    # sample 2: empty -> skipped
    return {
        "center_field": torch.randn(3, 2, 8, 8, generator=g) * mask,
        "sdf": torch.rand(3, 1, 8, 8, generator=g) * (2 * mask - 1),
        "saliency_mask": mask,
    }


def test_valid_samples_and_pointwise_error():
    assert valid_samples(make_batch()["saliency_mask"]).tolist() == [True, False, False]
    a, b = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.0])
    assert pointwise_error(a, b, "l2").tolist() == [0.25, 9.0]
    assert pointwise_error(a, b, "l1").tolist() == [0.5, 3.0]
    with pytest.raises(ValueError):
        pointwise_error(a, b, "huber")


def test_forward_gradients_of_ramps():
    r = torch.arange(5.0).view(1, 1, 5, 1).expand(1, 1, 5, 4)
    c = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 5, 4) * 3
    g = forward_gradients(r + c)
    assert g.shape == (1, 2, 4, 3)
    assert torch.all(g[:, 0] == 1) and torch.all(g[:, 1] == 3)


def test_zero_prediction_loss_values_and_skipping():
    batch = make_batch()
    pred = {"center_fields": torch.zeros(3, 2, 8, 8), "sdf_maps": torch.zeros(3, 1, 8, 8)}
    loss, terms = center_boundary_loss(pred, batch, "l2", "l1", True, True)
    gc, gs, gm = batch["center_field"][:1], batch["sdf"][:1], batch["saliency_mask"][:1]
    expected_center = (gc**2).mean()
    expected_sdf = gs.abs().mean()
    expected_grad = forward_gradients(gs).abs().mean()
    expected_bce = F.binary_cross_entropy(torch.full_like(gm, 0.5), gm)
    assert terms["center_field"] == pytest.approx(float(expected_center), rel=1e-5)
    assert terms["sdf"] == pytest.approx(float(expected_sdf), rel=1e-5)
    assert terms["sdf_gradient"] == pytest.approx(float(expected_grad), rel=1e-5)
    assert terms["sdf_binary_mask"] == pytest.approx(float(expected_bce), rel=1e-5)
    assert float(loss) == pytest.approx(
        float(expected_center + expected_sdf + expected_grad + expected_bce), rel=1e-5
    )
    assert terms["num_samples"] == 1
    # garbage predictions on the skipped samples do not change the loss
    pred2 = {k: v.clone() for k, v in pred.items()}
    pred2["center_fields"][1:] = 100.0
    pred2["sdf_maps"][1:] = -50.0
    loss2, _ = center_boundary_loss(pred2, batch, "l2", "l1", True, True)
    assert float(loss2) == pytest.approx(float(loss))


def test_perfect_prediction_has_zero_regression_loss_and_l1_l2_switch():
    batch = make_batch()
    pred = {"center_fields": batch["center_field"].clone(), "sdf_maps": batch["sdf"].clone()}
    loss, terms = center_boundary_loss(pred, batch, "l1", "l2", True, False)
    assert float(loss) == 0.0 and "sdf_binary_mask" not in terms
    pred["sdf_maps"] = pred["sdf_maps"] + 0.5
    _, terms = center_boundary_loss(pred, batch, "l1", "l2", False, False)
    assert terms["sdf"] == pytest.approx(0.25)


def test_no_valid_sample_gives_differentiable_zero():
    batch = make_batch()
    batch["saliency_mask"][0] = 0
    pc = torch.randn(3, 2, 8, 8, requires_grad=True)
    ps = torch.randn(3, 1, 8, 8, requires_grad=True)
    loss, terms = center_boundary_loss(
        {"center_fields": pc, "sdf_maps": ps}, batch, use_sdf_gradient_loss=True
    )
    loss.backward()
    assert float(loss.detach()) == 0.0 and terms["num_samples"] == 0
    assert pc.grad is not None and torch.all(pc.grad == 0)


def test_existence_loss_matches_bce_of_probabilities():
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    labels = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    loss, terms = existence_loss(logits, labels)
    assert float(loss) == pytest.approx(
        float(F.binary_cross_entropy(torch.sigmoid(logits), labels)), rel=1e-6
    )
    assert terms["accuracy"] == pytest.approx(0.5)
