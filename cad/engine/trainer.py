"""The detector's training loop on ``training.engine``: the detector step lives here; the loop and the
periodic work are engine hooks.

Per iteration (``run_step``): next batch -> device -> copy-paste (``DATALOADER.COPY_PASTE``) -> forward under
autocast (fp16 + GradScaler when ``SOLVER.AMP.ENABLED`` on CUDA) -> sum of the loss dict -> backward ->
unscale -> per-parameter gradient clipping -> SGD step -> LR schedule step. Hooks, in this order: metrics
(every 20 iterations, the first and the last: losses averaged over processes to ``metrics.json``, TensorBoard
and the console), progress bar, checkpoint every ``SOLVER.CHECKPOINT_PERIOD`` iterations, evaluation on
``DATASETS.TEST`` every ``TEST.EVAL_PERIOD`` iterations (when > 0), and at the end PreciseBN (when
``TEST.PRECISE_BN.ENABLED``), ``model_final.pth`` and the final evaluation.
"""

from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from cad.data.build import TrainLoader, to_device
from cad.data.copy_paste import copy_paste_batch
from cad.engine.checkpointer import Checkpointer
from cad.engine.events import MetricsWriter
from cad.engine.precise_bn import bn_layers, update_bn_stats
from cad.engine.solver import build_lr_scheduler, build_optimizer, make_gradient_clipper
from cad.modeling import build_model
from training.engine import DefaultTrainer, EvalHook, HookBase, ProgressBar, ScalarWindow
from utils.checkpoint import capture_rng_state, restore_rng_state, unwrap_model
from utils.device import autocast
from utils.distributed import DistInfo
from utils.io import DataError, remove_stale_temp_files

logger = logging.getLogger(__name__)

LOG_PERIOD = 20
MAX_NONFINITE_STEPS = 20


def shared_seed(seed: int, info: DistInfo) -> int:
    """``seed`` if >= 0, else a random seed drawn on rank 0 and shared with every process."""
    if seed < 0:
        seed = random.SystemRandom().randrange(2**31)
    if info.enabled:
        obj = [seed]
        dist.broadcast_object_list(obj, src=0)
        seed = int(obj[0])
    return seed


class MetricsHook(HookBase):
    """Every ``LOG_PERIOD`` iterations, after the first and after the last: the window's loss means (over
    iterations and processes), the learning rate and the ETA to ``metrics.json``, TensorBoard and the console
    (``iteration`` is the 0-based index of the last finished step, as in Detectron2)."""

    trainer: Trainer

    def __init__(self, writer: MetricsWriter):
        self.writer = writer

    def after_step(self) -> None:
        t = self.trainer
        if not (self.due(LOG_PERIOD) or t.iter == t.max_iter or t.iter == t.start_iter + 1):
            return
        means = {**t.window.pop(), "lr": t.lr}
        self.writer.write(t.iter - 1, means)
        t.last_record = means

    def close(self) -> None:
        self.writer.close()


class PeriodicCheckpointHook(HookBase):
    """Every ``SOLVER.CHECKPOINT_PERIOD`` iterations but the last: ``model_<iteration>.pth`` and
    ``last_checkpoint`` (Detectron2's names; the last iteration writes ``model_final.pth``)."""

    trainer: Trainer

    def __init__(self, period: int):
        self.period = period

    def after_step(self) -> None:
        t = self.trainer
        if self.due(self.period) and t.iter < t.max_iter:
            t.save_checkpoint(f"model_{t.iter - 1:07d}", t.iter - 1)


class FinalHook(HookBase):
    """After the last iteration: PreciseBN (``TEST.PRECISE_BN.ENABLED``), ``model_final.pth`` and the final
    evaluation (kept as ``trainer.results``)."""

    trainer: Trainer

    def after_train(self) -> None:
        t = self.trainer
        if t.cfg.TEST.PRECISE_BN.ENABLED:
            t.precise_bn()
        t.save_checkpoint("model_final", t.iter - 1)
        t.results = t.evaluate(t.iter - 1, t.writer)


def _loss_postfix(record: dict) -> dict[str, str]:
    return {"loss": f"{record['total_loss']:.3f}"} if "total_loss" in record else {}


