"""DPT dense backbone (Ranftl et al., "Vision Transformers for Dense Prediction") on a timm ViT.

The module tree mirrors the layout of the released unMORE checkpoints so that their `state_dict` loads
with `strict=True`:

- `pretrained.model`: the timm Vision Transformer (`vit_large_patch16_384` for `dpt_large`,
  `vit_base_r50_s16_384` for `dpt_hybrid`), built with `pretrained=False`.
- `pretrained.act_postprocess{1..4}`: "reassemble" stages. Index 0 reads the class token (readout
  `project`: concat with every patch token, Linear 2C->C, GELU), indices 1-2 turn tokens into a [B, C, h, w]
  map (parameter-free), index 3 is a 1x1 projection and index 4 (when present) resamples the map
  (x4 / x2 transposed conv, identity, or a stride-2 3x3 conv).
- `scratch.layer{1..4}_rn`: 3x3 convs (no bias) to `features` channels.
- `scratch.refinenet{1..4}`: fusion blocks (two residual conv units, x2 bilinear upsampling with
  align_corners, 1x1 output conv), no batch norm.

The final DPT head is replaced by x2 bilinear upsampling (align_corners=True), so the output is
`features` channels at the input resolution.
"""

from __future__ import annotations

import math

import timm
import torch
import torch.nn.functional as F
from torch import nn

VIT_CONFIGS = {
    # name: (timm model, hooked transformer blocks, reassembled channels per level, hybrid)
    "vitl16_384": ("vit_large_patch16_384", (5, 11, 17, 23), (256, 512, 1024, 1024), False),
    "vitb_rn50_384": ("vit_base_r50_s16_384", (0, 1, 8, 11), (256, 512, 768, 768), True),
    "vits16_224": ("vit_small_patch16_224", (2, 5, 8, 11), (48, 96, 192, 384), False),
}


class ProjectReadout(nn.Module):
    """Readout `project`: concatenate the class token to every patch token, then Linear(2C, C) + GELU.

    [B, 1 + N, C] -> [B, N, C]
    """

    def __init__(self, dim: int, start_index: int = 1):
        super().__init__()
        self.start_index = start_index
        self.project = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, self.start_index :]
        readout = tokens[:, :1].expand_as(patches)
        return self.project(torch.cat((patches, readout), dim=-1))


