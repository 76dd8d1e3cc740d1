"""Stage-1 losses: center field, boundary distance field, and existence BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def valid_samples(saliency_mask: torch.Tensor) -> torch.Tensor:
    """bool [B]: samples whose crop holds both foreground and background (saliency_mask [B, 1, H, W])."""
    fg = saliency_mask.flatten(1).sum(1)
    return (fg > 0) & (fg < saliency_mask[0].numel())


def pointwise_error(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Elementwise `(pred - target)^2` for kind "l2", `|pred - target|` for "l1"."""
    if kind == "l2":
        return (pred - target) ** 2
    if kind == "l1":
        return (pred - target).abs()
    raise ValueError(f"unknown loss type {kind!r} (expected l1 or l2)")


def forward_gradients(x: torch.Tensor) -> torch.Tensor:
    """Forward differences of x [B, C, H, W] -> [B, 2C, H-1, W-1]: d/drow, d/dcol; last row/col dropped."""
    d_row = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
    d_col = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
    return torch.cat([d_row, d_col], dim=1)


def center_boundary_loss(
    pred: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    center_field_loss_type: str = "l2",
    sdf_loss_type: str = "l1",
    use_sdf_gradient_loss: bool = False,
    use_sdf_binary_mask_loss: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its terms for predictions `center_fields` [B,2,H,W], `sdf_maps` [B,1,H,W].

    `batch` holds `center_field` [B,2,H,W], `sdf` [B,1,H,W], `saliency_mask` [B,1,H,W]. Samples with an
    empty, all-foreground or all-background crop are left out. Terms (means over pixels and kept samples):
    center-field error (l2/l1), sdf error (l1/l2), optionally the error (same type as the sdf error)
    between forward-difference gradients, and BCE between sigmoid(sdf) and the saliency mask. With no
    sample left the loss is a zero that still depends on every output (so DDP gradients stay in sync).
    """
    pc, ps = pred["center_fields"].float(), pred["sdf_maps"].float()
    keep = valid_samples(batch["saliency_mask"])
    terms: dict[str, float] = {"num_samples": float(keep.sum())}
    if not bool(keep.any()):
        return pc.sum() * 0.0 + ps.sum() * 0.0, terms
    pc, ps = pc[keep], ps[keep]
    gc, gs, gm = batch["center_field"][keep], batch["sdf"][keep], batch["saliency_mask"][keep]
    center = pointwise_error(pc, gc, center_field_loss_type).mean()
    sdf = pointwise_error(ps, gs, sdf_loss_type).mean()
    total = center + sdf
    terms.update(center_field=center.item(), sdf=sdf.item())
    if use_sdf_gradient_loss:
        grad = pointwise_error(forward_gradients(ps), forward_gradients(gs), sdf_loss_type).mean()
        total = total + grad
        terms["sdf_gradient"] = grad.item()
    if use_sdf_binary_mask_loss:
        bce = F.binary_cross_entropy_with_logits(ps, gm)
        total = total + bce
        terms["sdf_binary_mask"] = bce.item()
    terms["total"] = total.item()
    return total, terms


def existence_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """BCE between sigmoid(logits) [B, 1] and labels [B, 1] (computed stably from the logits)."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    acc = ((logits.detach() > 0).float() == labels).float().mean()
    return loss, {
        "total": loss.item(),
        "bce": loss.item(),
        "accuracy": acc.item(),
        "num_samples": float(len(labels)),
    }
