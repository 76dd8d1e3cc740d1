"""Which data and checkpoints of the unMORE pipeline are in place, per step, and whether each one is usable.

    python tools/check_setup.py [--data_root data] [--weights_dir weights] [--steps "stage 1" detector]

One row per artifact of the README's downloads table (`utils/artifacts.py`): ok (present and checked: a
checkpoint loads strictly in its released layout, an annotation JSON passes the COCO schema checks and a
sample of its image files exists), MISSING (with its link), BROKEN (with the reason) or UNCHECKED (a JSON
over --max_json_mb). Exit status 1 when something present is broken, else 0. `--downloads` prints the
downloads table in Markdown instead.
"""

from __future__ import annotations

import argparse
import logging
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from tools.artifact_checks import CheckSetupConfig, Finding, Roots, check_artifact  # noqa: E402
from utils.artifacts import ARTIFACTS, Artifact, markdown_table  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import from_namespace, typed_parser  # noqa: E402

MARK = {"ok": "ok", "missing": "MISSING", "broken": "BROKEN", "unchecked": "UNCHECKED"}


def build_parser() -> argparse.ArgumentParser:
    return typed_parser(__doc__.split("\n\n")[0], CheckSetupConfig,
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def format_rows(rows: list[tuple[Artifact, Finding]]) -> str:
    """A plain-text table: step, artifact, status, path, detail (the link of a missing file)."""
    header = ("step", "artifact", "status", "path", "detail")
    cells = [header] + [(a.stage, a.name, MARK[f.status], str(f.path), f.detail) for a, f in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(4)) + "  " + c[4] for c in cells)


def main(argv: list[str] | None = None) -> int:
    args = from_namespace(CheckSetupConfig, build_parser().parse_args(argv))
    if args.downloads:
        print(markdown_table())
        return 0
    logging.getLogger("models").setLevel(logging.WARNING)
    roots = Roots(Path(args.data_root), Path(args.weights_dir), Path(args.repo), args.sample,
                  args.max_json_mb, Path(args.detector_config))
    rows = [(a, check_artifact(a, roots)) for a in ARTIFACTS if a.stage in args.steps]
    print(format_rows(rows))
    counts = {s: sum(f.status == s for _, f in rows) for s in MARK}
    print(", ".join(f"{n} {MARK[s].lower()}" for s, n in counts.items() if n))
    return 1 if counts["broken"] else 0


if __name__ == "__main__":
    run_cli(main)
