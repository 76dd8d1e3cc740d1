"""Evaluation of the class-agnostic detector: COCO results JSON and class-agnostic AP (``COCO_evaluator``)."""

from .coco_evaluation import (
    evaluate_dataset,
    inference_on_records,
    instances_to_coco_results,
)

__all__ = ["evaluate_dataset", "inference_on_records", "instances_to_coco_results"]