class TokensToChannels(nn.Module):
    """[B, N, C] -> [B, C, N]."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.transpose(1, 2)


class Reassemble(nn.Sequential):
    """One DPT reassemble stage: readout, tokens -> map on the patch grid, projection and resampling.

    Index 2 is a parameter-free placeholder where the original network unflattened tokens to a fixed
    24x24 grid; here the grid size is passed at call time so any input size works.
    """

    def forward(self, tokens: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
        x = self[1](self[0](tokens))  # [B, C, N]
        x = x.reshape(x.shape[0], x.shape[1], grid_hw[0], grid_hw[1])
        for layer in list(self)[3:]:
            x = layer(x)
        return x


def _reassemble_stage(vit_dim: int, out_ch: int, resample: nn.Module | None) -> Reassemble:
    layers = [ProjectReadout(vit_dim), TokensToChannels(), nn.Identity(), nn.Conv2d(vit_dim, out_ch, 1)]
    if resample is not None:
        layers.append(resample)
    return Reassemble(*layers)


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))), 3x3 convs with bias, no batch norm."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """DPT feature fusion: (x + rcu1(skip)) -> rcu2 -> bilinear upsampling (align_corners) -> 1x1 conv.

    The upsampled size is `out_size` when given (the next skip's size), else twice the input size; for
    inputs whose sides are multiples of 32 both are the same x2 upsampling as in the paper.
    """

    def __init__(self, features: int):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None = None, out_size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        size = out_size if out_size is not None else (2 * x.shape[-2], 2 * x.shape[-1])
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(x)


def resize_pos_embed(pos_embed: torch.Tensor, grid_hw: tuple[int, int], num_prefix: int = 1) -> torch.Tensor:
    """Resize a square ViT position embedding [1, P + g*g, C] to the grid `grid_hw`.

    Same behaviour as the original DPT code: the patch grid is bilinearly interpolated with
    align_corners=False and no antialiasing (24x24 -> 8x8 for 128x128 crops with ViT-L/16-384); the class
    token embedding is kept as is.
    """
    prefix, grid = pos_embed[:, :num_prefix], pos_embed[0, num_prefix:]
    old = int(math.sqrt(grid.shape[0]))
    if old * old != grid.shape[0]:
        raise ValueError(f"position embedding grid of {grid.shape[0]} tokens is not square")
    if (old, old) == tuple(grid_hw):
        return pos_embed
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(grid_hw), mode="bilinear", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, grid_hw[0] * grid_hw[1], -1)
    return torch.cat([prefix, grid], dim=1)


class ViTEncoder(nn.Module):
    """timm ViT plus the four reassemble stages; returns four feature maps at 1/4, 1/8, 1/16, 1/32."""

    def __init__(self, vit_name: str, hooks: tuple[int, ...], channels: tuple[int, ...], hybrid: bool):
        super().__init__()
        self.model = timm.create_model(vit_name, pretrained=False)
        self.hooks = tuple(hooks)
        self.hybrid = hybrid
        self.patch_size = 16
        dim = self.model.embed_dim
        if hybrid:
            # The first two levels come from the ResNet stages of the hybrid patch embedding.
            self.act_postprocess1 = nn.Sequential(nn.Identity(), nn.Identity(), nn.Identity())
            self.act_postprocess2 = nn.Sequential(nn.Identity(), nn.Identity(), nn.Identity())
        else:
            self.act_postprocess1 = _reassemble_stage(
                dim, channels[0], nn.ConvTranspose2d(channels[0], channels[0], 4, stride=4)
            )
            self.act_postprocess2 = _reassemble_stage(
                dim, channels[1], nn.ConvTranspose2d(channels[1], channels[1], 2, stride=2)
            )
        self.act_postprocess3 = _reassemble_stage(dim, channels[2], None)
        self.act_postprocess4 = _reassemble_stage(
            dim, channels[3], nn.Conv2d(channels[3], channels[3], 3, stride=2, padding=1)
        )
        # The final norm, the classifier head and blocks after the last hook do not take part in the
        # forward pass; freezing them keeps DDP from waiting for their gradients (still in the state dict).
        unused = [self.model.norm, self.model.head, *self.model.blocks[max(self.hooks) + 1 :]]
        unused += [getattr(self.model, "fc_norm", nn.Identity())]
        for module in unused:
            module.requires_grad_(False)

    def _patch_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Image -> patch tokens [B, N, C] (plus the hybrid's ResNet stage outputs)."""
        cnn_feats: list[torch.Tensor] = []
        embed = self.model.patch_embed
        if self.hybrid:
            cnn = embed.backbone
            x = cnn.stem(x)
            for stage in cnn.stages:
                x = stage(x)
                cnn_feats.append(x)
            x = cnn.norm(x)
        x = embed.proj(x).flatten(2).transpose(1, 2)
        return x, cnn_feats

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        grid = (h // self.patch_size, w // self.patch_size)
        vit = self.model
        tokens, cnn_feats = self._patch_tokens(x)
        cls = vit.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat((cls, tokens), dim=1) + resize_pos_embed(vit.pos_embed, grid)
        tokens = vit.pos_drop(tokens)
        hooked = {}
        for i, block in enumerate(vit.blocks[: max(self.hooks) + 1]):
            tokens = block(tokens)
            if i in self.hooks:
                hooked[i] = tokens
        if self.hybrid:
            l1, l2 = cnn_feats[0], cnn_feats[1]
        else:
            l1 = self.act_postprocess1(hooked[self.hooks[0]], grid)
            l2 = self.act_postprocess2(hooked[self.hooks[1]], grid)
        l3 = self.act_postprocess3(hooked[self.hooks[2]], grid)
        l4 = self.act_postprocess4(hooked[self.hooks[3]], grid)
        return [l1, l2, l3, l4]


class DPT(nn.Module):
    """DPT encoder-decoder without a task head: [B, 3, H, W] -> [B, features, H, W].

    Input sides should be multiples of 16 (the ViT patch size); 128x128 crops give an 8x8 token grid.
    """

    def __init__(self, vit: str = "vitl16_384", features: int = 256):
        super().__init__()
        vit_name, hooks, channels, hybrid = VIT_CONFIGS[vit]
        self.out_channels = features
        self.pretrained = ViTEncoder(vit_name, hooks, channels, hybrid)
        self.scratch = nn.Module()
        for i, ch in enumerate(channels, start=1):
            setattr(self.scratch, f"layer{i}_rn", nn.Conv2d(ch, features, 3, padding=1, bias=False))
        for i in range(1, 5):
            setattr(self.scratch, f"refinenet{i}", FusionBlock(features))
        # The deepest fusion block has no skip input, so its first residual unit is never used (it exists in
        # the released checkpoint); frozen so that DDP does not wait for its gradients.
        self.scratch.refinenet4.resConfUnit1.requires_grad_(False)

    @property
    def vit(self) -> nn.Module:
        """The timm Vision Transformer (target of `--backbone_weights`)."""
        return self.pretrained.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 16 or x.shape[-1] % 16:
            raise ValueError(
                f"DPT backbones need input sides that are multiples of 16, got {tuple(x.shape[-2:])}"
            )
        s = self.scratch
        l1, l2, l3, l4 = self.pretrained(x)
        r1, r2, r3, r4 = s.layer1_rn(l1), s.layer2_rn(l2), s.layer3_rn(l3), s.layer4_rn(l4)
        p4 = s.refinenet4(r4, out_size=r3.shape[-2:])
        p3 = s.refinenet3(p4, r3, out_size=r2.shape[-2:])
        p2 = s.refinenet2(p3, r2, out_size=r1.shape[-2:])
        p1 = s.refinenet1(p2, r1)
        # The depth head of DPT is replaced by plain x2 upsampling to the input resolution.
        return F.interpolate(p1, size=x.shape[-2:], mode="bilinear", align_corners=True)
