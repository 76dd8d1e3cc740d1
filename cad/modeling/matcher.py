"""Detectron2's Matcher (IoU thresholds -> labels per prediction) and ``subsample_labels``."""

from __future__ import annotations

import torch


class Matcher:
    """Assign each prediction (column) its best ground truth (row) and a label from IoU intervals.

    ``thresholds`` [t1, ..., tk] split [-inf, t1), [t1, t2), ..., [tk, inf) labelled ``labels`` (k+1 values,
    1 = foreground, 0 = background, -1 = ignore). With ``allow_low_quality_matches`` every GT's best
    predictions (ties included) are set to 1. Unlike torchvision, background predictions keep their
    argmax GT index.
    """

    def __init__(self, thresholds: list[float], labels: list[int], allow_low_quality_matches: bool = False):
        thresholds = list(thresholds)
        if thresholds != sorted(thresholds) or thresholds[0] <= 0:
            raise ValueError(f"Matcher thresholds must be increasing and positive, got {thresholds}")
        if len(labels) != len(thresholds) + 1:
            raise ValueError("Matcher needs one more label than thresholds")
        self.thresholds = [-float("inf")] + thresholds + [float("inf")]
        self.labels = list(labels)
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """quality [M gt, N pred] -> (matches [N] int64, match_labels [N] int8)."""
        if quality.numel() == 0:
            n = quality.size(1)
            return (
                quality.new_full((n,), 0, dtype=torch.int64),
                quality.new_full((n,), self.labels[0], dtype=torch.int8),
            )
        matched_vals, matches = quality.max(dim=0)
        match_labels = matches.new_ones(matches.size(), dtype=torch.int8)
        for label, low, high in zip(self.labels, self.thresholds[:-1], self.thresholds[1:]):
            match_labels[(matched_vals >= low) & (matched_vals < high)] = label
        if self.allow_low_quality_matches:
            best_per_gt, _ = quality.max(dim=1)
            _, pred_inds = torch.nonzero(quality == best_per_gt[:, None], as_tuple=True)
            match_labels[pred_inds] = 1
        return matches, match_labels


def subsample_labels(
    labels: torch.Tensor, num_samples: int, positive_fraction: float, bg_label: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random fg/bg subset: at most ``num_samples * positive_fraction`` fg (label not -1 and not bg),
    the rest bg. Returns (fg indices, bg indices), each in random order."""
    positive = torch.nonzero((labels != -1) & (labels != bg_label), as_tuple=True)[0]
    negative = torch.nonzero(labels == bg_label, as_tuple=True)[0]
    num_pos = min(positive.numel(), int(num_samples * positive_fraction))
    num_neg = min(negative.numel(), num_samples - num_pos)
    perm1 = torch.randperm(positive.numel(), device=positive.device)[:num_pos]
    perm2 = torch.randperm(negative.numel(), device=negative.device)[:num_neg]
    return positive[perm1], negative[perm2]
