"""The main job's table over several seeds: each metric as mean (min-max) over the runs.

    SEED=1 OUT=outputs/main_seed1 bash run_main.sh      # and SEED=2 ...; SEED=0 is outputs/main
    python tools/summarize_seeds.py outputs/main outputs/main_seed1 outputs/main_seed2

Reads each run's `main_results.json` (tools/main_job_report.py), checks that the runs have the same rows, and
prints the table (bbox / segm AP, AP50, AR100 per row) with the existence accuracy and the pseudo-label count.
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from COCO_evaluator.cli_configs import SeedSummaryConfig  # noqa: E402
from COCO_evaluator.report import seed_summary_table  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import parse_config  # noqa: E402
from utils.io import DataError, atomic_write_bytes, load_json  # noqa: E402


def main(argv: list[str] | None = None) -> str:
    args = parse_config(SeedSummaryConfig, argv, __doc__.split("\n\n")[0])
    if len(args.runs) < 2:
        raise DataError("give at least two runs (folders with main_results.json, or the files)")
    paths = [Path(r) / "main_results.json" if Path(r).is_dir() else Path(r) for r in args.runs]
    reports = [load_json(p, "main job results") for p in paths]
    for p, r in zip(paths, reports):
        if not isinstance(r, dict) or not isinstance(r.get("table"), dict) or not r["table"]:
            raise DataError(f"{p}: not a main_results.json of tools/main_job_report.py (no 'table')")
    try:
        table = seed_summary_table(reports)
    except (KeyError, ValueError) as e:
        raise DataError(f"the runs do not share one table ({', '.join(map(str, paths))}): {e}") from e
    text = f"Class-agnostic AP (%), mean (min-max) over {len(reports)} runs\n\n{table}"
    print(text)
    if args.output_path:
        atomic_write_bytes(Path(args.output_path), (text + "\n").encode())
        print(f"wrote {args.output_path}")
    return table


if __name__ == "__main__":
    run_cli(main)
