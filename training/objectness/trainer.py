"""The stage-1 trainer, `ObjectnessTrainer`: either task (training/objectness/tasks.py) on the engine
(training/engine.py), with DDP, AMP, resumable checkpoints, logs and pictures.

Outputs in `<output_dir>` (the layout of training/checkpointing.py): `config.json` (the config),
`train_log.jsonl` (one record per `--log_interval` iterations: `iter`, `lr`, `loss/<term>` averaged over the
window and the ranks, `skipped` files so far), `loss_curve.png`, `vis/iter_<n>.png` (fields or existence
predictions on fixed samples), `checkpoint_last.pth` every `--ckpt_interval` iterations (atomic), plus the
newest `--keep_checkpoints` `checkpoint_iter_<n>.pth` files; `tensorboard/` (the logged scalars as
`train/...`, the pictures as `vis/...`; with `--eval_imagenet_root` also `val/...`) and `eval_log.jsonl`
(held-out figures every `--evaluate_every` iterations, training/objectness/validation.py).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from datasets.imagenet_votecut import SkippedSample, collate_samples
from models.checkpoint import checkpoint_state
from training.checkpointing import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    LOG_NAME,
    adopt_earlier_log,
    load_training_checkpoint,
    resolve_resume,
)
from training.engine import (
    CurvePlotHook,
    DefaultTrainer,
    HookBase,
    PeriodicCheckpointer,
    PeriodicWriter,
    ProgressBar,
    ScalarWindow,
    VisualizationHook,
    restore_training_state,
)
from training.objectness.args import ConfigError, Stage1Config
from training.objectness.tasks import task_for
from training.objectness.validation import PeriodicValidation
from training.objectness.visualize import plot_loss_curve
from training.sampler import StreamSampler
from utils.checkpoint import capture_rng_state
from utils.config import to_dict
from utils.device import autocast, device_for_rank
from utils.distributed import DistInfo, barrier
from utils.io import DataError, atomic_write_json, read_jsonl, remove_stale_temp_files

MAX_CONSECUTIVE_SKIPPED = 100  # unusable samples in a row (no usable batch in between) before giving up
VIS_KEY_OFFSET = 2**40  # stream keys of the fixed visualisation samples (never used by training)


class ObjectnessTrainer(DefaultTrainer):
    """One optimisation step per iteration of the task's loss; periodic work is the engine's hooks.
    `info`: the process group the script started (a default DistInfo: one process)."""

    def __init__(self, cfg: Stage1Config, info: DistInfo):
        super().__init__()
        self.task = task_for(cfg)
        self.cfg = cfg = (
            cfg if cfg.run_name else dataclasses.replace(cfg, run_name=f"{self.task.name}_{self.task.arch}")
        )
        self.dist = info
        self.logger = logging.getLogger(__name__)
        self.device = device = device_for_rank(cfg.device, self.dist)
        self.output_dir = (
            Path(cfg.output_dir) if cfg.output_dir else Path("outputs") / "objectness" / cfg.run_name
        )
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)

        self.dataset = self.task.build_dataset()
        root = cfg.eval_imagenet_root
        self.eval_dataset = self.task.build_eval_dataset(root) if root else None
        self.model = self.build_model()
        self.optimizer = self.build_optimizer(self.model)
        self.scheduler = self.build_scheduler(self.optimizer)
        self.precision = cfg.amp_dtype if cfg.amp else "fp32"
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and self.precision == "fp16")
        self.skipped = 0
        resume_path = resolve_resume(cfg.resume, self.output_dir)
        if resume_path is not None:
            self._resume(resume_path)
        elif cfg.resume == "auto":
            self.logger.info(
                "--resume auto: no %s in %s, starting from scratch", CHECKPOINT_NAME, self.output_dir
            )

        net = self.task.trainable(self.model)
        if self.dist.enabled:
            net = nn.parallel.DistributedDataParallel(
                net, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.net = net
        self.window = ScalarWindow(self.task.loss_keys, device if device.type == "cuda" else None)
        self.last_losses: dict[str, float] = {}
        main = self.dist.is_main
        if main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.output_dir)
            adopt_earlier_log(self.output_dir)
            atomic_write_json(self.output_dir / CONFIG_NAME, to_dict(cfg), indent=2)
        self.log_writer = PeriodicWriter(self.output_dir / LOG_NAME, cfg.log_interval, enabled=main,
                                         tensorboard_dir=self.output_dir / "tensorboard")

    # ------------------------------------------------------------------ the override points
    def build_model(self) -> nn.Module:
        try:
            return self.task.build_model(self.logger).to(self.device)
        except ValueError as e:  # e.g. a --backbone_weights file that fits no parameter
            raise ConfigError(str(e)) from e

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        c = self.cfg
        if c.optimizer == "adam":
            return torch.optim.Adam(model.parameters(), c.learning_rate)
        return torch.optim.SGD(model.parameters(), c.learning_rate, momentum=0.9, weight_decay=5e-5)

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.MultiStepLR:
        c = self.cfg
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=c.lr_milestones,
                                                    gamma=c.lr_scheduler_gamma)

    def build_hooks(self) -> list[HookBase | None]:
        c, main = self.cfg, self.dist.is_main
        validation = None
        if self.eval_dataset is not None:
            validation = PeriodicValidation(c.evaluate_every, self.validate, self.output_dir,
                                            self.output_dir / "tensorboard", main, self.logger.info)
        return [
            self.log_writer,
            ProgressBar(
                self.task.name,
                enabled=main and not c.no_progress,
                postfix=lambda _: {k.split("/")[-1]: f"{v:.4f}" for k, v in self.last_losses.items()},
            ),
            PeriodicCheckpointer(self.output_dir, c.ckpt_interval, self.state, CHECKPOINT_NAME,
                                 keep=c.keep_checkpoints, enabled=main),
            CurvePlotHook(c.ckpt_interval, self.plot),
            VisualizationHook(c.vis_interval, self.visualize),
            validation,
        ]

    # ------------------------------------------------------------------ checkpoints
    def _resume(self, path: Path) -> None:
        ckpt = load_training_checkpoint(path, "train_objectness_net.py")
        saved_task = ckpt.get("task")
        if saved_task is not None and saved_task != self.task.name:
            raise ConfigError(
                f"--resume {path} is a {saved_task} checkpoint but this run trains {self.task.name}"
            )
        self.iter = restore_training_state(ckpt, self.model, self.optimizer, self.scheduler, self.scaler)
        self.skipped = int(ckpt.get("skipped_files", 0))
        self.logger.info("resumed from %s at iteration %d", path, self.iter)

    def state(self) -> dict:
        extra: dict[str, Any] = {
            "args": to_dict(self.cfg),
            "task": self.task.name,
            "rng_state": capture_rng_state(),
            "skipped_files": self.skipped,
            "world_size": self.dist.world_size,
            "crop_size": self.cfg.crop_size,
        }
        if self.scaler.is_enabled():
            extra["scaler_state_dict"] = self.scaler.state_dict()
        return checkpoint_state(self.model, self.optimizer, self.scheduler, self.iter, **extra)

    # ------------------------------------------------------------------ data
    def build_loader(self) -> DataLoader:
        c = self.cfg
        sampler = StreamSampler(
            len(self.dataset),
            c.batch_size,
            c.seed,
            self.dist.rank,
            self.dist.world_size,
            start_step=self.iter,
        )
        return DataLoader(
            self.dataset,
            batch_size=c.batch_size,
            sampler=sampler,
            num_workers=c.num_workers,
            collate_fn=collate_samples,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_worker_init,
            persistent_workers=False,
            prefetch_factor=2 if c.num_workers > 0 else None,
        )

    def _next_usable_batch(self) -> dict:
        """The next batch with a sample on every rank (all ranks skip an empty step together)."""
        empty_steps = 0
        while True:
            batch = next(self.batches)
            for name, reason in batch["skipped"]:
                self.skipped += 1
                self.logger.warning("skipped %s: %s (%d files skipped so far)", name, reason, self.skipped)
            size = batch["size"]
            if self.dist.enabled:
                t = torch.tensor([size], device=self.device if self.device.type == "cuda" else "cpu")
                dist.all_reduce(t, op=dist.ReduceOp.MIN)
                size = int(t.item())
            if size > 0:
                return batch
            empty_steps += 1
            if empty_steps * self.cfg.batch_size >= MAX_CONSECUTIVE_SKIPPED:
                raise DataError(
                    f"{empty_steps * self.cfg.batch_size} samples in a row were unusable (no image with a "
                    f"mask); check --imagenet_root {self.cfg.imagenet_root} and --mask_root "
                    f"{self.cfg.mask_root} ({self.skipped} files skipped)"
                )

    # ------------------------------------------------------------------ the step, logs and pictures
    def run_step(self) -> None:
        batch = self._next_usable_batch()
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            loss, terms = self.task.loss(self.net, batch, self.device)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.window.add(terms)

    def log_record(self) -> dict[str, Any]:
        self.last_losses = {self.task.log_name(k): v for k, v in self.window.pop().items()}
        return {
            "lr": self.optimizer.param_groups[0]["lr"],
            **self.last_losses,
            "skipped": self.skipped,
            "elapsed_s": round(time.time() - self.started, 2),
        }

    def visualize(self) -> None:
        if not self.dist.is_main:
            return
        samples = []
        for i in range(min(len(self.dataset), self.cfg.num_vis * 4)):
            s = self.dataset[(i, VIS_KEY_OFFSET + i)]
            if not isinstance(s, SkippedSample):
                samples.append(s)
            if len(samples) == self.cfg.num_vis:
                break
        if not samples:
            return
        was_training = self.model.training
        self.model.eval()
        path = self.output_dir / "vis" / f"iter_{self.iter:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with torch.no_grad(), autocast(self.device, self.precision):
            self.task.visualize(
                self.model,
                collate_samples(samples),
                self.device,
                path,
                f"{self.cfg.run_name} iter {self.iter}",
            )
        self.model.train(was_training)
        if self.log_writer.tb is not None:  # the same picture in TensorBoard
            picture = np.asarray(Image.open(path).convert("RGB"))
            self.log_writer.tb.add_image(f"vis/{self.task.name}", picture, self.iter, dataformats="HWC")

    def validate(self) -> dict[str, float]:
        """Held-out figures of the current weights (`--eval_imagenet_root`); training mode is restored."""
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad(), autocast(self.device, self.precision):
            metrics = self.task.validate(self.model, self.eval_dataset, self.device)
        self.model.train(was_training)
        return metrics

    def plot(self) -> None:
        if self.dist.is_main:
            plot_loss_curve(
                read_jsonl(self.output_dir / LOG_NAME),
                self.output_dir / "loss_curve.png",
                f"{self.cfg.run_name}",
            )

    # ------------------------------------------------------------------ loop
    def run(self) -> dict:
        """Train from the current (resumed) iteration to --max_iters; returns a summary."""
        c = self.cfg
        self.logger.info(
            "training %s on %d images for %d iterations (batch %d x %d ranks) on %s; output %s",
            self.task.name,
            len(self.dataset),
            c.max_iters,
            c.batch_size,
            self.dist.world_size,
            self.device,
            self.output_dir,
        )
        try:
            if self.iter >= c.max_iters:
                self.logger.info("already at iteration %d >= --max_iters %d", self.iter, c.max_iters)
            else:
                self.net.train()
                self.started = time.time()
                self.fit(c.max_iters)
        finally:
            barrier(self.dist)
        checkpoint = self.output_dir / CHECKPOINT_NAME
        self.logger.info("finished at iteration %d; checkpoint %s", self.iter, checkpoint)
        return {
            "iter": self.iter,
            "output_dir": str(self.output_dir),
            "last_losses": self.last_losses,
            "skipped": self.skipped,
        }


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def run_training(cfg: Stage1Config, info: DistInfo | None = None) -> dict:
    """Train with a checked config in the process group `info` (default: one process); returns a summary
    dict (final iteration, last losses ...)."""
    return ObjectnessTrainer(cfg, info or DistInfo()).run()
