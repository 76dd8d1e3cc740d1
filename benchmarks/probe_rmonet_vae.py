"""The component VAE of R-MONet / MONet alone, on ground-truth masks: how fast does it learn to draw a sprite?

    OMP_NUM_THREADS=1 python benchmarks/probe_rmonet_vae.py --iters 1000
    OMP_NUM_THREADS=1 python benchmarks/probe_rmonet_vae.py --iters 1000 --deterministic --beta 0 --gamma 0
    OMP_NUM_THREADS=1 python benchmarks/probe_rmonet_vae.py --iters 1000 --components sprite

No attention network: every procedural Multi-dSprites scene (one sprite by default) gives its ground-truth
masks, one component per sprite and the background (`--components all`), or only the sprite components
(`--components sprite`, the NLL of the sprite pixels alone). The VAE (`models.rmonet.vae.ComponentVAE`)
encodes (image, log mask) for every component and is trained with the loss terms of eq. 3
(`losses.rmonet`: mixture NLL with sigma_fg / sigma_bg, beta x latent KL, gamma x mask KL). Every
`--eval_every` iterations it prints, on fixed held-out scenes, the Euclidean RGB error of each component's
mean xbar_k over its own ground-truth pixels (sprites: 0.5-0.6 is a grey guess, < 0.2 draws the sprite's
colour), the latent KL and the mean decoded mask mbar_k on its own pixels. Writes nothing.
"""

from __future__ import annotations

import argparse
import runpy
import time
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

import numpy as np  # noqa: E402
import torch  # noqa: E402

from datasets.multi_dsprites import render_multi_dsprites  # noqa: E402
from losses.rmonet import component_sigmas, gaussian_kl, mask_kl, mixture_nll  # noqa: E402
from models.rmonet.vae import ComponentVAE  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import number  # noqa: E402
from utils.logging_utils import format_metrics  # noqa: E402

LOG_ZERO = -10.0  # log mask where a component has no pixel (the confined alpha logit of R-MONet)


