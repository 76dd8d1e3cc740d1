"""The output folder of a training run (stage 1 and R-MONet share it) and `--resume [auto|PATH]`.

`<output_dir>/config.json` (the run's config), `train_log.jsonl` (one JSON record per logged iteration),
`checkpoint_last.pth` (the newest checkpoint, written atomically by `training.engine.PeriodicCheckpointer`)
and `tensorboard/`. Folders written before the layout was shared are still read: stage 1 wrote
`configs.json`, `loss_log.jsonl` and `checkpoint_latest.pth`.
"""

from __future__ import annotations

import os
from pathlib import Path

from models.checkpoint import CheckpointError, load_checkpoint

CONFIG_NAME = "config.json"
LOG_NAME = "train_log.jsonl"
CHECKPOINT_NAME = "checkpoint_last.pth"
EARLIER_CHECKPOINT_NAMES = ("checkpoint_latest.pth",)  # stage 1 before the shared layout
EARLIER_LOG_NAMES = ("loss_log.jsonl",)

RESUME_HELP = (
    "continue a run: 'auto' (also the bare flag) takes <output_dir>/checkpoint_last.pth when there is one "
    "(else starts fresh), PATH that checkpoint"
)


def last_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest checkpoint of an output folder (`checkpoint_last.pth`, else an earlier name), or None."""
    for name in (CHECKPOINT_NAME, *EARLIER_CHECKPOINT_NAMES):
        path = Path(output_dir) / name
        if path.is_file():
            return path
    return None


def adopt_earlier_log(output_dir: str | os.PathLike) -> None:
    """Rename an earlier-layout `loss_log.jsonl` to `train_log.jsonl` (when that does not exist yet), so a
    resumed run continues its log."""
    new = Path(output_dir) / LOG_NAME
    for name in EARLIER_LOG_NAMES:
        earlier = Path(output_dir) / name
        if earlier.is_file() and not new.exists():
            earlier.replace(new)


def resolve_resume(resume: str | bool | None, output_dir: str | os.PathLike) -> Path | None:
    """`--resume` value -> checkpoint path, or None to start fresh.

    None/False/"": fresh; True or "auto": the output folder's last checkpoint when it exists (else fresh);
    anything else must be an existing file (FileNotFoundError otherwise).
    """
    if not resume:
        return None
    if resume is True or resume == "auto":
        return last_checkpoint(output_dir)
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"--resume checkpoint not found: {path}")
    return path


def load_training_checkpoint(path: str | os.PathLike, script: str) -> dict:
    """The checkpoint dict of a training run of `script` (stage 1, R-MONet), for resuming or evaluating.

    A missing file is a FileNotFoundError naming the script that writes one; an unreadable file, or one
    without `model_state_dict`, a `models.checkpoint.CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path} (train one with {script})")
    ckpt = load_checkpoint(path, "checkpoint")
    if not isinstance(ckpt, dict) or "model_state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a training checkpoint of {script} (no model_state_dict)")
    return ckpt
