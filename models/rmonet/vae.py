"""Component VAE: encoder q(z_k | x, m_k) and spatial broadcast decoder p(x_k, mbar_k | z_k)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ComponentVAE(nn.Module):
    """Shared across the K components.

    encode(x [N,3,H,W], log_m [N,1,H,W]) -> (mu, logvar) [N, z_dim]
    decode(z [N, z_dim]) -> (xbar [N,3,H,W] in [0,1], mask logit [N,1,H,W])

    encoder_input: "image" feeds the encoder (x, log m_k) as MONet does; "masked_image" feeds (x * m_k, m_k).
    """

    def __init__(
        self,
        image_size: int,
        z_dim: int,
        enc_channels: int,
        dec_channels: int,
        hidden: int,
        encoder_input: str = "image",
    ):
        super().__init__()
        if encoder_input not in ("image", "masked_image"):
            raise ValueError(f"encoder_input must be 'image' or 'masked_image', got {encoder_input!r}")
        self.encoder_input = encoder_input
        chans = [4, enc_channels, enc_channels, 2 * enc_channels, 2 * enc_channels]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        self.encoder = nn.Sequential(*layers)
        feat = image_size // 16
        self.enc_mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(chans[-1] * feat * feat, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 2 * z_dim),
        )
        dec = []
        cin = z_dim + 2
        for _ in range(4):
            dec += [nn.Conv2d(cin, dec_channels, 3), nn.ReLU(inplace=True)]
            cin = dec_channels
        dec.append(nn.Conv2d(dec_channels, 4, 1))
        self.decoder = nn.Sequential(*dec)
        self.image_size = image_size
        self.z_dim = z_dim
        # Broadcast grid: 4 unpadded 3x3 convs shrink the map by 8, so decode on (H+8) x (W+8).
        s = image_size + 8
        lin = torch.linspace(-1.0, 1.0, s)
        yy, xx = torch.meshgrid(lin, lin, indexing="ij")
        self.register_buffer("coords", torch.stack([xx, yy])[None], persistent=False)

    def encode(self, x: torch.Tensor, log_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.encoder_input == "masked_image":
            m = log_m.exp()
            inputs = torch.cat([x * m, m], dim=1)
        else:
            inputs = torch.cat([x, log_m], dim=1)
        h = self.enc_mlp(self.encoder(inputs))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = z.shape[0]
        s = self.coords.shape[-1]
        tiled = z[:, :, None, None].expand(n, self.z_dim, s, s)
        out = self.decoder(torch.cat([tiled, self.coords.expand(n, -1, -1, -1)], dim=1))
        return torch.sigmoid(out[:, :3]), out[:, 3:]

    def components(self, x: torch.Tensor, log_masks: torch.Tensor, sample: bool) -> dict[str, torch.Tensor]:
        """Encode and decode every component of a scene.

        x [B,3,H,W], log_masks [B,K,H,W]; sample: decode z ~ q(z | x, m_k) (training) or its mean ->
        xbar [B,K,3,H,W] and log_masks_decoded [B,K,H,W] (log-softmax over K), both fp32, mu/logvar [B,K,Z].
        """
        b, k, h, w = log_masks.shape
        xk = x[:, None].expand(b, k, 3, h, w).reshape(b * k, 3, h, w)
        mu, logvar = self.encode(xk, log_masks.reshape(b * k, 1, h, w))
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        xbar, mask_logits = self.decode(z)
        return {
            "xbar": xbar.view(b, k, 3, h, w).float(),  # the loss runs in fp32 under autocast
            "log_masks_decoded": F.log_softmax(mask_logits.view(b, k, h, w), dim=1).float(),
            "mu": mu.view(b, k, -1),
            "logvar": logvar.view(b, k, -1),
        }
