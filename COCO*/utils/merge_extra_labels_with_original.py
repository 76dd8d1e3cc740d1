"""Merge extra COCO* labels into COCO val2017 and write the class-agnostic version.

    cd 'COCO*' && python utils/merge_extra_labels_with_original.py \
        --original ../data/coco/annotations/instances_val2017.json --extra extra_labels.json \
        --out COCO_star_val2017.json

Writes `--out` and `<out stem>_cls_agnostic.json` (every category merged into `{id: 1, name: fg}`).
Original annotations are kept unchanged; new categories get ids after COCO's; annotation ids stay unique.
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[2] / "_bootstrap.py"))  # repository root on sys.path

from coco_tools.checker import load_coco_json  # noqa: E402
from coco_tools.cli_configs import MergeExtraLabelsConfig  # noqa: E402
from coco_tools.coco_star import merge_with_class_agnostic  # noqa: E402
from utils.cli import reports_errors, run_cli  # noqa: E402
from utils.config import parse_config  # noqa: E402
from utils.io import DataError, atomic_write_json  # noqa: E402


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(MergeExtraLabelsConfig, argv, __doc__.split("\n\n")[0])
    original = load_coco_json(cfg.original)
    extra = load_coco_json(cfg.extra)
    merged, agnostic = merge_with_class_agnostic(original, extra)
    out = Path(cfg.output_path)
    agnostic_path = out.with_name(f"{out.stem}_cls_agnostic.json")
    atomic_write_json(out, merged)
    atomic_write_json(agnostic_path, agnostic)
    print(f"{len(merged['images'])} images, {len(merged['annotations'])} annotations, "
          f"{len(merged['categories'])} categories -> {out}; class-agnostic -> {agnostic_path}")
    return 0


if __name__ == "__main__":
    run_cli(main)
