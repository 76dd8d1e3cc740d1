"""The two stage-1 tasks: what the task-agnostic trainer (training/objectness/trainer.py) asks of a task.

A task gives the dataset, the network, the module DDP wraps (`trainable`), the loss of a batch and its
logged terms, and the picture of a few fixed samples. `task_for(cfg)` is the one place that tells the
two apart.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from datasets.existence import ExistenceDataset
from datasets.imagenet_votecut import ImageNetVoteCutDataset
from losses.objectness import center_boundary_loss, existence_loss
from models.objectness_net import ExistenceNet, ObjectnessNet
from training.objectness.args import Stage1Config
from training.objectness.evaluation import evaluate_existence, evaluate_objectness
from training.objectness.visualize import plot_center_boundary_fields, plot_existence_predictions


class Task:
    """Common part of both tasks; `name` is stored in checkpoints (a resumed run must train the same)."""

    name: str
    loss_keys: tuple[str, ...]

    def __init__(self, cfg: Stage1Config):
        self.cfg = cfg

    @property
    def arch(self) -> str:
        """The network's backbone or classifier (part of the default run name)."""
        raise NotImplementedError

    def build_dataset(self) -> Dataset:
        raise NotImplementedError

    def build_model(self, logger: logging.Logger) -> nn.Module:
        raise NotImplementedError

    def build_eval_dataset(self, root: str) -> Dataset:
        """Seeded samples of the held-out folder `root`, drawn as in training."""
        raise NotImplementedError

    def validate(self, model: nn.Module, dataset: Dataset, device: torch.device) -> dict[str, float]:
        """The held-out figures of `model` (eval mode, no gradients)."""
        raise NotImplementedError

    def trainable(self, model: nn.Module) -> nn.Module:
        """The module whose forward pass training calls (and DDP wraps)."""
        return model

    def loss(
        self, net: nn.Module, batch: dict, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def log_name(self, key: str) -> str:
        """Name of loss term `key` in loss_log.jsonl."""
        return f"loss/{key}"

    def visualize(self, model: nn.Module, batch: dict, device: torch.device, path: Path, title: str) -> None:
        raise NotImplementedError

    def _crop_scale(self) -> tuple[float, float]:
        return self.cfg.random_crop_scale_min, self.cfg.random_crop_scale_max


class CenterBoundaryTask(Task):
    """The objectness network: center field and boundary (signed distance) field regression."""

    name = "center_boundary"

    def __init__(self, cfg: Stage1Config):
        super().__init__(cfg)
        keys = ["total", "center_field", "sdf"]
        keys += ["sdf_gradient"] if cfg.use_sdf_gradient_loss else []
        keys += ["sdf_binary_mask"] if cfg.use_sdf_binary_mask_loss else []
        self.loss_keys = tuple(keys)

    @property
    def arch(self) -> str:
        return self.cfg.backbone_type

    def build_dataset(self) -> Dataset:
        c = self.cfg
        return ImageNetVoteCutDataset(
            c.imagenet_root,
            c.mask_root,
            c.crop_size,
            c.use_bg_sdf,
            self._crop_scale(),
            random_crop=True,
            seed=c.seed,
            mask_resize=c.mask_resize,
        )

    def build_model(self, logger: logging.Logger) -> nn.Module:
        return ObjectnessNet.from_config(self.cfg, backbone_weights=self.cfg.backbone_weights, logger=logger)

    def build_eval_dataset(self, root: str) -> Dataset:
        c = self.cfg
        return ImageNetVoteCutDataset(root, None, c.crop_size, c.use_bg_sdf, self._crop_scale(),
                                      random_crop=True, seed=c.seed, mask_resize=c.mask_resize)

    def validate(self, model: nn.Module, dataset: Dataset, device: torch.device) -> dict[str, float]:
        result = evaluate_objectness(model, dataset, self.cfg.eval_batch_size, device)
        return {**result["model"], "num_samples": result["num_samples"]}

    def loss(
        self, net: nn.Module, batch: dict, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.cfg
        out = net(batch["image"].to(device, non_blocking=True))
        targets = {
            k: batch[k].to(device, non_blocking=True) for k in ("center_field", "sdf", "saliency_mask")
        }
        return center_boundary_loss(
            out,
            targets,
            c.center_field_loss_type,
            c.sdf_loss_type,
            c.use_sdf_gradient_loss,
            c.use_sdf_binary_mask_loss,
        )

    def visualize(self, model: nn.Module, batch: dict, device: torch.device, path: Path, title: str) -> None:
        out = model(batch["image"].to(device))
        plot_center_boundary_fields(
            batch["image"].numpy(),
            batch["center_field"].numpy(),
            _numpy(out["center_fields"]),
            batch["sdf"].numpy(),
            _numpy(out["sdf_maps"]),
            path,
            title,
        )


class ExistenceLogits(nn.Module):
    """Makes `ExistenceNet.logits` the forward pass, so DDP synchronises its gradients."""

    def __init__(self, net: ExistenceNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.logits(x)


class ExistenceTask(Task):
    """The existence network: does a random crop show (part of) an object."""

    name = "existence"
    loss_keys = ("total", "bce", "accuracy")

    @property
    def arch(self) -> str:
        return self.cfg.existence_arch

    def build_dataset(self) -> Dataset:
        c = self.cfg
        return ExistenceDataset(
            c.imagenet_root,
            c.mask_root,
            c.votecut_json,
            c.crop_size,
            self._crop_scale(),
            seed=c.seed,
            full_mask_root=c.full_mask_root,
            negatives=c.existence_negatives,
            positive_rule=c.existence_positive_rule,
        )

    def build_model(self, logger: logging.Logger) -> nn.Module:
        return ExistenceNet(
            self.cfg.existence_arch, backbone_weights=self.cfg.backbone_weights, logger=logger
        )

    def build_eval_dataset(self, root: str) -> Dataset:
        c = self.cfg
        return ExistenceDataset(root, None, None, c.crop_size, self._crop_scale(), seed=c.seed,
                                negatives=c.existence_negatives, positive_rule=c.existence_positive_rule)

    def validate(self, model: nn.Module, dataset: Dataset, device: torch.device) -> dict[str, float]:
        result = evaluate_existence(model, dataset, self.cfg.eval_batch_size, device)
        return {k: result[k] for k in ("accuracy", "bce", "majority_label_accuracy", "num_samples")}

    def trainable(self, model: nn.Module) -> nn.Module:
        return ExistenceLogits(model)

    def loss(
        self, net: nn.Module, batch: dict, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits = net(batch["image"].to(device, non_blocking=True))
        return existence_loss(logits, batch["label"].to(device, non_blocking=True))

    def log_name(self, key: str) -> str:
        return key if key == "accuracy" else super().log_name(key)

    def visualize(self, model: nn.Module, batch: dict, device: torch.device, path: Path, title: str) -> None:
        probs = _numpy(torch.sigmoid(model.logits(batch["image"].to(device)).float()))[:, 0]
        plot_existence_predictions(batch["image"].numpy(), batch["label"].numpy()[:, 0], probs, path, title)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.float().cpu().numpy()


def task_for(cfg: Stage1Config) -> Task:
    """The task `cfg` asks for (--train_existence or --train_center_and_boundary)."""
    return ExistenceTask(cfg) if cfg.train_existence else CenterBoundaryTask(cfg)
