"""R-MONet's RPN alone, on ground-truth sprite boxes: how well can it find the sprites at a given scale?

    OMP_NUM_THREADS=1 python benchmarks/probe_rmonet_rpn.py --image_size 32 --iters 600
    OMP_NUM_THREADS=1 python benchmarks/probe_rmonet_rpn.py --image_size 64 --iters 600
    OMP_NUM_THREADS=1 python benchmarks/probe_rmonet_rpn.py --set model.rpn.anchor_sizes=[8,16,32,64,128]

No masks and no VAE: the ResNet18+FPN backbone and the RPN of R-MONet (`models.rmonet`, built from the
R-MONet config with the CPU presets' widths and any `--set` overrides) are trained from random weights on the
tight boxes of the procedural Multi-dSprites sprites, with the RPN terms of eq. 3 (`losses.rmonet.rpn_losses`,
weights `loss.delta` / `loss.lambda`, reduction `loss.rpn_objectness`). This is the best case for the RPN
inside R-MONet, where its targets are pseudo boxes of the masks and its backbone also serves the masks. Every
`--eval_every` iterations it prints, on fixed held-out scenes (eval-mode BatchNorm), the fraction of sprites
that one of the K-1 ROIs covers at IoU >= 0.5 / 0.3, the same for the best 20 proposals, and how many ROIs
per image score >= the RPN's score threshold. Writes nothing.
"""

from __future__ import annotations

import argparse
import runpy
import time
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.ops import box_iou  # noqa: E402

from datasets.multi_dsprites import render_multi_dsprites  # noqa: E402
from losses.rmonet import rpn_losses  # noqa: E402
from models.rmonet.backbone import FPN_LEVELS  # noqa: E402
from models.rmonet.model import RMONet  # noqa: E402
from training.rmonet.config import load_config  # noqa: E402
from training.rmonet.metrics import object_boxes  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import number  # noqa: E402
from utils.logging_utils import format_metrics  # noqa: E402

WIDTHS = ["model.fpn_channels=32", "model.head_channels=16", "model.vae_channels=[16,16,64]"]
PROPOSALS = 20  # the RPN's post-NMS proposals (model.rpn.post_nms_top_n's default)


def scenes(rng: np.random.Generator, n: int, size: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """n procedural Multi-dSprites scenes -> images [n, 3, size, size] in [0, 1] and per image the tight
    boxes [m_i, 4] (xyxy) of its visible sprites."""
    images, boxes = [], []
    for _ in range(n):
        image, labels, _ = render_multi_dsprites(rng, size)
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255.0)
        boxes.append(torch.from_numpy(object_boxes(labels)))
    return torch.stack(images), boxes


def coverage(found: list[torch.Tensor], boxes: list[torch.Tensor], iou: float) -> float:
    """Fraction of the ground-truth boxes that one of their image's found boxes [R, 4] covers at `iou`."""
    hits = [box_iou(gt, f).max(1).values >= iou for gt, f in zip(boxes, found) if len(gt)]
    return float(torch.cat(hits).float().mean())


@torch.no_grad()
def report(model: RMONet, x: torch.Tensor, boxes: list[torch.Tensor]) -> dict:
    """ROI coverage of held-out scenes x [N,3,H,W] with their ground-truth boxes, BatchNorm in eval mode."""
    model.eval()
    xn = model.normalise(x)
    feats = model.backbone(xn)
    k = model.num_slots - 1
    props = model.rpn.propose(xn, [feats[n] for n in FPN_LEVELS], max(k, PROPOSALS))
    model.train()
    rois = list(props.boxes[:, :k])  # propose's order: its first k are the k ROIs R-MONet would use
    return {
        "roi_recall50": coverage(rois, boxes, 0.5),
        "roi_recall30": coverage(rois, boxes, 0.3),
        f"top{PROPOSALS}_recall50": coverage(list(props.boxes[:, :PROPOSALS]), boxes, 0.5),
        "rois_scored": float((props.scores[:, :k] >= model.rpn.cfg.score_thresh).float().sum(1).mean()),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=number(int, min=1), default=600)
    p.add_argument("--batch_size", type=number(int, min=1), default=8)
    p.add_argument("--image_size", type=number(int, min=16), default=32)
    p.add_argument("--lr", type=number(float, gt=0), default=1e-3)
    p.add_argument("--test_images", type=number(int, min=1), default=160)
    p.add_argument("--eval_every", type=number(int, min=1), default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="R-MONet config override, e.g. model.rpn.anchor_sizes=[8,16,32,64,128] or "
                   "loss.lambda=100")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    cfg = load_config(None, WIDTHS + [f"data.image_size={args.image_size}"] + args.overrides)
    model = RMONet(cfg.model, args.image_size)
    params = list(model.backbone.parameters()) + list(model.rpn.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    rng = np.random.default_rng(args.seed)
    held_out = scenes(np.random.default_rng(10_000 + args.seed), args.test_images, args.image_size)
    rows, start = [], time.process_time()
    model.train()
    for it in range(1, args.iters + 1):
        x, boxes = scenes(rng, args.batch_size, args.image_size)
        xn = model.normalise(x)
        feats = model.backbone(xn)
        props = model.rpn.propose(xn, [feats[n] for n in FPN_LEVELS], model.num_slots - 1)
        objectness, box = rpn_losses(model.rpn.sample_targets(props, boxes), cfg.loss.rpn_objectness)
        loss = cfg.loss.delta * objectness + cfg.loss.lambda_ * box
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % args.eval_every == 0 or it == args.iters:
            row = {"iter": it, "loss": loss.item(), **report(model, *held_out),
                   "cpu_s": time.process_time() - start}
            rows.append(row)
            print(format_metrics(row), flush=True)
    return rows


if __name__ == "__main__":
    run_cli(main)