class Trainer(DefaultTrainer):
    """Builds the model (``build_model``, unless one is given), optimiser, scheduler, grad scaler, DDP wrapper
    and checkpointer; ``train()`` runs iterations ``start_iter .. SOLVER.MAX_ITER - 1`` (``self.iter`` counts
    finished steps)."""

    def __init__(self, cfg, device: torch.device, info: DistInfo, resume: bool = False,
                 model: nn.Module | None = None):
        super().__init__()
        self.cfg, self.device, self.info = cfg, device, info
        self.output_dir = Path(cfg.OUTPUT_DIR)
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        model = (self.build_model() if model is None else model).to(device)
        model.train()
        self.optimizer = self.build_optimizer(model)
        self.scheduler = self.build_scheduler(self.optimizer)
        self.amp = bool(cfg.SOLVER.AMP.ENABLED) and device.type == "cuda"
        if cfg.SOLVER.AMP.ENABLED and not self.amp:
            logger.info("SOLVER.AMP.ENABLED is set but the device is not CUDA: training in fp32")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.clipper = make_gradient_clipper(cfg)
        if info.enabled:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None,
                broadcast_buffers=False, find_unused_parameters=True)
        self.model = model
        self.checkpointer = Checkpointer(model, self.output_dir, self.optimizer, self.scheduler, self.scaler,
                                         save_to_disk=info.is_main)
        if info.is_main:
            remove_stale_temp_files(self.output_dir)
        self.iter = self.start_iter = self.checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume)
        self.seed = shared_seed(int(cfg.SEED), info)
        self.cp_rng = random.Random(self.seed * 7919 + info.rank)
        self._data_state: dict | None = None
        self._restore_trainer_state(self.checkpointer.resumed_extra)
        self._nonfinite = 0
        self._cp_samples_saved = False
        self._records = None
        self._train_loader: TrainLoader | None = None
        self.writer: MetricsWriter | None = None
        self.lr = 0.0
        self.results: dict | None = None

    # ------------------------------------------------------------------------------------------------
    def _restore_trainer_state(self, extra: dict | None) -> None:
        """Exact resume: the run's seed, this process's data-stream position, copy-paste and global RNGs."""
        if self.start_iter == 0:
            return
        ranks = (extra or {}).get("ranks", [])
        if len(ranks) != self.info.world_size:
            logger.warning(f"the checkpoint holds the data position of {len(ranks)} process(es), this run "
                           f"has {self.info.world_size}: the data order is not restored exactly")
            self.seed += self.start_iter  # at least no repeat of the batches already seen
            return
        mine = ranks[self.info.rank]
        self.seed = int(extra["seed"])
        self._data_state = mine["data"]
        self.cp_rng.setstate(mine["copy_paste_rng"])
        restore_rng_state(mine["rng"])

    def _trainer_state(self) -> dict:
        """What `_restore_trainer_state` needs, gathered from every process (collective call)."""
        mine = {"data": self._train_loader.state() if self._train_loader else self._data_state,
                "copy_paste_rng": self.cp_rng.getstate(), "rng": capture_rng_state()}
        ranks = [mine]
        if self.info.enabled:
            ranks = [None] * self.info.world_size
            dist.all_gather_object(ranks, mine)
        return {"seed": self.seed, "ranks": ranks}

    def save_checkpoint(self, name: str, iteration: int) -> None:
        self.checkpointer.save(name, iteration, self._trainer_state())

    # ------------------------------------------------------------------------------------------------
    def _loader(self, seed: int, state: dict | None = None) -> TrainLoader:
        loader = TrainLoader(self.cfg, self.info.rank, self.info.world_size, seed=seed,
                             pin_memory=self.device.type == "cuda", records=self._records, state=state)
        self._records = loader.records  # read the annotation files once per run
        return loader

    def _copy_paste(self, batch: list[dict]) -> list[dict]:
        d = self.cfg.DATALOADER
        if not d.COPY_PASTE:
            return batch
        out = copy_paste_batch(batch, float(d.COPY_PASTE_RATE), bool(d.COPY_PASTE_RANDOM_NUM),
                               float(d.COPY_PASTE_MIN_RATIO), float(d.COPY_PASTE_MAX_RATIO), self.cp_rng)
        if d.VISUALIZE_COPY_PASTE and self.info.is_main and not self._cp_samples_saved:
            from cad.engine.visualize import save_training_samples

            save_training_samples(out[:5], self.output_dir / "copy_paste_samples", self.cfg.INPUT.FORMAT)
            self._cp_samples_saved = True
        return out

    def _all_finite(self, loss: torch.Tensor) -> bool:
        flag = torch.isfinite(loss.detach()).to(torch.float32).reshape(1)
        if self.info.enabled:
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item() > 0)

    def _autocast(self):
        return autocast(self.device, "fp16" if self.amp else "fp32")

    def train_step(self, batch: list[dict]) -> dict[str, float] | None:
        """One optimisation step; returns the (local) loss values, or None when the step was skipped."""
        batch = self._copy_paste(to_device(batch, self.device))
        with self._autocast():
            loss_dict = self.model(batch)
        losses = sum(loss_dict.values())
        self.optimizer.zero_grad(set_to_none=True)
        if not self._all_finite(losses):
            self._nonfinite += 1
            logger.warning(f"non-finite loss, step skipped ({self._nonfinite} in a row): "
                           f"{ {k: float(v) for k, v in loss_dict.items()} }")
            if self._nonfinite >= MAX_NONFINITE_STEPS:
                raise FloatingPointError(f"loss was not finite for {self._nonfinite} iterations in a row")
            return None
        self._nonfinite = 0
        self.scaler.scale(losses).backward()
        if self.clipper is not None:
            self.scaler.unscale_(self.optimizer)
            self.clipper([p for g in self.optimizer.param_groups for p in g["params"]])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        values = {k: float(v.detach()) for k, v in loss_dict.items()}
        values["total_loss"] = float(losses.detach())
        return values

    def run_step(self) -> None:
        """The engine's step: next batch, ``train_step``, LR schedule step; losses and timings recorded."""
        t0 = time.perf_counter()
        batch = next(self.batches)
        data_time = time.perf_counter() - t0
        values = self.train_step(batch)
        self.lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.writer.add_iter_time(time.perf_counter() - t0)
        if values is not None:
            values["data_time"] = data_time
            if not self.window.keys:  # the loss names are known after the first step (the same everywhere)
                self.window = ScalarWindow(values, self.device if self.device.type == "cuda" else None)
            self.window.add(values)

    # ------------------------------------------------------------------------------------------------
    def _periodic_evaluate(self) -> None:
        if self.iter < self.max_iter:  # the last iteration evaluates after PreciseBN and model_final.pth
            self.evaluate(self.iter - 1, self.writer)

    # ------------------------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        """The detector ``cfg.MODEL`` describes (``cad.modeling.build_model``), on the CPU."""
        return build_model(self.cfg)

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(self.cfg, model)

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return build_lr_scheduler(self.cfg, optimizer)

    def build_loader(self) -> TrainLoader:
        """The training stream from the (resumed) data position."""
        self._train_loader = self._loader(self.seed, self._data_state)
        logger.info(f"training iterations {self.start_iter}..{self.max_iter - 1} on {self.info.world_size} "
                    f"process(es), {self._train_loader.batch_size} images per process")
        return self._train_loader

    def build_hooks(self) -> list[HookBase | None]:
        return [
            MetricsHook(self.writer),
            ProgressBar("train", enabled=self.info.is_main, postfix=_loss_postfix, mininterval=5.0),
            PeriodicCheckpointHook(int(self.cfg.SOLVER.CHECKPOINT_PERIOD)),
            EvalHook(int(self.cfg.TEST.EVAL_PERIOD), self._periodic_evaluate, final=False),
            FinalHook(),
        ]

    def train(self) -> dict | None:
        """Train from ``start_iter`` to ``SOLVER.MAX_ITER``; returns the final evaluation (main process)."""
        if self.start_iter >= self.max_iter:
            logger.info(f"checkpoint is already at iteration {self.start_iter - 1} >= MAX_ITER; "
                        "nothing to train")
            return None
        self.writer = MetricsWriter(self.output_dir, self.max_iter, enabled=self.info.is_main)
        self.fit(self.max_iter)
        return self.results

    def precise_bn(self) -> None:
        if not bn_layers(unwrap_model(self.model)):
            return
        num_iter = int(self.cfg.TEST.PRECISE_BN.NUM_ITER)
        logger.info(f"PreciseBN: recomputing BatchNorm statistics over {num_iter} batches (no copy-paste)")
        loader = self._loader(self.seed + 999_983)
        batches = (to_device(b, self.device) for b in loader)
        with self._autocast():
            update_bn_stats(self.model, batches, num_iter)

    def evaluate(self, iteration: int, writer: MetricsWriter | None = None) -> dict | None:
        names = tuple(self.cfg.DATASETS.TEST)
        if not names:
            return None
        results = run_evaluation(self.cfg, self.model, self.device, self.info, skip_missing_datasets=True)
        if writer is not None and results:
            flat = {f"{name}/{task}/{k}": v for name, r in results.items() for task, m in r.items()
                    for k, v in m.items() if isinstance(v, float) and not math.isnan(v)}
            writer.write(iteration, flat, log=False)
        return results


