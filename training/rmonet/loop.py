"""Training loop of R-MONet and the MONet baselines (single process or DDP via torchrun)."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from datasets.multi_object import build_multi_object_datasets
from losses.rmonet import scene_loss
from models.rmonet.model import build_model
from utils.checkpoint import restore_rng_state
from utils.device import autocast
from utils.distributed import DistInfo, barrier
from utils.io import JsonlWriter, atomic_write_json, read_jsonl, remove_stale_temp_files
from utils.logging_utils import get_logger

from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .config import RMONetConfig, ScheduleConfig, config_dict
from .evaluate import evaluate
from .schedule import WarmupCosineRestarts
from .visualize import plot_training_curves


class ResumableSampler(Sampler[int]):
    """Per-epoch permutation from (seed, epoch), interleaved across ranks, starting at a batch offset so a
    resumed run continues the same data order."""

    def __init__(self, size: int, rank: int, world: int, seed: int):
        self.size, self.rank, self.world, self.seed = size, rank, world, seed
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int) -> None:
        self.epoch, self.start = epoch, start

    def __iter__(self):
        perm = torch.randperm(
            self.size, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        )
        mine = perm[self.rank :: self.world].tolist()
        return iter(mine[self.start :])

    def __len__(self) -> int:
        return max(0, len(range(self.rank, self.size, self.world)) - self.start)


def make_schedule(s: ScheduleConfig, steps_per_epoch: int) -> WarmupCosineRestarts:
    if s.unit not in ("epoch", "iter"):
        raise ValueError(f"train.schedule.unit must be 'epoch' or 'iter', got {s.unit!r}")
    return WarmupCosineRestarts(steps_per_epoch if s.unit == "epoch" else 1, s.warmup, s.cycle, s.reset_decay)


def train(
    cfg: RMONetConfig, device: torch.device, info: DistInfo | None = None, resume: str | bool = False
) -> dict:
    """Train per `cfg`; returns the summary (final metrics, throughput). Checkpoints go to output_dir."""
    info = info or DistInfo()
    out_dir = Path(cfg.output_dir)
    log = get_logger("rmonet", info.rank)
    if info.is_main:
        remove_stale_temp_files(out_dir)
    tcfg, dcfg = cfg.train, cfg.data
    torch.manual_seed(tcfg.seed + info.rank)
    np.random.seed(tcfg.seed + info.rank)
    random.seed(tcfg.seed + info.rank)

    train_set, test_set = build_multi_object_datasets(dcfg)
    if tcfg.batch_size % info.world_size:
        raise ValueError(
            f"train.batch_size {tcfg.batch_size} is not divisible by {info.world_size} processes"
        )
    per_rank = tcfg.batch_size // info.world_size
    batches_per_epoch = max(1, len(range(0, len(train_set), info.world_size)) // per_rank)
    if tcfg.max_iters:
        max_iters = int(tcfg.max_iters)
    elif tcfg.max_epochs:
        max_iters = int(math.ceil(tcfg.max_epochs * batches_per_epoch))
    elif tcfg.max_minutes:
        max_iters = math.inf  # stopped by the time budget
    else:
        raise ValueError("set train.max_iters, train.max_epochs or train.max_minutes")

    model = build_model(cfg.model, dcfg.image_size).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(tcfg.lr))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, make_schedule(tcfg.schedule, batches_per_epoch))
    start_iter = 0
    ckpt_path = out_dir / CHECKPOINT_NAME
    resume_path = Path(resume) if isinstance(resume, str) else ckpt_path
    if resume and resume_path.is_file():
        state = load_checkpoint(resume_path)
        model.load_state_dict(state["model_state_dict"])
        optimizer.load_state_dict(state["optimizer_state_dict"])
        scheduler.load_state_dict(state["lr_scheduler_state_dict"])
        start_iter = int(state["iter"])
        if info.rank == 0:
            restore_rng_state(state["rng_state"])
        log.info("resumed from %s at iteration %d", resume_path, start_iter)
    elif isinstance(resume, str):
        raise FileNotFoundError(f"--resume {resume}: checkpoint not found")
    net = model
    if info.enabled:
        # MONet(ResNet18+FPN) reads only the conv3 FPN level, so some FPN weights get no gradient.
        net = DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.model.variant == "monet_fpn",
        )

    scaler = torch.amp.GradScaler(device.type, enabled=tcfg.precision == "fp16" and device.type == "cuda")
    sampler = ResumableSampler(len(train_set), info.rank, info.world_size, tcfg.seed)
    loader_kwargs = {
        "batch_size": per_rank,
        "sampler": sampler,
        "drop_last": True,
        "num_workers": dcfg.num_workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": False,
    }
    writer = tb = None
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "config.json", config_dict(cfg), indent=2)
        log_path = out_dir / "train_log.jsonl"
        if start_iter == 0 and log_path.is_file():  # a fresh run keeps the previous run's log aside
            log_path.replace(out_dir / "train_log.previous.jsonl")
        writer = JsonlWriter(log_path)
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(str(out_dir / "tensorboard"))

    def loss_fn(out: dict, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return scene_loss(out, images, model.sigmas, cfg.loss)

    def evaluate_test(figure_path: Path | None = None) -> dict:
        return evaluate(
            model,
            test_set,
            device,
            cfg.eval,
            tcfg.precision,
            max_images=tcfg.eval_images,
            figure_path=figure_path,
            loss_fn=lambda o, x: loss_fn(o, x)[0],
        )

    clocks = {"wall": time.time, "process": time.process_time}
    if tcfg.budget_clock not in clocks:
        raise ValueError(f"train.budget_clock must be one of {sorted(clocks)}, got {tcfg.budget_clock!r}")
    clock = clocks[tcfg.budget_clock]
    it = start_iter
    t_start = clock()
    images_seen = 0
    deadline = t_start + 60 * tcfg.max_minutes if tcfg.max_minutes else None
    bar = tqdm(
        total=None if max_iters == math.inf else max_iters,
        initial=start_iter,
        disable=not info.is_main,
        desc="train",
        dynamic_ncols=True,
    )
    net.train()
    stop = False
    while it < max_iters and not stop:
        sampler.set_position(it // batches_per_epoch, (it % batches_per_epoch) * per_rank)
        for images, _ in DataLoader(train_set, **loader_kwargs):
            images = images.to(device, non_blocking=True)
            with autocast(device, tcfg.precision):
                out = net(images)
                loss, terms = loss_fn(out, images)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at iteration {it}: {float(loss)}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if tcfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            it += 1
            images_seen += images.shape[0] * info.world_size
            bar.update(1)
            if info.is_main and (it % tcfg.log_every == 0 or it == max_iters):
                rec = {
                    "iter": it,
                    "loss": float(loss.detach()),
                    "lr": scheduler.get_last_lr()[0],
                    "images_per_s": images_seen / max(clock() - t_start, 1e-9),
                }
                rec.update({k: float(v.detach()) for k, v in terms.items()})
                if "num_pseudo_boxes" in out:
                    rec["pseudo_boxes_per_image"] = out["num_pseudo_boxes"]
                writer.write(rec)
                for k, v in rec.items():
                    if k != "iter":
                        tb.add_scalar(f"train/{k}", v, it)
                bar.set_postfix(loss=f"{rec['loss']:.1f}", lr=f"{rec['lr']:.2e}")
            if info.is_main and it % tcfg.ckpt_every == 0:
                save_checkpoint(ckpt_path, model, optimizer, scheduler, it, config_dict(cfg))
            if tcfg.eval_every and it % tcfg.eval_every == 0 and it < max_iters:
                if info.is_main:
                    m = evaluate_test()
                    writer.write({"iter": it, "eval": m})
                    for k, v in m.items():
                        tb.add_scalar(f"eval/{k}", v, it)
                    log.info("iter %d eval %s", it, m)
                barrier(info)
            timed_out = deadline is not None and clock() >= deadline
            if info.enabled and deadline is not None:
                flag = torch.tensor([float(timed_out)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                timed_out = bool(flag.item())
            if it >= max_iters or timed_out:
                stop = True
                break
    bar.close()
    train_seconds = clock() - t_start
    summary = {
        "iterations": it,
        "train_seconds": train_seconds,
        "images_per_s": images_seen / max(train_seconds, 1e-9),
    }
    if info.is_main:
        save_checkpoint(ckpt_path, model, optimizer, scheduler, it, config_dict(cfg))
        m = evaluate_test(out_dir / "figures" / f"decomposition_iter{it}.png")
        summary["eval"] = m
        writer.write({"iter": it, "eval": m, "summary": True})
        writer.close()
        tb.close()
        atomic_write_json(out_dir / "train_summary.json", summary, indent=2)
        records = list(read_jsonl(out_dir / "train_log.jsonl"))
        plot_training_curves({cfg.model.variant: records}, out_dir / "figures" / "training_curves.png")
        log.info("done: %s", summary)
    barrier(info)
    return summary
