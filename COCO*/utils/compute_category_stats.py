"""Count instances per category of the COCO* extra labels -> `COCO*/category_stats.json`.

    cd 'COCO*' && python utils/compute_category_stats.py --labels extra_labels.json

Output: a JSON list `[{"id": .., "name": .., "count": ..}, ...]` sorted by category id, categories without
instances included with count 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from coco_tools.coco_star import category_stats  # noqa: E402
from utils.io import DataError, atomic_write_json, load_coco_json  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "category_stats.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", required=True, help="extra labels COCO JSON (with or without masks)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="default: COCO*/category_stats.json")
    args = p.parse_args(argv)
    try:
        stats = category_stats(load_coco_json(args.labels))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    atomic_write_json(args.out, stats, indent=2)
    total = sum(s["count"] for s in stats)
    print(f"{total} instances in {len(stats)} categories -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
