"""The class-agnostic Cascade Mask R-CNN (Detectron2 module names, torchvision primitives).

Contract (used by ``cad/train_net.py``, ``cad/demo.py``, the evaluator and the benchmarks)
-----------------------------------------------------------------------------------------
``build_model(cfg) -> GeneralizedRCNN``: an ``nn.Module`` on ``cfg.MODEL.DEVICE`` (``.to(device)`` moves it).

``model(batched_inputs)`` with ``batched_inputs`` a list of dicts, one per image:

- ``"image"``: tensor [3, H, W], uint8 or float 0-255, channel order ``cfg.INPUT.FORMAT`` (RGB in the recipe),
  already resized by the data mapper (the model does not resize). The model normalises with
  ``MODEL.PIXEL_MEAN/PIXEL_STD`` and zero-pads the batch to a multiple of 32.
- ``"height"``, ``"width"`` (optional, eval): original image size; outputs are rescaled to it.
- ``"instances"`` (training): ``cad.structures.Instances(image_size=(H, W))`` with
  ``gt_boxes`` (``Boxes`` or [N, 4] float xyxy in resized coordinates), ``gt_classes`` [N] long (all 0),
  ``gt_masks`` bool [N, H, W] (resized coordinates; needed when MODEL.MASK_ON), optional ``gt_scores`` [N]
  float pseudo-label scores (default 1).
- ``"is_single_object"`` (optional bool, training): disables DropLoss for that image (IN_SINGLE_OBJECT).

Training mode returns a dict of scalar losses: ``loss_rpn_cls, loss_rpn_loc, loss_cls_stage{0,1,2},
loss_box_reg_stage{0,1,2}, loss_mask`` (the total loss is their plain sum).

Eval mode returns ``[{"instances": Instances((height, width), pred_boxes=Boxes, scores [N],
pred_classes [N] long, pred_masks bool [N, height, width])}]``; ``pred_masks`` is absent when MODEL.MASK_ON
is False or TEST.NO_SEGM is True. ``model.inference(batched_inputs, do_postprocess=False)`` returns the raw
per-image Instances at the network input size (``pred_masks`` [N, 1, 28, 28] probabilities).

``state_dict()`` keys equal Detectron2's (``backbone.bottom_up.res2.0.conv1.norm.weight``, ...,
``roi_heads.box_predictor.2.cls_score.weight``), so Detectron2 checkpoints load 1:1 (``cad.checkpoint``).
"""

from __future__ import annotations

from utils.device import resolve_device

from .meta_arch import GeneralizedRCNN


def build_model(cfg) -> GeneralizedRCNN:
    """Build the detector from a config and move it to ``cfg.MODEL.DEVICE`` (an error when that asks for CUDA
    on a machine without it)."""
    return GeneralizedRCNN(cfg).to(resolve_device(str(cfg.MODEL.DEVICE), option="MODEL.DEVICE"))


__all__ = ["GeneralizedRCNN", "build_model"]