def scenes(rng: np.random.Generator, n: int, size: int, sprites: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n scenes -> images [n, 3, size, size] in [0, 1], masks [n, sprites + 1, size, size] (background
    last)."""
    images, masks = [], []
    for _ in range(n):
        image, labels, _ = render_multi_dsprites(rng, size, sprites, sprites)
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255.0)
        labels = torch.from_numpy(labels.astype(np.int64))
        masks.append(torch.stack([(labels == i).float() for i in (*range(1, sprites + 1), 0)]))
    return torch.stack(images), torch.stack(masks)


def forward(
    vae: ComponentVAE, x: torch.Tensor, masks: torch.Tensor, sample: bool, oracle: bool = False
) -> dict:
    """x [B,3,H,W], masks [B,K,H,W] -> log_m [B,K,H,W] and `ComponentVAE.components`: xbar [B,K,3,H,W],
    log_masks_decoded [B,K,H,W], mu/logvar [B,K,Z]. oracle: no encoder; z_k = (mean RGB of x on mask k,
    0, ..., 0), decoded as it is."""
    log_m = torch.where(masks > 0, masks.clamp_min(1e-12).log(), torch.full_like(masks, LOG_ZERO))
    log_m = log_m - torch.logsumexp(log_m, dim=1, keepdim=True)
    if not oracle:
        return {"log_m": log_m, **vae.components(x, log_m, sample)}
    b, k, h, w = masks.shape
    colour = (x[:, None] * masks[:, :, None]).sum((3, 4)) / masks.sum((2, 3))[..., None].clamp_min(1.0)
    mu = torch.cat([colour, colour.new_zeros(b, k, vae.z_dim - 3)], dim=2)
    xbar, mask_logits = vae.decode(mu.flatten(0, 1))
    return {
        "log_m": log_m,
        "xbar": xbar.view(b, k, 3, h, w),
        "mu": mu,
        "logvar": torch.zeros_like(mu),
        "log_masks_decoded": torch.log_softmax(mask_logits.view(b, k, h, w), dim=1),
    }


def loss_of(out: dict, x: torch.Tensor, sigmas: torch.Tensor, args) -> torch.Tensor:
    """Eq. 3 without the RPN terms; `--components sprite`: the NLL of the sprite pixels only."""
    if args.components == "sprite":
        sq = ((out["xbar"][:, :-1] - x[:, None]) ** 2).sum(2)
        nll = (out["log_m"][:, :-1].exp() * sq).flatten(1).sum(1).mean() / (2 * sigmas[0] ** 2)
    else:
        nll = mixture_nll(x, out["log_m"], out["xbar"], sigmas)
    kl_z = gaussian_kl(out["mu"], out["logvar"])
    return nll + args.beta * kl_z + args.gamma * mask_kl(out["log_m"], out["log_masks_decoded"])


@torch.no_grad()
def report(vae: ComponentVAE, x: torch.Tensor, masks: torch.Tensor, oracle: bool = False) -> dict:
    """RGB error of xbar_k on its own pixels (sprites, background), latent KL, mbar_k on its own pixels."""
    out = forward(vae, x, masks, False, oracle)
    err = ((out["xbar"] - x[:, None]) ** 2).sum(2).sqrt()
    own = lambda v, sl: float((v[:, sl] * masks[:, sl]).sum() / masks[:, sl].sum().clamp_min(1))  # noqa: E731
    mbar = out["log_masks_decoded"].exp()
    return {
        "sprite_error": own(err, slice(0, -1)),
        "background_error": own(err, slice(-1, None)),
        "kl": float(gaussian_kl(out["mu"], out["logvar"])),
        "sprite_mbar": own(mbar, slice(0, -1)),
        "background_mbar": own(mbar, slice(-1, None)),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=number(int, min=1), default=1000)
    p.add_argument("--batch_size", type=number(int, min=1), default=8)
    p.add_argument("--image_size", type=number(int, min=16), default=32)
    p.add_argument("--sprites", type=number(int, min=1), default=1, help="sprites per scene")
    p.add_argument(
        "--vae_channels",
        type=number(int, min=1),
        nargs=3,
        default=[16, 16, 64],
        metavar=("ENC", "DEC", "HIDDEN"),
        help="the proxy's widths; MONet's: 32 32 256",
    )
    p.add_argument("--z_dim", type=number(int, min=1), default=16)
    p.add_argument("--lr", type=number(float, gt=0), default=1e-3)
    p.add_argument("--beta", type=number(float, min=0), default=0.5, help="latent KL weight")
    p.add_argument("--gamma", type=number(float, min=0), default=0.5, help="mask KL weight")
    p.add_argument("--sigma_fg", type=number(float, gt=0), default=0.11)
    p.add_argument("--sigma_bg", type=number(float, gt=0), default=0.09)
    p.add_argument("--deterministic", action="store_true", help="decode the posterior mean (no sampling)")
    p.add_argument("--components", choices=("all", "sprite"), default="all")
    p.add_argument(
        "--encoder_input",
        choices=("image", "masked_image", "oracle_colour"),
        default="image",
        help="what the encoder sees: (image, log m_k) as MONet, (image x m_k, m_k), or no encoder "
        "at all: z_k holds the true mean colour of component k (the decoder alone learns)",
    )
    p.add_argument("--eval_every", type=number(int, min=1), default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    oracle = args.encoder_input == "oracle_colour"
    vae = ComponentVAE(
        args.image_size,
        args.z_dim,
        *args.vae_channels,
        encoder_input="image" if oracle else args.encoder_input,
    )
    opt = torch.optim.Adam(vae.parameters(), lr=args.lr)
    sigmas = component_sigmas(args.sprites + 1, args.sigma_fg, args.sigma_bg)
    rng = np.random.default_rng(args.seed)
    held_out = scenes(np.random.default_rng(10_000 + args.seed), 64, args.image_size, args.sprites)
    rows, start = [], time.process_time()
    for it in range(1, args.iters + 1):
        x, masks = scenes(rng, args.batch_size, args.image_size, args.sprites)
        loss = loss_of(forward(vae, x, masks, not args.deterministic, oracle), x, sigmas, args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % args.eval_every == 0 or it == args.iters:
            row = {
                "iter": it,
                "loss": loss.item(),
                **report(vae, *held_out, oracle),
                "cpu_s": time.process_time() - start,
            }
            rows.append(row)
            print(format_metrics(row), flush=True)
    return rows


if __name__ == "__main__":
    run_cli(main)
