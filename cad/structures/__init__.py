"""Detection containers with Detectron2's semantics: ``Boxes`` (xyxy float boxes) and ``Instances``
(per-image fields of equal length plus the image size), and ``pairwise_iou``."""

from .boxes import Boxes, pairwise_iou
from .instances import Instances

__all__ = ["Boxes", "Instances", "pairwise_iou"]
