"""Class-agnostic COCO evaluation (bbox and segm AP/AR) on top of pycocotools' COCOeval."""

from COCO_evaluator.evaluate import (
    DEFAULT_SCORE,
    evaluate_class_agnostic,
    format_table,
    load_results,
)

__all__ = [
    "DEFAULT_SCORE",
    "evaluate_class_agnostic",
    "format_table",
    "load_results",
]
