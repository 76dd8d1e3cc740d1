"""The main job's summary: one AP table of several result files on the same scenes, stage-1 figures, overlays.

    python tools/main_job_report.py --gt_annotations GT.json --image_dir IMAGES --out_dir outputs/main \
        --row "discoveries (oracle fields)=RUN/object_discovery_with_scores.json" \
        --row "detector (pseudo labels)=CAD/inference/coco_instances_results.json" \
        --stage1 CB_HELDOUT.json --stage1 EXISTENCE_HELDOUT.json --pseudo_labels SELECTED.json

Prints the table and writes `main_results.json`, `main_results.md` and `overlays/<image>.png` (ground truth
next to each row's masks) under `--out_dir`.
"""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from COCO_evaluator.cli_configs import MainJobReportConfig  # noqa: E402
from COCO_evaluator.report import evaluate_rows, markdown_table, text_table  # noqa: E402
from reasoning.vis import save_comparison_overlays  # noqa: E402
from training.objectness.evaluation import stage1_summary  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import from_namespace, typed_parser  # noqa: E402
from utils.io import DataError, atomic_write_bytes, atomic_write_json, load_json  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    return typed_parser(__doc__.split("\n\n")[0], MainJobReportConfig,
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def main(argv: list[str] | None = None) -> dict:
    args = from_namespace(MainJobReportConfig, build_parser().parse_args(argv))
    out_dir = Path(args.output_dir)
    gt = load_json(args.gt_annotations, "ground-truth annotation file")
    if not isinstance(gt, dict) or "images" not in gt:
        raise DataError(f"{args.gt_annotations}: not a COCO dataset (no 'images')")
    table = evaluate_rows(gt, args.row)
    report = {"scenes": len(gt["images"]), "objects": len(gt.get("annotations", [])), "table": table,
              "stage1": [stage1_summary(load_json(p, "held-out evaluation")) for p in args.stage1]}
    if args.pseudo_labels:
        pseudo = load_json(args.pseudo_labels, "pseudo-label file")
        report["pseudo_labels"] = {"annotations": len(pseudo.get("annotations", [])),
                                   "images": len(pseudo.get("images", []))}
    md = [f"Class-agnostic AP (%) on {report['scenes']} validation scenes ({report['objects']} objects)", "",
          markdown_table(table)]
    text = [md[0], text_table(table)]
    for s in report["stage1"]:
        md += ["", f"- {s['line']}"]
        text.append(s["line"])
    if "pseudo_labels" in report:
        line = (f"pseudo labels: {report['pseudo_labels']['annotations']} on "
                f"{report['pseudo_labels']['images']} training scenes")
        md += ["", f"- {line}"]
        text.append(line)
    atomic_write_json(out_dir / "main_results.json", report, indent=2)
    atomic_write_bytes(out_dir / "main_results.md", ("\n".join(md) + "\n").encode())
    report["overlays"] = [str(p) for p in save_comparison_overlays(
        gt, args.image_dir, [(name, load_json(path, "results file")) for name, path in args.row],
        out_dir / "overlays", args.num_overlays, args.overlay_score)]
    print("\n".join(text))
    print(f"wrote {out_dir / 'main_results.md'}, {out_dir / 'main_results.json'} and "
          f"{len(report['overlays'])} overlays in {out_dir / 'overlays'}")
    return report


if __name__ == "__main__":
    run_cli(main)
