"""The README's first command, shrunk: every stage of `run_main.sh` on a handful of images, in one run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

ROWS = ["discoveries, oracle fields", "discoveries, trained networks", "detector on pseudo labels",
        "detector on GT masks"]


def test_main_job_runs_every_stage_on_tiny_data(tmp_path):
    env = dict(os.environ, SKIP_INSTALL="1", OUT=str(tmp_path / "out"), DATA=str(tmp_path / "data"),
               TRAIN_SCENES="2", VAL_SCENES="2", SINGLE_PER_CLASS="1", HELDOUT_PER_CLASS="1", CB_ITERS="4",
               EX_ITERS="4", CAD_ITERS="2", OMP_NUM_THREADS="1")
    run = subprocess.run(["bash", "run_main.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = tmp_path / "out"
    report = json.loads((out / "main_results.json").read_text())
    assert list(report["table"]) == ROWS
    assert report["scenes"] == 2
    for row in ROWS:
        assert "bbox" in report["table"][row], row
    # the oracle fields find the synthetic objects even when the tiny networks find nothing
    assert report["table"]["discoveries, oracle fields"]["bbox"]["AP50"] > 50
    assert [s["task"] for s in report["stage1"]] == ["center_boundary", "existence"]
    assert "pseudo_labels" in report
    md = (out / "main_results.md").read_text()
    assert all(f"| {row} |" in md for row in ROWS)
    assert len(list((out / "overlays").glob("*.png"))) == 2
    assert (out / "pseudo_labels_merged.json").is_file()
    for det in ("detector_pseudo", "detector_gt"):
        assert (out / det / "inference" / "coco_instances_results.json").is_file()
    assert not list((out / "center_boundary").glob("checkpoint_iter_*.pth"))  # only the latest is kept
    assert "class-agnostic AP" in run.stdout or "Class-agnostic AP" in run.stdout
