"""Merge extra COCO* labels into COCO val2017 and write the class-agnostic version.

    cd 'COCO*' && python utils/merge_extra_labels_with_original.py \
        --original ../data/coco/annotations/instances_val2017.json --extra extra_labels.json \
        --out COCO_star_val2017.json

Writes `--out` and `<out stem>_cls_agnostic.json` (every category merged into `{id: 1, name: fg}`).
Original annotations are kept unchanged; new categories get ids after COCO's; annotation ids stay unique.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from coco_tools.coco_star import merge_with_class_agnostic  # noqa: E402
from utils.io import DataError, atomic_write_json, load_coco_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--original", required=True, help="COCO instances_val2017.json")
    p.add_argument("--extra", required=True,
                   help="extra labels with masks (output of generate_mask_for_extra_coco_labels.py)")
    p.add_argument("--out", default="COCO_star_val2017.json",
                   help="merged output (default: COCO_star_val2017.json)")
    args = p.parse_args(argv)
    try:
        original = load_coco_json(args.original)
        extra = load_coco_json(args.extra)
        merged, agnostic = merge_with_class_agnostic(original, extra)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    agnostic_path = out.with_name(f"{out.stem}_cls_agnostic.json")
    atomic_write_json(out, merged)
    atomic_write_json(agnostic_path, agnostic)
    print(f"{len(merged['images'])} images, {len(merged['annotations'])} annotations, "
          f"{len(merged['categories'])} categories -> {out}; class-agnostic -> {agnostic_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
