"""Count instances per category of the COCO* extra labels -> `COCO*/category_stats.json`.

    cd 'COCO*' && python utils/compute_category_stats.py --labels extra_labels.json

Output: a JSON list `[{"id": .., "name": .., "count": ..}, ...]` sorted by category id, categories without
instances included with count 0.
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[2] / "_bootstrap.py"))  # repository root on sys.path

from coco_tools.checker import load_coco_json  # noqa: E402
from coco_tools.cli_configs import COCO_STAR_STATS, CategoryStatsConfig  # noqa: E402
from coco_tools.coco_star import category_stats  # noqa: E402
from utils.cli import reports_errors, run_cli  # noqa: E402
from utils.config import parse_config  # noqa: E402
from utils.io import DataError, atomic_write_json  # noqa: E402

DEFAULT_OUT = COCO_STAR_STATS  # the default --output_path: COCO*/category_stats.json

@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(CategoryStatsConfig, argv, __doc__.split("\n\n")[0])
    stats = category_stats(load_coco_json(cfg.labels))
    atomic_write_json(cfg.output_path, stats, indent=2)
    total = sum(s["count"] for s in stats)
    print(f"{total} instances in {len(stats)} categories -> {cfg.output_path}")
    return 0


if __name__ == "__main__":
    run_cli(main)
