"""R-MONet and the MONet-style baselines (recurrent attention with the same ResNet18+FPN backbones)."""

from __future__ import annotations

from dataclasses import fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from losses.rmonet import component_sigmas, gaussian_kl, mask_kl, mixture_nll

from .backbone import ResNet18FPN
from .heads import LiteHead, ROIAlignHead, UNetHead
from .pseudo_boxes import PseudoBoxConfig, pseudo_boxes
from .rpn import RMONetRPN, RPNConfig
from .stick_breaking import log_stick_breaking
from .vae import ComponentVAE

RMONET_VARIANTS = ("lite", "unet", "roialign")
MONET_VARIANTS = ("monet_fpn", "monet_fpn_unet")


def _dataclass_from(cls, d: dict | None):
    d = dict(d or {})
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {sorted(unknown)}; valid: {sorted(names)}")
    for k, v in d.items():
        if isinstance(v, list):
            d[k] = tuple(v)
    return cls(**d)


class SceneModel(nn.Module):
    """Backbone, VAE and loss; subclasses implement `attention(x)` giving log masks [B,K,H,W] (+ boxes).

    `in_channels` of the ResNet18+FPN backbone: 3 (image) for R-MONet, 4 (image + log scope) for MONet.
    `background_index`: the slot with the background scale sigma_bg (K-1 for R-MONet, 0 for MONet).
    `input_norm`: None, or (mean, std) applied to the image the attention network sees (the VAE and the
    reconstruction stay in [0, 1]). `backbone_norm`: "batch" or "group" (see `ResNet18FPN`).
    """

    def __init__(
        self,
        in_channels: int,
        background_index: int,
        input_norm: tuple[float, float] | None,
        backbone_norm: str,
        image_size: int = 64,
        num_slots: int = 6,
        z_dim: int = 16,
        sigma_fg: float = 0.11,
        sigma_bg: float = 0.09,
        fpn_channels: int = 128,
        head_channels: int = 64,
        loss_weights: dict | None = None,
        vae_channels: tuple[int, int, int] = (32, 32, 256),
        backbone_weights: str | None = None,
    ):
        super().__init__()
        self.num_slots = num_slots
        self.head_channels = head_channels
        self.background_index = background_index % num_slots
        if input_norm is not None and (len(input_norm) != 2 or float(input_norm[1]) <= 0):
            raise ValueError(f"model.input_norm must be null or [mean, std] with std > 0, got {input_norm}")
        self.input_norm = None if input_norm is None else (float(input_norm[0]), float(input_norm[1]))
        self.vae = ComponentVAE(image_size, z_dim, *vae_channels)
        sigmas = component_sigmas(num_slots, sigma_fg, sigma_bg, self.background_index)
        self.register_buffer("sigmas", sigmas, persistent=False)
        self.w = {"beta": 0.5, "gamma": 0.5, "delta": 1.0, "lambda": 1.0, **(loss_weights or {})}
        self.backbone = ResNet18FPN(in_channels, fpn_channels, backbone_weights, backbone_norm)

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
        """x [B,3,H,W] in [0,1] -> dict with log_masks/masks [B,K,H,W], boxes [B,K-1,4], box_scores [B,K-1],
        xbar [B,K,3,H,W], log_masks_decoded [B,K,H,W], recon [B,3,H,W], losses (dict) and loss (scalar)."""
        out = self.attention(self.normalise(x))
        log_m = out["log_masks"]
        b, k, h, w = log_m.shape
        xk = x[:, None].expand(b, k, 3, h, w).reshape(b * k, 3, h, w)
        mu, logvar = self.vae.encode(xk, log_m.reshape(b * k, 1, h, w))
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        xbar, mlogit = self.vae.decode(z)
        xbar = xbar.view(b, k, 3, h, w)
        log_mbar = F.log_softmax(mlogit.view(b, k, h, w), dim=1)
        log_m, xbar, log_mbar = log_m.float(), xbar.float(), log_mbar.float()  # losses in fp32 under autocast
        losses = {
            "nll": mixture_nll(x.float(), log_m, xbar, self.sigmas),
            "kl_z": gaussian_kl(mu.float().view(b, k, -1), logvar.float().view(b, k, -1)),
            "kl_mask": mask_kl(log_m, log_mbar),
        }
        losses.update(out.pop("rpn_losses", {}))
        weights = {
            "nll": 1.0,
            "kl_z": self.w["beta"],
            "kl_mask": self.w["gamma"],
            "rpn_objectness": self.w["delta"],
            "rpn_box": self.w["lambda"],
        }
        out.update(
            masks=log_m.exp(),
            xbar=xbar,
            log_masks_decoded=log_mbar,
            losses=losses,
            recon=(log_m.exp()[:, :, None] * xbar).sum(1),
            loss=sum(weights[name] * value for name, value in losses.items()),
        )
        return out


