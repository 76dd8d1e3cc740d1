"""Checkpoint loading/export in Detectron2's formats.

- ``load_checkpoint_file(path)``: a ``.pkl`` (Detectron2 model-zoo format: numpy arrays under ``model``, with
  ``__author__``/``matching_heuristics``, e.g. the DINO ResNet-50 init) or a ``.pth`` (``{'model': ...}``,
  e.g. the released ``unMORE_model.pth`` or our own training checkpoints) -> dict with a tensor ``model``.
- ``load_weights(model, path)``: the entry point for ``MODEL.WEIGHTS`` (train_net, demo, tools, trainer).
  ``""`` keeps the random init; URLs and missing files raise with a download hint (``check_weights_path``,
  ``missing_weights_message``); otherwise the weights are loaded (identity names; suffix matching for partial
  checkpoints such as a bare backbone) and a ``LoadReport`` of loaded/missing/unexpected/mismatched keys is
  returned.
- ``export_d2_checkpoint(state_dict, path)``: write a Detectron2-loadable ``.pth`` or ``.pkl``.
- ``convert_checkpoint(src, dst, model=None)``: format conversion (``cad/tools/convert_checkpoint.py``).
"""

from .loader import (
    DOWNLOADS,
    INFERENCE_MIN_LOADED,
    LoadReport,
    align_state_dict,
    check_weights_path,
    convert_checkpoint,
    export_d2_checkpoint,
    load_checkpoint_file,
    load_weights,
    missing_weights_message,
    torchvision_resnet_to_d2,
)

__all__ = [
    "DOWNLOADS",
    "INFERENCE_MIN_LOADED",
    "LoadReport",
    "align_state_dict",
    "check_weights_path",
    "convert_checkpoint",
    "export_d2_checkpoint",
    "load_checkpoint_file",
    "load_weights",
    "missing_weights_message",
    "torchvision_resnet_to_d2",
]
