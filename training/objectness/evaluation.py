"""Held-out evaluation of stage-1 checkpoints against trivial baselines.

Objectness network, on the valid samples (crop holds foreground and background) of a held-out set, for
the full images and for random crops drawn with a fixed seed; the same metrics for the zero predictor:
- `center_field_mse`: mean squared error over pixels and both channels (the training L2 term);
- `center_field_fg_error`: mean Euclidean length of (pred - gt) over object pixels (zero predictor: 1);
- `sdf_mae`: mean absolute boundary-field error over all pixels;
- `mask_iou`: IoU of `sdf > 0` with the object mask (zero predictor: 0).
Existence network: accuracy and BCE on held-out positive/negative samples (several seeded draws per
image), and the accuracy of always answering the majority label.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from datasets.existence import ExistenceDataset
from datasets.imagenet_votecut import ImageNetVoteCutDataset, collate_samples
from losses.objectness import valid_samples
from models.checkpoint import (
    build_existence_net_from_checkpoint,
    build_objectness_net_from_checkpoint,
    crop_size_from_checkpoint,
    load_checkpoint,
    model_state_from_checkpoint,
)
from training.objectness.args import Stage1Config

CENTER_METRICS = ("center_field_mse", "center_field_fg_error", "sdf_mae", "mask_iou")


class _Accumulator:
    def __init__(self):
        self.sums = {
            "center_sq": 0.0,
            "center_px": 0,
            "fg_err": 0.0,
            "fg_px": 0,
            "sdf_abs": 0.0,
            "sdf_px": 0,
            "inter": 0.0,
            "union": 0.0,
        }

    def add(self, pc: torch.Tensor, ps: torch.Tensor, batch: dict) -> None:
        gc, gs, gm = batch["center_field"], batch["sdf"], batch["saliency_mask"] > 0.5
        s = self.sums
        s["center_sq"] += float(((pc - gc) ** 2).sum())
        s["center_px"] += gc.numel()
        err = torch.linalg.vector_norm(pc - gc, dim=1, keepdim=True)
        s["fg_err"] += float(err[gm].sum())
        s["fg_px"] += int(gm.sum())
        s["sdf_abs"] += float((ps - gs).abs().sum())
        s["sdf_px"] += gs.numel()
        pm = ps > 0
        s["inter"] += float((pm & gm).sum())
        s["union"] += float((pm | gm).sum())

    def result(self) -> dict[str, float]:
        s = self.sums
        return {
            "center_field_mse": s["center_sq"] / max(s["center_px"], 1),
            "center_field_fg_error": s["fg_err"] / max(s["fg_px"], 1),
            "sdf_mae": s["sdf_abs"] / max(s["sdf_px"], 1),
            "mask_iou": s["inter"] / max(s["union"], 1.0),
        }


@torch.no_grad()
def evaluate_objectness(net, dataset, batch_size: int, device, num_workers: int = 0) -> dict:
    """{"model": metrics, "zero_predictor": metrics, "num_samples": n, "skipped": k} over valid samples."""
    model_acc, zero_acc = _Accumulator(), _Accumulator()
    n = skipped = 0
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_samples)
    for batch in loader:
        skipped += len(batch["skipped"])
        if batch["size"] == 0:
            continue
        keep = valid_samples(batch["saliency_mask"])
        if not bool(keep.any()):
            continue
        batch = {k: batch[k][keep] for k in ("image", "center_field", "sdf", "saliency_mask")}
        out = net(batch["image"].to(device))
        pc, ps = out["center_fields"].float().cpu(), out["sdf_maps"].float().cpu()
        model_acc.add(pc, ps, batch)
        zero_acc.add(torch.zeros_like(pc), torch.zeros_like(ps), batch)
        n += int(keep.sum())
    return {
        "model": model_acc.result(),
        "zero_predictor": zero_acc.result(),
        "num_samples": n,
        "skipped": skipped,
    }


class KeyedView(Dataset):
    """`dataset[keys[j]]` for j in range(len(keys)): several seeded draws per image."""

    def __init__(self, dataset, keys: list):
        self.dataset, self.keys = dataset, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, j):
        return self.dataset[self.keys[j]]


@torch.no_grad()
def evaluate_existence(
    net, dataset, batch_size: int, device, num_workers: int = 0, samples_per_image: int = 4
) -> dict:
    """Accuracy/BCE over `samples_per_image` seeded draws (positive or negative) per held-out image."""
    correct = total = positives = 0
    bce = 0.0
    skipped = 0
    n = len(dataset)
    view = KeyedView(dataset, [(i, r * n + i) for r in range(samples_per_image) for i in range(n)])
    loader = DataLoader(view, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_samples)
    for batch in loader:
        skipped += len(batch["skipped"])
        if batch["size"] == 0:
            continue
        logits = net.logits(batch["image"].to(device)).float().cpu()
        labels = batch["label"]
        correct += int(((logits > 0).float() == labels).sum())
        bce += float(torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum"))
        positives += int(labels.sum())
        total += len(labels)
    total_ = max(total, 1)
    return {
        "accuracy": correct / total_,
        "bce": bce / total_,
        "majority_label_accuracy": max(positives, total - positives) / total_,
        "positive_fraction": positives / total_,
        "num_samples": total,
        "skipped": skipped,
    }


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    imagenet_root: str | os.PathLike,
    mask_root: str | os.PathLike | None = None,
    votecut_json: str | os.PathLike | None = None,
    image_size: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    samples_per_image: int = 4,
) -> dict:
    """Evaluate a checkpoint of either task on a held-out set; returns the metrics dict."""
    ckpt = load_checkpoint(checkpoint, "evaluated", "cpu")
    args, trained = ckpt.get("args") or {}, Stage1Config()  # older checkpoints: the training defaults
    task = ckpt.get("task") or (
        "existence" if "binary_classification_head.weight" in model_state_from_checkpoint(ckpt)
        else "center_boundary"
    )
    size = image_size or crop_size_from_checkpoint(ckpt)
    result: dict = {
        "checkpoint": str(checkpoint),
        "task": task,
        "iter": int(ckpt.get("iter", 0)),
        "imagenet_root": str(imagenet_root),
        "image_size": size,
        "seed": seed,
    }
    if task == "existence":
        net = build_existence_net_from_checkpoint(checkpoint, device)
        ds = ExistenceDataset(imagenet_root, mask_root, votecut_json, size, seed=seed,
                              negatives=args.get("existence_negatives", trained.existence_negatives),
                              positive_rule=args.get("existence_positive_rule",
                                                     trained.existence_positive_rule))
        result["existence"] = evaluate_existence(net, ds, batch_size, device, num_workers, samples_per_image)
        return result
    net = build_objectness_net_from_checkpoint(checkpoint, device)
    use_bg = bool(net.use_bg_sdf)
    for name, random_crop in (("full_image", False), ("random_crop", True)):
        ds = ImageNetVoteCutDataset(
            imagenet_root, mask_root, size, use_bg, random_crop=random_crop, seed=seed,
            mask_resize=args.get("mask_resize", trained.mask_resize),
        )
        result[name] = evaluate_objectness(net, ds, batch_size, device, num_workers)
    return result


def format_result(result: dict) -> str:
    """Human-readable table of an `evaluate_checkpoint` result."""
    lines = [
        f"checkpoint {result['checkpoint']} ({result['task']}, iter {result['iter']}) on "
        f"{Path(result['imagenet_root'])} at {result['image_size']}px"
    ]
    if result["task"] == "existence":
        e = result["existence"]
        lines.append(
            f"  existence accuracy {e['accuracy']:.4f} "
            f"(majority-label baseline {e['majority_label_accuracy']:.4f}), "
            f"BCE {e['bce']:.4f}, {e['num_samples']} samples"
        )
        return "\n".join(lines)
    for name in ("full_image", "random_crop"):
        r = result[name]
        lines.append(f"  {name} ({r['num_samples']} samples)   model    zero-predictor")
        for m in CENTER_METRICS:
            lines.append(f"    {m:<24s} {r['model'][m]:8.4f} {r['zero_predictor'][m]:8.4f}")
    return "\n".join(lines)


def stage1_summary(result: dict) -> dict:
    """Headline figures of an `evaluate_checkpoint` result, with its baseline, and a one-line sentence.

    Existence: accuracy vs the majority label. Objectness (random crops, as in training): center-field MSE
    and sdf MAE vs the zero predictor, and the mask IoU of `sdf > 0`.
    """
    if result["task"] == "existence":
        e = result["existence"]
        return {"task": "existence", "accuracy": e["accuracy"], "majority_label_accuracy":
                e["majority_label_accuracy"],
                "line": f"existence network (held-out): accuracy {e['accuracy']:.3f} "
                        f"(majority label {e['majority_label_accuracy']:.3f})"}
    r = result["random_crop"]
    m, z = r["model"], r["zero_predictor"]
    return {"task": "center_boundary", **{k: m[k] for k in CENTER_METRICS},
            **{f"zero_predictor_{k}": z[k] for k in CENTER_METRICS},
            "line": f"center/boundary network (held-out random crops): center-field MSE "
                    f"{m['center_field_mse']:.4f} (zero predictor {z['center_field_mse']:.4f}), "
                    f"boundary-field MAE {m['sdf_mae']:.4f} "
                    f"(zero {z['sdf_mae']:.4f}), mask IoU {m['mask_iou']:.3f}"}
