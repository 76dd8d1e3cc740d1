"""Convert any COCO-style instance JSON (COCO, LVIS, Objects365, OpenImages, KITTI, VOC) to class-agnostic.

    python tools/convert_to_cls_agnostic.py --input data/coco/annotations/instances_val2017.json \
        --output data/coco/annotations/coco_cls_agnostic_instances_val2017.json [--drop_crowd]

Every category becomes `{id: 1, name: fg}`; images and other annotation fields are kept.
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from coco_tools.checker import load_coco_json  # noqa: E402
from coco_tools.class_agnostic import to_class_agnostic  # noqa: E402
from coco_tools.cli_configs import ClassAgnosticConfig  # noqa: E402
from utils.cli import reports_errors, run_cli  # noqa: E402
from utils.config import parse_config  # noqa: E402
from utils.io import DataError, atomic_write_json  # noqa: E402


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(ClassAgnosticConfig, argv, __doc__.split("\n\n")[0])
    data = load_coco_json(cfg.input)
    out = to_class_agnostic(data, drop_crowd=cfg.drop_crowd, source=cfg.input)
    inp = Path(cfg.input)
    dest = Path(cfg.output_path) if cfg.output_path else inp.with_name(f"{inp.stem}_cls_agnostic.json")
    atomic_write_json(dest, out)
    print(f"{len(out['images'])} images, {len(out['annotations'])} annotations -> {dest}")
    return 0


if __name__ == "__main__":
    run_cli(main)
