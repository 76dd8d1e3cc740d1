"""Full trainer-state checkpoints with Detectron2's file conventions.

A checkpoint ``OUTPUT_DIR/model_0000999.pth`` (or ``model_final.pth``) is a dict
``{"model": state_dict, "optimizer", "scheduler", "grad_scaler", "iteration", "rng", "trainer"}`` written
atomically (``trainer``: the run's seed and each process's data-stream position and copy-paste RNG);
``OUTPUT_DIR/last_checkpoint`` holds the file name of the newest one. ``iteration`` is the last finished
iteration, so training resumes at ``iteration + 1``. Weights given by ``MODEL.WEIGHTS`` (Detectron2
``.pth``/``.pkl``, our own checkpoints) are loaded with ``cad.checkpoint.load_weights``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from cad.checkpoint import load_weights
from utils.checkpoint import capture_rng_state, restore_rng_state, unwrap_model
from utils.io import atomic_torch_save, atomic_write_bytes

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last_checkpoint"


class Checkpointer:
    """Saves and restores model + optimizer + scheduler + grad scaler + iteration in ``output_dir``."""

    def __init__(self, model: nn.Module, output_dir: str | os.PathLike, optimizer=None, scheduler=None,
                 grad_scaler=None, save_to_disk: bool = True):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.grad_scaler = grad_scaler
        self.output_dir = Path(output_dir)
        self.save_to_disk = save_to_disk
        self.resumed_extra: dict | None = None  # the `trainer` entry of the checkpoint resumed from

    def save(self, name: str, iteration: int, extra: dict | None = None) -> Path | None:
        """Write ``output_dir/name.pth`` atomically and point ``last_checkpoint`` to it (main process
        only). ``extra`` (the trainer's seed and data-stream positions) is stored as ``trainer``."""
        if not self.save_to_disk:
            return None
        state = {"model": unwrap_model(self.model).state_dict(), "iteration": int(iteration),
                 "rng": capture_rng_state()}
        if extra is not None:
            state["trainer"] = extra
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        path = self.output_dir / f"{name}.pth"
        atomic_torch_save(state, path)
        atomic_write_bytes(self.output_dir / LAST_CHECKPOINT, path.name.encode())
        logger.info(f"saved checkpoint {path} (iteration {iteration})")
        return path

    def last_checkpoint(self) -> Path | None:
        f = self.output_dir / LAST_CHECKPOINT
        if not f.is_file():
            return None
        path = self.output_dir / f.read_text().strip()
        return path if path.is_file() else None

    def resume_or_load(self, weights: str, resume: bool, min_loaded: float = 0.0) -> int:
        """With ``resume`` and a ``last_checkpoint`` in output_dir: restore the full state and return the
        iteration to start at. Otherwise load ``weights`` (model only; ``load_weights``'s ``min_loaded``)
        and return 0."""
        last = self.last_checkpoint() if resume else None
        if last is None:
            if resume:
                logger.info(f"--resume: no checkpoint in {self.output_dir}; starting from MODEL.WEIGHTS")
            load_weights(self.model, weights, min_loaded=min_loaded)
            return 0
        state = torch.load(last, map_location="cpu", weights_only=True)
        unwrap_model(self.model).load_state_dict(state["model"])
        for key, obj in (("optimizer", self.optimizer), ("scheduler", self.scheduler),
                         ("grad_scaler", self.grad_scaler)):
            if obj is not None and key in state:
                obj.load_state_dict(state[key])
        if "rng" in state:
            restore_rng_state(state["rng"])
        self.resumed_extra = state.get("trainer")
        logger.info(f"resumed from {last} (iteration {state['iteration']})")
        return int(state["iteration"]) + 1
