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


def _spread(values: Sequence[float], digits: int = 1) -> str:
    """'mean (min-max)' of `values`."""
    mean = sum(values) / len(values)
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def seed_summary_table(reports: Sequence[dict], metrics: Sequence[str] = TABLE_METRICS) -> str:
    """Markdown table of runs of one job that differ only in their seed: for each row of the reports' tables
    (`main_results.json` of tools/main_job_report.py, the same rows in the same order in every report) and
    each bbox / segm metric, 'mean (min-max)' over the runs; then the stage-1 and pseudo-label lines."""
    names = list(reports[0]["table"])
    for i, r in enumerate(reports[1:], 1):
        if list(r["table"]) != names:
            raise ValueError(f"report {i} has rows {list(r['table'])}, report 0 has {names}")
    head = ["", *_header(metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        cells = [_spread([r["table"][name][task][m] for r in reports])
                 for task in ("bbox", "segm") for m in metrics]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    extra = []
    existence = [s["accuracy"] for r in reports for s in r.get("stage1", []) if s.get("task") == "existence"]
    if len(existence) == len(reports):
        extra.append(f"- existence accuracy (held-out): {_spread(existence, 3)}")
    pseudo = [r["pseudo_labels"]["annotations"] for r in reports if "pseudo_labels" in r]
    if len(pseudo) == len(reports):
        extra.append(f"- pseudo labels: {_spread(pseudo, 0)}")
    return "\n".join(lines + ([""] + extra if extra else []))

