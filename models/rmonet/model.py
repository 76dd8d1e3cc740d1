"""R-MONet and the MONet-style baselines (recurrent attention with the same ResNet18+FPN backbones)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from losses.rmonet import component_sigmas

from .backbone import FPN_LEVELS, ResNet18FPN
from .config import MONET_VARIANTS, RMONET_VARIANTS, ModelConfig
from .heads import LiteHead, ROIAlignHead, UNetHead
from .pseudo_boxes import pseudo_boxes
from .rpn import RMONetRPN
from .stick_breaking import log_stick_breaking
from .vae import ComponentVAE


class SceneModel(nn.Module):
    """Backbone and VAE; subclasses implement `attention(x)` giving log masks [B,K,H,W] (+ boxes).

    `in_channels` of the ResNet18+FPN backbone: 3 (image) for R-MONet, 4 (image + log scope) for MONet.
    `background_index`: the slot with the background scale sigma_bg (K-1 for R-MONet, 0 for MONet).
    The loss of the outputs is `losses.rmonet.scene_loss`.
    """

    def __init__(self, cfg: ModelConfig, image_size: int, in_channels: int, background_index: int):
        super().__init__()
        self.num_slots = cfg.num_slots
        self.head_channels = cfg.head_channels
        self.background_index = background_index % cfg.num_slots
        norm = cfg.input_norm
        if norm is not None and (len(norm) != 2 or float(norm[1]) <= 0):
            raise ValueError(f"model.input_norm must be null or [mean, std] with std > 0, got {norm}")
        self.input_norm = None if norm is None else (float(norm[0]), float(norm[1]))
        self.vae = ComponentVAE(image_size, cfg.z_dim, *cfg.vae_channels)
        sigmas = component_sigmas(cfg.num_slots, cfg.sigma_fg, cfg.sigma_bg, self.background_index)
        self.register_buffer("sigmas", sigmas, persistent=False)
        self.backbone = ResNet18FPN(in_channels, cfg.fpn_channels, cfg.backbone_weights, cfg.backbone_norm)

    @property
    def foreground_slots(self) -> list[int]:
        """Indices of the K-1 foreground slots (all but `background_index`)."""
        return [k for k in range(self.num_slots) if k != self.background_index]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """The attention network's input: x, or (x - mean) / std with `input_norm`."""
        return x if self.input_norm is None else (x - self.input_norm[0]) / self.input_norm[1]

    def attention(self, x: torch.Tensor) -> dict:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict:
        """x [B,3,H,W] in [0,1] -> dict with log_masks [B,K,H,W], masks [B,K,H,W] (fp32), boxes [B,K-1,4],
        box_scores [B,K-1], xbar [B,K,3,H,W], log_masks_decoded [B,K,H,W], recon [B,3,H,W], the posterior
        mu/logvar [B,K,Z] and, for R-MONet in training, rpn_targets (`RPNTargets`) and num_pseudo_boxes."""
        out = self.attention(self.normalise(x))
        components = self.vae.components(x, out["log_masks"], sample=self.training)
        masks = out["log_masks"].float().exp()
        out.update(components, masks=masks, recon=(masks[:, :, None] * components["xbar"]).sum(1))
        return out


