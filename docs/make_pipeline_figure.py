"""Draw the unMORE pipeline (scripts and the files they read and write) -> docs/images/pipeline.png.

    python docs/make_pipeline_figure.py [--out docs/images/pipeline.png]

Matplotlib only, no network. Scripts are blue boxes, files are white boxes; one row per stage.
"""

import runpy
from dataclasses import dataclass
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from utils.cli import run_cli  # noqa: E402
from utils.config import parse_config  # noqa: E402
from utils.runtime_config import runtime_option  # noqa: E402

SCRIPT_STYLE = {"facecolor": "#2b6cb0", "edgecolor": "#1a4480", "color": "white", "weight": "bold"}
FILE_STYLE = {"facecolor": "white", "edgecolor": "#555555", "color": "#222222", "weight": "normal"}
ROW_COLOURS = ("#eef5fb", "#f2f8ee", "#fbf6ea", "#f6eef8")
BOX_H = 0.9
Extent = tuple[float, float, float, float]  # left, right, bottom, top


def box(ax, x: float, y: float, w: float, text: str, style: dict) -> Extent:
    """A rounded box centred at (x, y), width w."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - BOX_H / 2), w, BOX_H,
                                boxstyle="round,pad=0.02,rounding_size=0.12", facecolor=style["facecolor"],
                                edgecolor=style["edgecolor"], linewidth=1.4, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=10, color=style["color"], weight=style["weight"],
            family="monospace" if style is FILE_STYLE else "sans-serif", zorder=3, linespacing=1.25)
    return x - w / 2, x + w / 2, y - BOX_H / 2, y + BOX_H / 2


def arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linewidth=1.4,
                                 color="#333333", shrinkA=1, shrinkB=1, zorder=1))


def chain(ax, y: float, items: list[tuple[float, float, str, dict]]) -> list[Extent]:
    """Boxes on one row joined left to right by arrows."""
    extents = [box(ax, x, y, w, text, style) for x, w, text, style in items]
    for left, right in zip(extents, extents[1:]):
        arrow(ax, (left[1], y), (right[0], y))
    return extents


def elbow(ax, top_row: Extent, bottom_row: Extent) -> None:
    """Arrow from the bottom of a row's last box, along the gap below it, into the next row's first box."""
    x0, y0 = (top_row[0] + top_row[1]) / 2, top_row[2]
    x1, y1 = (bottom_row[0] + bottom_row[1]) / 2, bottom_row[3]
    y_gap = y0 - 0.62
    ax.plot([x0, x0, x1], [y0, y_gap, y_gap], color="#333333", linewidth=1.4, zorder=1)
    arrow(ax, (x1, y_gap), (x1, y1))


def note(ax, x: float, y: float, text: str) -> None:
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, style="italic", color="#333333")


def draw(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(16.3, 9.6))
    ax.set_xlim(0, 16.3)
    ax.set_ylim(-0.5, 9.1)
    ax.axis("off")
    rows = [  # (y, label)
        (7.7, "Stage 1\nobjectness +\nexistence\nnetworks"),
        (5.5, "Stage 2\nreasoning +\nscoring"),
        (3.3, "Pseudo\nlabels"),
        (1.1, "Detector +\nevaluation"),
    ]
    for (y, label), colour in zip(rows, ROW_COLOURS):
        ax.add_patch(FancyBboxPatch((0.1, y - 0.95), 16.1, 1.9, boxstyle="round,pad=0,rounding_size=0.1",
                                    facecolor=colour, edgecolor="none", zorder=0))
        ax.text(0.85, y, label, ha="center", va="center", fontsize=10.5, weight="bold", color="#333333")
    x = (3.15, 6.05, 8.85, 11.65, 14.65)  # box centres: file, script, file, script, file
    w = (2.8, 2.4, 2.6, 2.4, 3.0)

    def row(y: float, texts: tuple[str, str, str, str, str]) -> list[Extent]:
        styles = (FILE_STYLE, SCRIPT_STYLE, FILE_STYLE, SCRIPT_STYLE, FILE_STYLE)
        return chain(ax, y, list(zip(x, w, texts, styles)))

    y1, y2, y3, y4 = (y for y, _ in rows)
    s1 = row(y1, ("ImageNet train/<wnid>/\n*.JPEG + VoteCut JSON\n"
                  "(imagenet_train_votecut_\nkmax_3_tuam_0.2.json)",
                  "utils/\npreprocess_votecut.py",
                  "masks_top1_single_\ncomponent/\n<wnid>/<name>.png",
                  "train_objectness_net.py\n(run twice)",
                  "outputs/objectness/<run>/\ncheckpoint_last.pth\n(center/boundary; existence)"))
    note(ax, x[3], y1 - 0.7, "--train_center_and_boundary\n--train_existence (+ --votecut_json)")

    s2 = row(y2, ("images/*.jpg\n+ the two checkpoints",
                  "object_reasoning.py",
                  "results_reasoning/<run>/\ndiscovery_results.json",
                  "object_scoring.py",
                  "object_discovery_with_\nscores.json (RLE masks +\n4 scores per object)"))
    note(ax, x[2], y2 - 0.7, "boxes [x1, y1, x2, y2] per image")
    elbow(ax, s1[-1], s2[0])

    s3 = row(y3, ("object_discovery_with_\nscores.json",
                  "post_process.py",
                  "selected_training_\nannotations.json",
                  "merge_coco_and_\nimagenet.py",
                  "merged_with_imagenet/\nCOCO_merged_IN_training_\nformat.json"))
    note(ax, x[1], y3 - 0.7, "existence >= 0.5, center >= 0.8,\nboundary >= 0.75")
    note(ax, x[3], y3 + 0.7, "+ VoteCut JSON (weight >= 0.5)")
    elbow(ax, s2[-1], s3[0])

    s4 = row(y4, ("COCO_merged_IN_training_\nformat.json + images",
                  "cad/train_net.py",
                  "OUTPUT_DIR/\nmodel_final.pth",
                  "cad/train_net.py\n--eval-only",
                  "inference/coco_instances_\nresults.json\n+ ap_score.json"))
    note(ax, x[3], y4 - 0.7, "class-agnostic AP via COCO_evaluator")
    elbow(ax, s3[-1], s4[0])

    ax.text(8.15, 8.95, "unMORE pipeline: scripts (blue) and the files they read and write (white)",
            ha="center", va="center", fontsize=14, weight="bold")
    ax.text(8.15, -0.3, "any stage's output:  COCO_evaluator/main.py --gt_annotations GT.json "
            "--pred_annotations PRED.json  ->  ap_score.json", ha="center", va="center", fontsize=10,
            family="monospace", color="#222222")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(fig)


@dataclass(frozen=True)
class FigureConfig:  # real (not string) annotations: the script defines it while run by path
    output_path: str = runtime_option("output_path", "the PNG", aliases=("--out",),
                                      default=str(Path(__file__).resolve().parent / "images/pipeline.png"))


def main() -> None:
    args = parse_config(FigureConfig, None, __doc__)
    draw(Path(args.output_path))
    print(f"wrote {args.output_path}")


if __name__ == "__main__":
    run_cli(main)
