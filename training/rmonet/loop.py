"""Training of R-MONet and the MONet baselines on the engine (single process or DDP via torchrun).

`RMONetTrainer.run_step` is one Adam step of `losses.rmonet.scene_loss`; the train log, checkpoints,
test evaluations, the time budget and the progress bar are the engine's hooks.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from datasets.multi_object import build_multi_object_datasets
from losses.rmonet import scene_loss
from models.checkpoint import checkpoint_state
from models.rmonet.model import build_model
from training.checkpointing import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    LOG_NAME,
    load_training_checkpoint,
    resolve_resume,
)
from training.engine import (
    Budget,
    DefaultTrainer,
    EvalHook,
    HookBase,
    PeriodicCheckpointer,
    PeriodicWriter,
    ProgressBar,
    restore_training_state,
)
from training.sampler import ByIndex, StreamSampler
from utils.checkpoint import capture_rng_state, restore_rng_state
from utils.device import autocast
from utils.distributed import DistInfo, barrier
from utils.io import atomic_write_json, read_jsonl, remove_stale_temp_files

from .config import RMONetConfig, ScheduleConfig, config_dict
from .evaluate import evaluate
from .schedule import WarmupCosineRestarts
from .visualize import plot_training_curves

CLOCKS = {"wall": time.time, "process": time.process_time}


def make_schedule(s: ScheduleConfig, steps_per_epoch: int) -> WarmupCosineRestarts:
    if s.unit not in ("epoch", "iter"):
        raise ValueError(f"train.schedule.unit must be 'epoch' or 'iter', got {s.unit!r}")
    return WarmupCosineRestarts(steps_per_epoch if s.unit == "epoch" else 1, s.warmup, s.cycle, s.reset_decay)


class RMONetTrainer(DefaultTrainer):
    """Builds data, model, optimizer and hooks from `cfg`; `resume`: a `--resume` value (True or "auto":
    output_dir's checkpoint if any; a checkpoint path; None/False: a fresh run).
    `fit(self.max_iters)` then runs it."""

    def __init__(self, cfg: RMONetConfig, device: torch.device, info: DistInfo, resume: str | bool | None):
        super().__init__()
        self.cfg, self.device, self.info = cfg, device, info
        tcfg = cfg.train
        self.clock = CLOCKS[tcfg.budget_clock]
        self.out_dir = out_dir = Path(cfg.output_dir)
        self.log = logging.getLogger(__name__)
        if info.is_main:
            remove_stale_temp_files(out_dir)
        torch.manual_seed(tcfg.seed + info.rank)
        np.random.seed(tcfg.seed + info.rank)
        random.seed(tcfg.seed + info.rank)

        self.train_set, self.test_set = build_multi_object_datasets(cfg.data)
        if tcfg.batch_size % info.world_size:
            raise ValueError(
                f"train.batch_size {tcfg.batch_size} is not divisible by {info.world_size} processes"
            )
        self.per_rank = tcfg.batch_size // info.world_size
        self.batches_per_epoch = max(1, len(self.train_set) // tcfg.batch_size)
        self.max_iters = self._length()

        self.model = model = self.build_model()
        self.optimizer = self.build_optimizer(model)
        self.scheduler = self.build_scheduler(self.optimizer)
        self.scaler = torch.amp.GradScaler(
            device.type, enabled=tcfg.precision == "fp16" and device.type == "cuda"
        )
        resume_path = resolve_resume(resume, out_dir)
        if resume_path is not None:
            ckpt = load_training_checkpoint(resume_path, "train_rmonet.py")
            per_rank = ckpt.get("rng_states") or []
            own_rng = len(per_rank) == info.world_size
            self.iter = self.start_iter = restore_training_state(
                ckpt, model, self.optimizer, self.scheduler, self.scaler, rng=info.rank == 0 and not own_rng
            )
            if own_rng:
                restore_rng_state(per_rank[info.rank])
            self.log.info("resumed from %s at iteration %d", resume_path, self.start_iter)
        self.net = model
        if info.enabled:
            # MONet(ResNet18+FPN) reads only the conv3 FPN level, so some FPN weights get no gradient.
            self.net = DistributedDataParallel(
                model,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=cfg.model.variant == "monet_fpn",
            )
        self.step_values: dict[str, torch.Tensor | float] = {}
        self.images_seen, self.t_start = 0, 0.0
        self.summary: dict = {}

        main = info.is_main
        if main:
            out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(out_dir / CONFIG_NAME, config_dict(cfg), indent=2)
            log_path = out_dir / LOG_NAME
            if self.start_iter == 0 and log_path.is_file():  # a fresh run keeps the previous run's log aside
                log_path.replace(out_dir / "train_log.previous.jsonl")
        self.writer = PeriodicWriter(
            out_dir / LOG_NAME, tcfg.log_every, enabled=main, tensorboard_dir=out_dir / "tensorboard"
        )

    def build_model(self) -> nn.Module:
        return build_model(self.cfg.model, self.cfg.data.image_size).to(self.device)

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=float(self.cfg.train.lr))

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, make_schedule(self.cfg.train.schedule, self.batches_per_epoch)
        )

    def build_hooks(self) -> list[HookBase | None]:
        tcfg, main, minutes = self.cfg.train, self.info.is_main, self.cfg.train.max_minutes
        return [
            self.writer,
            PeriodicCheckpointer(self.out_dir, tcfg.ckpt_every, self.state, CHECKPOINT_NAME, enabled=main),
            EvalHook(tcfg.eval_every, self.periodic_evaluation, final=False),
            Budget(60 * minutes if minutes else None, clock=self.clock, device=self.device),
            ProgressBar("train", enabled=main, postfix=_postfix),
            FinalEvaluation(),
        ]

    def _length(self) -> float:
        """Iterations to train: train.max_iters, else train.max_epochs, else until train.max_minutes end."""
        tcfg = self.cfg.train
        if tcfg.max_iters:
            return int(tcfg.max_iters)
        if tcfg.max_epochs:
            return int(math.ceil(tcfg.max_epochs * self.batches_per_epoch))
        if tcfg.max_minutes:
            return math.inf
        raise ValueError("set train.max_iters, train.max_epochs or train.max_minutes")

    def state(self) -> dict:
        rng = capture_rng_state()
        extra = {"config": config_dict(self.cfg), "rng_state": rng}
        if self.info.enabled:  # every process's RNGs, so that each resumes its own stream
            states: list = [None] * self.info.world_size
            torch.distributed.all_gather_object(states, rng)
            extra["rng_states"] = states
        if self.scaler.is_enabled():
            extra["scaler_state_dict"] = self.scaler.state_dict()
        return checkpoint_state(self.model, self.optimizer, self.scheduler, self.iter, **extra)

    def build_loader(self) -> Iterator[list[torch.Tensor]]:
        """Batches [B/world, 3, H, W] without end, from the shared resumable stream (`StreamSampler`): a run
        resumed at iteration i reads what the uninterrupted run read from iteration i on."""
        tcfg = self.cfg.train
        sampler = StreamSampler(
            len(self.train_set),
            self.per_rank,
            tcfg.seed,
            self.info.rank,
            self.info.world_size,
            start_step=self.iter,
        )
        # the loader's own generator (workers' seeds), seeded by position: creating it after a resume must not
        # draw from the global torch RNG, which the uninterrupted run did not do there
        seed = (tcfg.seed * 100003 + self.iter) * 1009 + self.info.rank
        return iter(
            DataLoader(
                ByIndex(self.train_set),
                batch_size=self.per_rank,
                sampler=sampler,
                num_workers=self.cfg.data.num_workers,
                pin_memory=self.device.type == "cuda",
                persistent_workers=False,
                generator=torch.Generator().manual_seed(seed),
            )
        )

    def next_images(self) -> torch.Tensor:
        """The next batch [B/world, 3, H, W] on the device."""
        return next(self.batches)[0].to(self.device, non_blocking=True)

    def loss(self, out: dict, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return scene_loss(out, images, self.model.sigmas, self.cfg.loss)

    def run_step(self) -> None:
        images = self.next_images()
        with autocast(self.device, self.cfg.train.precision):
            out = self.net(images)
            loss, terms = self.loss(out, images)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at iteration {self.iter}: {float(loss)}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.images_seen += images.shape[0] * self.info.world_size
        self.step_values = {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}
        if "num_pseudo_boxes" in out:
            self.step_values["pseudo_boxes_per_image"] = out["num_pseudo_boxes"]

    def log_record(self) -> dict:
        """This process's values of the last step (not window means), as before the engine."""
        v = {k: float(x) for k, x in self.step_values.items()}
        lr = self.scheduler.get_last_lr()[0]
        return {"loss": v.pop("loss"), "lr": lr, "images_per_s": self.throughput(), **v}

    def throughput(self) -> float:
        return self.images_seen / max(self.clock() - self.t_start, 1e-9)

    def evaluate_test(self, figure_path: Path | None = None) -> dict:
        return evaluate(
            self.model,
            self.test_set,
            self.device,
            self.cfg.eval,
            self.cfg.train.precision,
            max_images=self.cfg.train.eval_images,
            figure_path=figure_path,
            loss_fn=lambda out, images: self.loss(out, images)[0],
        )

    def periodic_evaluation(self) -> None:
        """Test metrics into the train log and TensorBoard (rank 0), unless this is the last iteration."""
        if self.iter >= self.max_iter:
            return
        if self.info.is_main:
            m = self.evaluate_test()
            self.writer.jsonl.write({"iter": self.iter, "eval": m})
            for k, v in m.items():
                self.writer.tb.add_scalar(f"eval/{k}", v, self.iter)
            self.log.info("iter %d eval %s", self.iter, m)
        barrier(self.info)


class FinalEvaluation(HookBase):
    """Starts the throughput clock; after training, the summary and (rank 0) the final test evaluation with
    its decomposition figure, written to the train log as the summary record."""

    trainer: RMONetTrainer

    def before_train(self) -> None:
        self.trainer.net.train()
        self.trainer.t_start = self.trainer.clock()

    def after_train(self) -> None:
        t = self.trainer
        seconds = t.clock() - t.t_start
        t.summary = {"iterations": t.iter, "train_seconds": seconds, "images_per_s": t.throughput()}
        if t.info.is_main:
            m = t.evaluate_test(t.out_dir / "figures" / f"decomposition_iter{t.iter}.png")
            t.summary["eval"] = m
            t.writer.jsonl.write({"iter": t.iter, "eval": m, "summary": True})


def _postfix(record: dict) -> dict[str, str]:
    return {"loss": f"{record['loss']:.1f}", "lr": f"{record['lr']:.2e}"} if "loss" in record else {}


def train(
    cfg: RMONetConfig,
    device: torch.device,
    info: DistInfo | None = None,
    resume: str | bool | None = None,
    trainer_cls: type[RMONetTrainer] = RMONetTrainer,
) -> dict:
    """Train per `cfg` with `trainer_cls` (a subclass may override the build_* points); returns the summary
    (final metrics, throughput). Checkpoints go to output_dir."""
    info = info or DistInfo()
    trainer = trainer_cls(cfg, device, info, resume)
    trainer.fit(trainer.max_iters)
    summary = trainer.summary
    if info.is_main:
        out_dir = trainer.out_dir
        atomic_write_json(out_dir / "train_summary.json", summary, indent=2)
        records = list(read_jsonl(out_dir / LOG_NAME))
        plot_training_curves({cfg.model.variant: records}, out_dir / "figures" / "training_curves.png")
        trainer.log.info("done: %s", summary)
    barrier(info)
    return summary