class RMONet(SceneModel):
    """Spatial attention network (ResNet18+FPN, RPN, ROI masking or ROI Align head, stick-breaking) + VAE.

    `cfg.confine_masks`: alpha_k only inside ROI k enlarged by `cfg.roi_expand_ratio` (the paper); False
    leaves the Lite/UNet masks free outside their ROI (ablation). The background is the stick-breaking
    remainder m_K. `cfg.rpn_backbone="separate"`: the RPN reads a ResNet18+FPN of its own, which only the RPN
    loss trains (the masks' losses reach only the attention backbone).
    """

    def __init__(self, cfg: ModelConfig, image_size: int):
        if cfg.background_slot not in (None, "last"):
            raise ValueError(
                f"R-MONet's background is the last slot (eq. 7); model.background_slot="
                f"{cfg.background_slot!r}"
            )
        super().__init__(cfg, image_size, 3, -1)
        if cfg.variant not in RMONET_VARIANTS:
            raise ValueError(f"R-MONet variant must be one of {RMONET_VARIANTS}, got {cfg.variant!r}")
        self.variant = cfg.variant
        fpn = self.backbone.fpn_channels
        self.rpn = RMONetRPN(fpn, cfg.rpn)
        self.rpn_backbone = None
        if cfg.rpn_backbone == "separate":
            self.rpn_backbone = ResNet18FPN(3, cfg.fpn_channels, cfg.backbone_weights, cfg.backbone_norm)
        self.pseudo_cfg = cfg.pseudo_boxes
        self.roi_expand_ratio = ratio = cfg.roi_expand_ratio
        if cfg.variant == "lite":
            self.head = LiteHead(fpn, self.head_channels, ratio, cfg.confine_masks)
        elif cfg.variant == "unet":
            self.head = UNetHead(fpn, self.head_channels, ratio, cfg.confine_masks)
        else:
            self.head = ROIAlignHead(fpn, self.head_channels)
        if cfg.alpha_bias_init is not None:
            out_conv = self.head.out if isinstance(self.head, UNetHead) else self.head.head.out
            nn.init.constant_(out_conv.bias, float(cfg.alpha_bias_init))

    def attention(self, x: torch.Tensor) -> dict:
        b, _, h, w = x.shape
        feats = self.backbone(x)
        rpn_feats = feats if self.rpn_backbone is None else self.rpn_backbone(x)
        levels = [rpn_feats[n] for n in FPN_LEVELS]
        props = self.rpn.propose(x, levels, self.num_slots - 1)
        logits = self.head(feats, props.boxes, (h, w))  # [B, K-1, H, W]
        log_m = log_stick_breaking(logits)
        out = {"log_masks": log_m, "alpha_logits": logits, "boxes": props.boxes, "box_scores": props.scores}
        if self.training:
            fg = log_m[:, :-1].detach().exp().float().cpu().numpy()
            targets, n_boxes = [], 0
            for masks in fg:
                bx, _ = pseudo_boxes(masks, self.pseudo_cfg)
                targets.append(torch.from_numpy(bx))
                n_boxes += len(bx)
            out["rpn_targets"] = self.rpn.sample_targets(props, targets)
            out["num_pseudo_boxes"] = n_boxes / b
        return out


class MONetBaseline(SceneModel):
    """MONet with the recurrent attention network replaced by ResNet18(4-channel input)+FPN with the Lite-like
    conv head (`monet_fpn`) or the UNet-like decoder (`monet_fpn_unet`), no detection branch. Boxes for
    evaluation are derived from the masks (tight box of each foreground slot's argmax region, score = mean
    mask). `background_slot`: "first" (None: MONet's convention, the first attention step models the
    background with sigma_bg) or "last"."""

    def __init__(self, cfg: ModelConfig, image_size: int):
        if cfg.background_slot not in (None, "first", "last"):
            raise ValueError(
                f"model.background_slot must be null, first or last, got {cfg.background_slot!r}"
            )
        super().__init__(cfg, image_size, 4, -1 if cfg.background_slot == "last" else 0)
        if cfg.variant not in MONET_VARIANTS:
            raise ValueError(f"MONet variant must be one of {MONET_VARIANTS}, got {cfg.variant!r}")
        self.variant = cfg.variant
        head = UNetHead if cfg.variant == "monet_fpn_unet" else LiteHead
        self.head = head(self.backbone.fpn_channels, self.head_channels, 0.0, False)

    def attention(self, x: torch.Tensor) -> dict:
        b, _, h, w = x.shape
        log_scope = torch.zeros_like(x[:, :1])
        logs = []
        for _ in range(self.num_slots - 1):
            logit = self.head(self.backbone(torch.cat([x, log_scope], 1)), None, (h, w))  # [B,1,H,W]
            logs.append(log_scope + F.logsigmoid(logit))
            log_scope = log_scope + F.logsigmoid(-logit)
        log_m = torch.cat(logs + [log_scope], 1)
        boxes, scores = boxes_from_argmax(log_m, self.foreground_slots)
        return {"log_masks": log_m, "boxes": boxes, "box_scores": scores}


@torch.no_grad()
def boxes_from_argmax(log_masks: torch.Tensor, foreground: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Tight box [B, F, 4] of the argmax region of each foreground slot in `foreground` (F indices; zeros and
    score 0 when empty) and the mean mask value inside it as score [B, F]."""
    b = log_masks.shape[0]
    seg = log_masks.argmax(1)
    masks = log_masks.exp()
    boxes = torch.zeros(b, len(foreground), 4, device=log_masks.device)
    scores = torch.zeros(b, len(foreground), device=log_masks.device)
    for i in range(b):
        for j, s in enumerate(foreground):
            ys, xs = torch.nonzero(seg[i] == s, as_tuple=True)
            if ys.numel() == 0:
                continue
            x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            boxes[i, j] = torch.stack([x1, y1, x2, y2]).float()
            scores[i, j] = masks[i, s, y1:y2, x1:x2].mean()
    return boxes, scores


def build_model(cfg: ModelConfig, image_size: int) -> SceneModel:
    """R-MONet or the MONet baseline of `cfg.variant` for images of `image_size` pixels."""
    return (MONetBaseline if cfg.variant in MONET_VARIANTS else RMONet)(cfg, image_size)
