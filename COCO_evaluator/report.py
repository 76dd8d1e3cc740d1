"""One comparison table of several result files on the same ground truth (the main job's summary).

`evaluate_rows` scores each named results file with `evaluate_class_agnostic`; `markdown_table` and
`text_table` render the chosen metrics (bbox and segm AP / AP50 / AR100 by default), one row per file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from COCO_evaluator.evaluate import TASKS, evaluate_class_agnostic

TABLE_METRICS = ("AP", "AP50", "AR100")


def evaluate_rows(gt: dict | str | os.PathLike, rows: Sequence[tuple[str, str | os.PathLike]]) -> dict:
    """[(row name, results path)] -> {row name: {"results": path, "bbox": {...}, "segm": {...}}}."""
    out = {}
    for name, path in rows:
        out[name] = {"results": str(path), **evaluate_class_agnostic(gt, path, tasks=TASKS)}
    return out


def _cells(scores: dict, metrics: Sequence[str]) -> list[str]:
    cells = []
    for task in TASKS:
        for m in metrics:
            v = scores.get(task, {}).get(m)
            cells.append("-" if v is None or v < 0 else f"{v:.1f}")
    return cells


def _header(metrics: Sequence[str]) -> list[str]:
    return [f"{task} {m}" for task in TASKS for m in metrics]


def markdown_table(table: dict, metrics: Sequence[str] = TABLE_METRICS) -> str:
    """Markdown table: a row per entry of `evaluate_rows`' output, bbox then segm metrics as columns."""
    head = ["", *_header(metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, scores in table.items():
        lines.append("| " + " | ".join([name, *_cells(scores, metrics)]) + " |")
    return "\n".join(lines)


def text_table(table: dict, metrics: Sequence[str] = TABLE_METRICS) -> str:
    """The same table in fixed-width columns for a terminal."""
    width = max([len(n) for n in table] + [8])
    head = _header(metrics)
    lines = [" " * width + "".join(f"{h:>11s}" for h in head)]
    for name, scores in table.items():
        lines.append(f"{name:<{width}s}" + "".join(f"{c:>11s}" for c in _cells(scores, metrics)))
    return "\n".join(lines)
