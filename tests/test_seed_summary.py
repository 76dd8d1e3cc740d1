"""tools/summarize_seeds.py: the main job's table over seeds as mean (min-max), known answers."""

import json
import runpy
from pathlib import Path

import pytest

from COCO_evaluator.report import seed_summary_table
from utils.io import DataError

REPO = Path(__file__).resolve().parents[1]


def _report(ap: float, ap50: float, accuracy: float, pseudo: int) -> dict:
    scores = {"AP": ap, "AP50": ap50, "AR100": 50.0}
    return {"table": {"detector": {"bbox": dict(scores), "segm": dict(scores, AP=ap / 2)}},
            "stage1": [{"task": "existence", "accuracy": accuracy}],
            "pseudo_labels": {"annotations": pseudo, "images": 40}}


def test_each_metric_is_the_mean_min_and_max_over_the_runs():
    table = seed_summary_table([_report(30.0, 60.0, 0.95, 150), _report(40.0, 70.0, 0.97, 160),
                                _report(35.0, 80.0, 0.96, 170)])
    lines = table.splitlines()
    assert lines[0] == "|  | bbox AP | bbox AP50 | bbox AR100 | segm AP | segm AP50 | segm AR100 |"
    assert lines[2] == ("| detector | 35.0 (30.0-40.0) | 70.0 (60.0-80.0) | 50.0 (50.0-50.0) | "
                        "17.5 (15.0-20.0) | 70.0 (60.0-80.0) | 50.0 (50.0-50.0) |")
    assert "- existence accuracy (held-out): 0.960 (0.950-0.970)" in lines
    assert "- pseudo labels: 160 (150-170)" in lines


def test_the_tool_reads_run_folders_and_refuses_runs_with_other_rows(tmp_path, capsys):
    tool = runpy.run_path(str(REPO / "tools" / "summarize_seeds.py"))
    for i, ap in enumerate((30.0, 40.0)):
        (tmp_path / f"run{i}").mkdir()
        (tmp_path / f"run{i}" / "main_results.json").write_text(json.dumps(_report(ap, 60.0, 0.9, 100)))
    out = tmp_path / "seeds.md"
    table = tool["main"]([str(tmp_path / "run0"), str(tmp_path / "run1"), "--output_path", str(out)])
    assert "| detector | 35.0 (30.0-40.0) |" in table and table in out.read_text()
    other = _report(1.0, 2.0, 0.9, 100)
    other["table"] = {"another row": other["table"]["detector"]}
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(DataError, match="do not share one table"):
        tool["main"]([str(tmp_path / "run0"), str(tmp_path / "other.json")])
    with pytest.raises(DataError, match="at least two runs"):
        tool["main"]([str(tmp_path / "run0")])