def _dataset_available(name: str) -> bool:
    from cad.data.catalog import gt_json_path, registered_names

    if name not in registered_names():
        logger.warning(f"evaluation skipped: dataset '{name}' is not registered")
        return False
    try:
        gt_json_path(name)
    except DataError as e:
        logger.warning(f"evaluation on '{name}' skipped: {e}")
        return False
    return True


def run_evaluation(cfg, model: nn.Module, device: torch.device, info: DistInfo,
                   skip_missing_datasets: bool = False) -> dict | None:
    """Evaluate on every ``DATASETS.TEST`` name. A single dataset writes to ``OUTPUT_DIR``; several write to
    ``OUTPUT_DIR/inference/<name>``. Returns ``{name: metrics}`` on the main process. With
    ``skip_missing_datasets`` (end of training) an unknown name or missing file is skipped with a warning."""
    from cad.evaluation import evaluate_dataset

    names = tuple(cfg.DATASETS.TEST)
    out = {}
    for name in names:
        if skip_missing_datasets and not _dataset_available(name):
            continue
        out_dir = Path(cfg.OUTPUT_DIR) if len(names) == 1 else Path(cfg.OUTPUT_DIR) / "inference" / name
        bare = unwrap_model(model)
        out[name] = evaluate_dataset(bare, cfg, name, out_dir, device, info.rank, info.world_size)
    return out if info.is_main else None