class RMONet(SceneModel):
    """Spatial attention network (ResNet18+FPN, RPN, ROI masking or ROI Align head, stick-breaking) + VAE.

    `common`: the `SceneModel` arguments (image_size, num_slots, z_dim, sigmas, widths, loss weights).

    `confine_masks`: alpha_k only inside ROI k enlarged by `roi_expand_ratio` (the paper); False leaves the
    Lite/UNet masks free outside their ROI (ablation). The background is the stick-breaking remainder m_K.
    """

    def __init__(
        self,
        variant: str,
        roi_expand_ratio: float,
        confine_masks: bool,
        background_slot: str | None,
        alpha_bias_init: float | None,
        rpn: dict | None = None,
        pseudo_boxes: dict | None = None,
        **common,
    ):
        if background_slot not in (None, "last"):
            raise ValueError(
                f"R-MONet's background is the last slot (eq. 7); model.background_slot={background_slot!r}"
            )
        super().__init__(3, -1, **common)
        if variant not in RMONET_VARIANTS:
            raise ValueError(f"R-MONet variant must be one of {RMONET_VARIANTS}, got {variant!r}")
        self.variant = variant
        fpn = self.backbone.fpn_channels
        self.rpn = RMONetRPN(fpn, _dataclass_from(RPNConfig, rpn))
        self.pseudo_cfg = _dataclass_from(PseudoBoxConfig, pseudo_boxes)
        self.roi_expand_ratio = roi_expand_ratio
        if variant == "lite":
            self.head = LiteHead(fpn, self.head_channels, roi_expand_ratio, confine_masks)
        elif variant == "unet":
            self.head = UNetHead(fpn, self.head_channels, roi_expand_ratio, confine_masks)
        else:
            self.head = ROIAlignHead(fpn, self.head_channels)
        if alpha_bias_init is not None:
            out_conv = self.head.out if isinstance(self.head, UNetHead) else self.head.head.out
            nn.init.constant_(out_conv.bias, float(alpha_bias_init))

    def attention(self, x: torch.Tensor) -> dict:
        b, _, h, w = x.shape
        feats = self.backbone(x)
        props = self.rpn.propose(x, [feats[n] for n in ("p2", "p3", "p4", "p5", "p6")], self.num_slots - 1)
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
            obj, box = self.rpn.loss(props, targets)
            out["rpn_losses"] = {"rpn_objectness": obj, "rpn_box": box}
            out["num_pseudo_boxes"] = n_boxes / b
        return out


class MONetBaseline(SceneModel):
    """MONet with the recurrent attention network replaced by ResNet18(4-channel input)+FPN with the Lite-like
    conv head (`monet_fpn`) or the UNet-like decoder (`monet_fpn_unet`), no detection branch. Boxes for
    evaluation are derived from the masks (tight box of each foreground slot's argmax region, score = mean
    mask). `background_slot`: "first" (None: MONet's convention, the first attention step models the
    background with sigma_bg) or "last"."""

    def __init__(self, variant: str, background_slot: str | None, **common):
        if background_slot not in (None, "first", "last"):
            raise ValueError(f"model.background_slot must be null, first or last, got {background_slot!r}")
        super().__init__(4, -1 if background_slot == "last" else 0, **common)
        if variant not in MONET_VARIANTS:
            raise ValueError(f"MONet variant must be one of {MONET_VARIANTS}, got {variant!r}")
        self.variant = variant
        head = UNetHead if variant == "monet_fpn_unet" else LiteHead
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


def build_model(model_cfg: dict, loss_cfg: dict, image_size: int) -> SceneModel:
    """Model from the `model:` and `loss:` sections of a config."""
    cfg = dict(model_cfg)
    variant = cfg.pop("variant")
    cfg["vae_channels"] = tuple(cfg.pop("vae_channels", (32, 32, 256)))
    if variant in MONET_VARIANTS:
        r_monet_only = ("rpn", "pseudo_boxes", "roi_expand_ratio", "confine_masks", "alpha_bias_init")
        for key in r_monet_only:
            cfg.pop(key, None)
        cls = MONetBaseline
    else:
        cls = RMONet
    try:
        return cls(variant=variant, image_size=image_size, loss_weights=loss_cfg, **cfg)
    except TypeError as e:  # an unknown or missing model.* key
        raise ValueError(f"model config of variant {variant!r}: {e}") from e
