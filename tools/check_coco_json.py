"""Check a COCO JSON: unique ids, existing images/categories, boxes inside images, RLE sizes, polygons.

    python tools/check_coco_json.py data/coco/annotations/COCO_star_val2017.json [--tolerance 1.0]

Prints every defect with the annotation (or image) id it concerns and a count per kind; exits with
status 1 when there are defects, 2 when the file cannot be read, 0 when it is valid.
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from coco_tools.checker import check_coco, summarize_defects  # noqa: E402
from coco_tools.cli_configs import CheckCocoConfig  # noqa: E402
from utils.cli import print_error, reports_errors, run_cli  # noqa: E402
from utils.config import parse_config  # noqa: E402
from utils.io import DataError, load_json  # noqa: E402


@reports_errors()
def main(argv: list[str] | None = None) -> int:
    args = parse_config(CheckCocoConfig, argv, __doc__.split("\n\n")[0])
    status = 0
    for path in args.json_files:
        try:
            data = load_json(path, "COCO JSON")
        except DataError as e:
            print_error(e)
            status = max(status, 2)
            continue
        defects = check_coco(data, tolerance=args.tolerance, check_rle_counts=not args.skip_rle_counts)
        shown = defects if args.max_print <= 0 else defects[: args.max_print]
        for d in shown:
            print(f"{path}: {d}")
        if len(shown) < len(defects):
            print(f"{path}: ... {len(defects) - len(shown)} more")
        n_img = len(data.get("images", [])) if isinstance(data, dict) else 0
        n_ann = len(data.get("annotations", [])) if isinstance(data, dict) else 0
        verdict = "OK" if not defects else f"{len(defects)} defects ({summarize_defects(defects)})"
        print(f"{path}: {n_img} images, {n_ann} annotations: {verdict}")
        if defects:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    run_cli(main)
