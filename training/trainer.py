"""The stage-1 training loop (both tasks), with DDP, AMP, resumable checkpoints, logs and pictures.

Outputs in `<output_dir>`: `configs.json` (arguments), `loss_log.jsonl` (one record per `--log_interval`
iterations: `iter`, `lr`, `loss/<term>` averaged over the window and the ranks, `skipped` files so far),
`loss_curve.png`, `vis/iter_<n>.png` (fields or existence predictions on fixed samples),
`checkpoint_latest.pth` every `--ckpt_interval` iterations (atomic), plus the newest `--keep_checkpoints`
`checkpoint_iter_<n>.pth` files.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from datasets.existence import ExistenceDataset
from datasets.imagenet_votecut import ImageNetVoteCutDataset, SkippedSample, collate_samples
from losses.objectness import center_boundary_loss, existence_loss
from models.checkpoint import load_checkpoint, model_state_from_checkpoint, save_checkpoint
from models.objectness_net import ExistenceNet, ObjectnessNet
from training.args import ConfigError, default_run_name, task_name
from training.checkpointing import LATEST_NAME, periodic_name, prune_periodic_checkpoints, resolve_resume
from training.sampler import StreamSampler
from training.visualize import plot_center_boundary_fields, plot_existence_predictions, plot_loss_curve
from utils.checkpoint import capture_rng_state, restore_rng_state, unwrap_model
from utils.device import autocast, device_for_rank
from utils.distributed import DistInfo, barrier, cleanup_distributed, init_distributed
from utils.io import DataError, JsonlWriter, atomic_write_json, read_jsonl, remove_stale_temp_files
from utils.logging_utils import get_logger

LOG_NAME = "loss_log.jsonl"
MAX_CONSECUTIVE_SKIPPED = 100  # unusable samples in a row (no usable batch in between) before giving up
VIS_KEY_OFFSET = 2**40  # stream keys of the fixed visualisation samples (never used by training)


class ExistenceLogits(nn.Module):
    """Makes `ExistenceNet.logits` the forward pass, so DDP synchronises its gradients."""

    def __init__(self, net: ExistenceNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.logits(x)


def output_dir_of(args: argparse.Namespace) -> Path:
    if args.run_name is None:
        args.run_name = default_run_name(args)
    return Path(args.output_dir) if args.output_dir else Path("outputs") / "objectness" / args.run_name


def build_dataset(args: argparse.Namespace):
    scale = (args.random_crop_scale_min, args.random_crop_scale_max)
    if args.train_existence:
        return ExistenceDataset(
            args.imagenet_root,
            args.mask_root,
            args.votecut_json,
            args.image_size,
            scale,
            seed=args.seed,
            full_mask_root=args.full_mask_root,
            negatives=args.existence_negatives,
            positive_rule=args.existence_positive_rule,
        )
    return ImageNetVoteCutDataset(
        args.imagenet_root,
        args.mask_root,
        args.image_size,
        args.use_bg_sdf,
        scale,
        random_crop=True,
        seed=args.seed,
        mask_resize=args.mask_resize,
    )


def build_model(args: argparse.Namespace, logger: logging.Logger) -> nn.Module:
    if args.train_existence:
        return ExistenceNet(args.existence_arch, backbone_weights=args.backbone_weights, logger=logger)
    return ObjectnessNet(
        args.backbone_type,
        args.sdf_activation,
        args.use_bg_sdf,
        backbone_weights=args.backbone_weights,
        logger=logger,
    )


def build_optimizer(args: argparse.Namespace, model: nn.Module) -> torch.optim.Optimizer:
    if args.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), args.learning_rate)
    return torch.optim.SGD(model.parameters(), args.learning_rate, momentum=0.9, weight_decay=5e-5)


def loss_keys(args: argparse.Namespace) -> list[str]:
    if args.train_existence:
        return ["total", "bce", "accuracy"]
    keys = ["total", "center_field", "sdf"]
    if args.use_sdf_gradient_loss:
        keys.append("sdf_gradient")
    if args.use_sdf_binary_mask_loss:
        keys.append("sdf_binary_mask")
    return keys


def compute_loss(
    args: argparse.Namespace, model: nn.Module, batch: dict, device: torch.device
) -> tuple[torch.Tensor, dict[str, float], Any]:
    """Forward + loss of one batch; returns (loss, terms, raw outputs)."""
    images = batch["image"].to(device, non_blocking=True)
    if args.train_existence:
        logits = model(images)
        loss, terms = existence_loss(logits, batch["label"].to(device, non_blocking=True))
        return loss, terms, logits
    out = model(images)
    targets = {k: batch[k].to(device, non_blocking=True) for k in ("center_field", "sdf", "saliency_mask")}
    loss, terms = center_boundary_loss(
        out,
        targets,
        args.center_field_loss_type,
        args.sdf_loss_type,
        args.use_sdf_gradient_loss,
        args.use_sdf_binary_mask_loss,
    )
    return loss, terms, out


class Trainer:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.dist: DistInfo = init_distributed(args.device)
        self.logger = get_logger("unmore.train", self.dist.rank)
        self.device = device = device_for_rank(args.device, self.dist)
        self.output_dir = output_dir_of(args)
        self.task = task_name(args)
        random.seed(args.seed)
        np.random.seed(args.seed)
        torch.manual_seed(args.seed)

        self.dataset = build_dataset(args)
        try:
            self.model = build_model(args, self.logger).to(device)
        except ValueError as e:  # e.g. a --backbone_weights file that fits no parameter
            raise ConfigError(str(e)) from e
        self.optimizer = build_optimizer(args, self.model)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=args.lr_milestones, gamma=args.lr_scheduler_gamma
        )
        self.precision = args.amp_dtype if args.amp else "fp32"
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and self.precision == "fp16")
        self.iter = 0
        self.skipped = 0
        resume_path = resolve_resume(args.resume, self.output_dir)
        if resume_path is not None:
            self._resume(resume_path)
        elif args.resume == "auto":
            self.logger.info(
                "--resume auto: no %s in %s, starting from scratch", LATEST_NAME, self.output_dir
            )

        net = self.model
        if args.train_existence:
            net = ExistenceLogits(net)
        if self.dist.enabled:
            ids = [device.index] if device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        self.net = net
        if self.dist.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.output_dir)
            atomic_write_json(self.output_dir / "configs.json", vars(args), indent=2)
            self._truncate_log()

    # ------------------------------------------------------------------ checkpoints
    def _resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path, "checkpoint", map_location="cpu")
        saved_task = ckpt.get("task")
        if saved_task is not None and saved_task != self.task:
            raise ConfigError(f"--resume {path} is a {saved_task} checkpoint but this run trains {self.task}")
        unwrap_model(self.model).load_state_dict(model_state_from_checkpoint(ckpt), strict=True)
        if ckpt.get("optimizer_state_dict"):
            self.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
        if ckpt.get("lr_scheduler_state_dict"):
            self.scheduler.load_state_dict(ckpt["lr_scheduler_state_dict"])
        if ckpt.get("scaler_state_dict") and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler_state_dict"])
        self.iter = int(ckpt.get("iter", 0))
        self.skipped = int(ckpt.get("skipped_files", 0))
        if ckpt.get("rng_state"):
            restore_rng_state(ckpt["rng_state"])
        self.logger.info("resumed from %s at iteration %d", path, self.iter)

    def save(self, periodic: bool) -> None:
        if not self.dist.is_main:
            return
        extra = {
            "args": self.args,
            "task": self.task,
            "rng_state": capture_rng_state(),
            "skipped_files": self.skipped,
            "world_size": self.dist.world_size,
            "crop_size": self.args.image_size,
        }
        if self.scaler.is_enabled():
            extra["scaler_state_dict"] = self.scaler.state_dict()
        save_checkpoint(
            self.output_dir / LATEST_NAME, self.model, self.optimizer, self.scheduler, self.iter, **extra
        )
        if periodic and self.args.keep_checkpoints != 0:
            save_checkpoint(
                self.output_dir / periodic_name(self.iter),
                self.model,
                self.optimizer,
                self.scheduler,
                self.iter,
                **extra,
            )
            prune_periodic_checkpoints(self.output_dir, self.args.keep_checkpoints)

    def _truncate_log(self) -> None:
        """Drop log records past the resumed iteration (a killed run may have logged past its checkpoint)."""
        path = self.output_dir / LOG_NAME
        if not path.exists():
            return
        kept = [r for r in read_jsonl(path) if r.get("iter", 0) <= self.iter]
        tmp = path.with_suffix(".tmp")
        with JsonlWriter(tmp) as w:
            for r in kept:
                w.write(r)
        tmp.replace(path)

    # ------------------------------------------------------------------ data
    def loader(self) -> DataLoader:
        sampler = StreamSampler(
            len(self.dataset),
            self.args.batch_size,
            self.args.seed,
            self.dist.rank,
            self.dist.world_size,
            start_step=self.iter,
        )
        workers = self.args.num_workers
        return DataLoader(
            self.dataset,
            batch_size=self.args.batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate_samples,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_worker_init,
            persistent_workers=False,
            prefetch_factor=2 if workers > 0 else None,
        )

    def _report_skipped(self, batch: dict) -> None:
        for name, reason in batch["skipped"]:
            self.skipped += 1
            self.logger.warning("skipped %s: %s (%d files skipped so far)", name, reason, self.skipped)

    def _batch_size_everywhere(self, size: int) -> int:
        """Smallest usable batch size over all ranks (so that all ranks skip an empty step together)."""
        if not self.dist.enabled:
            return size
        t = torch.tensor([size], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return int(t.item())

    # ------------------------------------------------------------------ logging and pictures
    def _reduce_window(self, sums: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
        keys = sorted(sums)
        t = torch.tensor([[sums[k], counts[k]] for k in keys], dtype=torch.float64)
        if self.dist.enabled:
            t = t.to(self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(t)
            t = t.cpu()
        return {
            (k if k == "accuracy" else f"loss/{k}"): float(t[i, 0] / t[i, 1])
            for i, k in enumerate(keys)
            if t[i, 1] > 0
        }

    def visualize(self) -> None:
        if not self.dist.is_main:
            return
        samples = []
        for i in range(min(len(self.dataset), self.args.num_vis * 4)):
            s = self.dataset[(i, VIS_KEY_OFFSET + i)]
            if not isinstance(s, SkippedSample):
                samples.append(s)
            if len(samples) == self.args.num_vis:
                break
        if not samples:
            return
        batch = collate_samples(samples)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad(), autocast(self.device, self.precision):
            images = batch["image"].to(self.device)
            path = self.output_dir / "vis" / f"iter_{self.iter:07d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            title = f"{self.args.run_name} iter {self.iter}"
            if self.args.train_existence:
                probs = torch.sigmoid(self.model.logits(images).float()).cpu().numpy()[:, 0]
                plot_existence_predictions(
                    batch["image"].numpy(), batch["label"].numpy()[:, 0], probs, path, title
                )
            else:
                out = self.model(images)
                plot_center_boundary_fields(
                    batch["image"].numpy(),
                    batch["center_field"].numpy(),
                    out["center_fields"].float().cpu().numpy(),
                    batch["sdf"].numpy(),
                    out["sdf_maps"].float().cpu().numpy(),
                    path,
                    title,
                )
        self.model.train(was_training)

    # ------------------------------------------------------------------ loop
    def train(self) -> dict:
        args = self.args
        self.logger.info(
            "training %s on %d images for %d iterations (batch %d x %d ranks) on %s; output %s",
            self.task,
            len(self.dataset),
            args.max_iters,
            args.batch_size,
            self.dist.world_size,
            self.device,
            self.output_dir,
        )
        self.net.train()
        keys = loss_keys(args)
        sums, counts = dict.fromkeys(keys, 0.0), dict.fromkeys(keys, 0)
        last: dict[str, float] = {}
        writer = JsonlWriter(self.output_dir / LOG_NAME) if self.dist.is_main else None
        progress = tqdm(
            total=args.max_iters,
            initial=self.iter,
            desc=self.task,
            dynamic_ncols=True,
            disable=not self.dist.is_main or args.no_progress,
        )
        start = time.time()
        try:
            if self.iter >= args.max_iters:
                self.logger.info("already at iteration %d >= --max_iters %d", self.iter, args.max_iters)
            else:
                empty_steps = 0
                for batch in self.loader():
                    self._report_skipped(batch)
                    if self._batch_size_everywhere(batch["size"]) == 0:
                        empty_steps += 1
                        if empty_steps * args.batch_size >= MAX_CONSECUTIVE_SKIPPED:
                            raise DataError(
                                f"{empty_steps * args.batch_size} samples in a row were unusable (no image "
                                f"with a mask); check --imagenet_root {args.imagenet_root} and --mask_root "
                                f"{args.mask_root} ({self.skipped} files skipped)")
                        continue
                    empty_steps = 0
                    self.optimizer.zero_grad(set_to_none=True)
                    with autocast(self.device, self.precision):
                        loss, terms, _ = compute_loss(args, self.net, batch, self.device)
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    self.scheduler.step()
                    self.iter += 1
                    for k in keys:
                        if k in terms:
                            sums[k] += terms[k]
                            counts[k] += 1
                    progress.update(1)
                    if self.iter % args.log_interval == 0 or self.iter == args.max_iters:
                        last = self._reduce_window(sums, counts)
                        sums, counts = dict.fromkeys(keys, 0.0), dict.fromkeys(keys, 0)
                        if writer is not None:
                            record = {"iter": self.iter, "lr": self.optimizer.param_groups[0]["lr"], **last}
                            record.update(skipped=self.skipped, elapsed_s=round(time.time() - start, 2))
                            writer.write(record)
                            progress.set_postfix({k.split("/")[-1]: f"{v:.4f}" for k, v in last.items()})
                    if self.iter % args.ckpt_interval == 0:
                        self.save(periodic=True)
                        self._plot()
                    if self.iter % args.vis_interval == 0:
                        self.visualize()
                    if self.iter >= args.max_iters:
                        break
                if self.iter % args.ckpt_interval != 0:
                    self.save(periodic=False)
                if self.iter % args.vis_interval != 0:
                    self.visualize()
                self._plot()
        finally:
            progress.close()
            if writer is not None:
                writer.close()
            barrier(self.dist)
        self.logger.info("finished at iteration %d; checkpoint %s", self.iter, self.output_dir / LATEST_NAME)
        return {
            "iter": self.iter,
            "output_dir": str(self.output_dir),
            "last_losses": last,
            "skipped": self.skipped,
        }

    def _plot(self) -> None:
        if self.dist.is_main:
            plot_loss_curve(
                read_jsonl(self.output_dir / LOG_NAME),
                self.output_dir / "loss_curve.png",
                f"{self.args.run_name}",
            )


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def run_training(args: argparse.Namespace) -> dict:
    """Train with parsed and checked arguments; returns a summary dict (final iteration, last losses ...)."""
    try:
        return Trainer(args).train()
    finally:
        cleanup_distributed()
