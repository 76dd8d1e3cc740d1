"""`discover.py`: the objects of any photos in one command, as a page of overlays.

One process, one network load: per image the reasoning (`Reasoner.discover`), the scoring (`score_boxes`)
and the pseudo-label thresholds of `post_process.py` (`passes_thresholds`), optionally the detector
(`cad.engine.predictor.DetectorPredictor`); the per-image loop of the stage scripts (`reasoning.runner.Run`:
progress bar, one flushed JSON line per image, resume, failed images recorded, atomic merges). Writes into
`--out`: `discoveries.json` (COCO results), `discoveries_selected.json` (the discoveries that pass the
thresholds, as `post_process.py` writes them), `overlays/<image>.png`, `index.html` and, with `--detector`,
`detections.json`.
"""

from __future__ import annotations

import argparse
import glob
import html
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np
import torch

from cad.config import DEMO_SCORE_THRESHOLD, DEMO_SCORE_THRESHOLD_WHY
from coco_tools.pseudo_labels import THRESHOLDS_GROUP, PseudoLabelThresholds, select_pseudo_labels
from reasoning.algorithm import THRESHOLDS, Reasoner, ReasoningConfig
from reasoning.images import IMAGE_EXTENSIONS, ImageRecord
from reasoning.jobs import command_line
from reasoning.networks import NETWORKS, PredictorConfig, build_predictor
from reasoning.results import ShardedResults
from reasoning.runner import EXECUTION, FAILED_NAME, JobConfig, Process, Run, image_float
from reasoning.scoring import ScoringConfig, score_boxes
from reasoning.stats import CountingPredictor
from reasoning.vis import save_panels
from utils.cli import reports_errors
from utils.config import (
    DEVIATIONS_GROUP,
    add_arguments,
    add_original_switch,
    cli_values,
    from_namespace,
    option,
)
from utils.io import DataError, atomic_write_bytes, atomic_write_json
from utils.masks import rle_to_mask, xywh_to_xyxy
from utils.resume import file_identity
from utils.runtime_config import runtime_option

if TYPE_CHECKING:
    from cad.engine.predictor import DetectorPredictor

logger = logging.getLogger(__name__)

# default networks: the main job's (bash run_main.sh), else the released files put under weights/
MAIN_JOB_NETWORKS = ("outputs/main/center_boundary/checkpoint_last.pth",
                     "outputs/main/existence/checkpoint_last.pth")
RELEASED_NETWORKS = ("weights/center_boundary_model.pth", "weights/existence_model.pth")
DISCOVERIES = "discoveries.json"
SELECTED = "discoveries_selected.json"
DETECTIONS = "detections.json"
INDEX = "index.html"
OVERLAYS = "overlays"
DETECTOR = "detector (optional second overlay column)"
# JobConfig fields discover.py has no use for (its inputs are positional, its output folder is --out)
UNUSED_JOB_FIELDS = ("image_dir", "annotations", "start_idx", "end_idx", "output_dir", "gpu_index", "shard",
                     "merge_only", "vis_dir", "images_at_once")


@dataclass(frozen=True)
class DiscoverInputs:
    """What discover.py reads and where it writes."""

    images: list[str] = option([], "image files, folders (their image files) or quoted glob patterns",
                               positional=True)
    output_dir: str = runtime_option("output_dir", "a rerun with the same settings resumes",
                                     aliases=("--out",), required=True)


@dataclass
class DiscoverConfig:
    """The networks' files (defaults looked up at run time) and the optional detector."""

    objectness: str | None = option(
        None, f"center/boundary network checkpoint (default: {MAIN_JOB_NETWORKS[0]} if present, else "
        f"{RELEASED_NETWORKS[0]})", aliases=("--objectness_resume",), group=NETWORKS)
    existence: str | None = option(
        None, f"existence network checkpoint (default: {MAIN_JOB_NETWORKS[1]} if present, else "
        f"{RELEASED_NETWORKS[1]})", aliases=("--binary_classifier_resume",), group=NETWORKS)
    detector: str | None = option(
        None, "class-agnostic detector weights (cad/train_net.py's model_final.pth): its predictions become "
        "a second overlay column and detections.json", group=DETECTOR)
    detector_config: str | None = option(
        None, "the detector's YAML config (default: config.yaml next to --detector)", group=DETECTOR)
    detector_threshold: float = option(
        DEMO_SCORE_THRESHOLD, f"keep detections scoring >= this ({DEMO_SCORE_THRESHOLD_WHY}, as "
        "cad/demo.py's --confidence-threshold)", min=0, max=1, group=DETECTOR)


def default_networks(cfg: DiscoverConfig, oracle: bool) -> DiscoverConfig:
    """`cfg` with each missing checkpoint taken from the main job's outputs, else from weights/.

    Raises DataError (one line saying how to get networks) when a checkpoint is still missing.
    """
    if oracle:
        return cfg
    picked = [given or next((p for p in candidates if Path(p).is_file()), None)
              for given, candidates in zip((cfg.objectness, cfg.existence),
                                           zip(MAIN_JOB_NETWORKS, RELEASED_NETWORKS))]
    if None in picked:
        raise DataError("no stage-1 networks: run `bash run_main.sh` (writes outputs/main/center_boundary "
                        "and outputs/main/existence), or put the released center_boundary_model.pth and "
                        "existence_model.pth (links in the README's Downloads table) in weights/, or pass "
                        "--objectness CKPT --existence CKPT")
    return replace(cfg, objectness=picked[0], existence=picked[1])


def with_detector_files(cfg: DiscoverConfig) -> DiscoverConfig:
    """`cfg` with the detector's config defaulting to the `config.yaml` next to its weights; DataError for
    a missing file."""
    if not cfg.detector:
        return cfg
    if not Path(cfg.detector).is_file():
        raise DataError(f"detector weights {cfg.detector} not found (cad/train_net.py writes "
                        "OUTPUT_DIR/model_final.pth)")
    config = cfg.detector_config or str(Path(cfg.detector).parent / "config.yaml")
    if not Path(config).is_file():
        raise DataError(f"detector config {config} not found: pass --detector_config (the YAML the detector "
                        "was trained with)")
    return replace(cfg, detector_config=config)


def expand_images(inputs: list[str]) -> list[ImageRecord]:
    """Files, folders (their image files, sorted) and glob patterns -> records in input order, each path once.

    The id (and overlay name) is the file stem, with `-2`, `-3` ... for later images of the same stem. A
    named file that does not exist stays in the list (it is reported as failed with the others).
    """
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS)
        elif glob.has_magic(item):
            found = sorted(Path(m) for m in glob.glob(item) if Path(m).is_file())
        else:
            found = [p]
        if not found:
            logger.warning("%s: no image files", item)
        paths.extend(found)
    records, seen, stems = [], set(), {}
    for p in paths:
        key = p.resolve()
        if key in seen:
            continue
        seen.add(key)
        n = stems[p.stem] = stems.get(p.stem, 0) + 1
        records.append(ImageRecord(p.stem if n == 1 else f"{p.stem}-{n}", p))
    if not records:
        raise DataError(f"no images in {' '.join(inputs)}")
    return records


class RetryingResults(ShardedResults):
    """Shard results whose failed images count as missing, so that a rerun tries them again."""

    def missing(self, images: list[ImageRecord]) -> list[ImageRecord]:
        ok = {k for k, r in self.records().items() if "error" not in r}
        return [r for r in images if r.key not in ok]


def check_same_files(results: ShardedResults, records: list[ImageRecord]) -> None:
    """DataError when `--out` holds finished results of another file under one of these images' names."""
    done = results.records()
    for rec in records:
        old = done.get(rec.key, {}).get("file_name")
        if old is not None and old != str(rec.path.resolve()):
            raise DataError(f"the output folder holds results for {old} under the name {rec.key}, not for "
                            f"{rec.path}: choose another --out or pass --overwrite")


def discover_process(predictor: CountingPredictor, reasoner: Reasoner, scoring: ScoringConfig,
                     selection: PseudoLabelThresholds, detector: DetectorPredictor | None,
                     detector_threshold: float, out_dir: Path, device: torch.device) -> Process:
    """Per image: scored discoveries, which pass the thresholds, detections, the overlay, the network crops
    and the timings (wall seconds per part, and the process's CPU seconds)."""
    from cad.evaluation import instances_to_coco_results

    def process(rec: ImageRecord, image_u8: torch.Tensor) -> dict:
        t0, cpu0, before = time.perf_counter(), time.process_time(), predictor.snapshot()
        image = image_float(image_u8, device)
        found = reasoner.discover(image, rec.key)
        t1 = time.perf_counter()
        anns, masks = score_boxes(predictor, image, found.boxes, rec.key, scoring)
        t2 = time.perf_counter()
        pixels = image_u8.permute(1, 2, 0).numpy()
        kept = [i for i, a in enumerate(anns) if selection.passes(a)]
        panels = [(f"unMORE: {len(kept)} objects ({len(anns)} discoveries)",
                   [xywh_to_xyxy(anns[i]["bbox"]) for i in kept], masks[kept],
                   [f"{anns[i]['score']:.2f}" for i in kept])]
        detections: list[dict] = []
        if detector is not None:
            inst = detector(pixels, rec.key, str(rec.path))
            inst = inst[inst.scores >= detector_threshold]
            detections = instances_to_coco_results(inst, rec.key, inst.has("pred_masks"))
            det_masks = (np.stack([rle_to_mask(d["segmentation"], *pixels.shape[:2]) for d in detections])
                         if detections and "segmentation" in detections[0] else None)
            panels.append((f"detector: {len(detections)} objects",
                           [xywh_to_xyxy(d["bbox"]) for d in detections], det_masks,
                           [f"{d['score']:.2f}" for d in detections]))
        t3 = time.perf_counter()
        save_panels(out_dir / OVERLAYS / f"{rec.key}.png", pixels, panels)
        seconds = {"reasoning": t1 - t0, "scoring": t2 - t1, **({"detector": t3 - t2} if detector else {}),
                   "drawing": time.perf_counter() - t3}
        crops = predictor.since(before)["evaluations"]
        return {"file_name": str(rec.path.resolve()), "height": int(pixels.shape[0]),
                "width": int(pixels.shape[1]), "results": anns, "kept": kept, "detections": detections,
                "seconds": seconds, "cpu_seconds": time.process_time() - cpu0, "network_crops": crops}

    return process


def write_index(path: Path, records: list[ImageRecord], done: dict[str, dict], title: str, lines: list[str],
                detector: bool) -> None:
    """A static page (no external files besides the overlays): every image's overlay and counts, failures
    with their reason."""
    rows = []
    for rec in records:
        r = done.get(rec.key)
        name = html.escape(str(rec.path))
        if r is None or "error" in r:
            reason = html.escape(r["error"] if r else "not processed")
            rows.append(f'<div class="img failed"><h3>{name}</h3><p>failed: {reason}</p></div>')
            continue
        counts = f"{len(r['kept'])} objects kept of {len(r['results'])} discoveries"
        if detector:
            counts += f"; detector: {len(r['detections'])}"
        src = f"{OVERLAYS}/{quote(rec.key)}.png"
        img = f'<img src="{src}" alt="{html.escape(rec.key)}" loading="lazy">'
        rows.append(f'<div class="img"><h3>{name}</h3><p>{counts}</p><a href="{src}">{img}</a></div>')
    head = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:1em}.img{margin:1em 0}img{max-width:100%}"
            "h3{margin:.2em 0;font-size:1em}.failed{color:#a00}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{head}\n" + "\n".join(rows) + "\n</body></html>\n")
    atomic_write_bytes(path, page.encode())


def discover_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Discover the objects of any images with unMORE (reasoning, scoring and the pseudo-label "
        "thresholds in one process) and write a page of overlays.")
    add_arguments(p, DiscoverInputs)
    titles = (NETWORKS, DETECTOR, EXECUTION, THRESHOLDS, THRESHOLDS_GROUP, DEVIATIONS_GROUP)
    groups = {t: p.add_argument_group(t) for t in titles}
    add_original_switch(groups[DEVIATIONS_GROUP])
    add_arguments(p, DiscoverConfig, groups)
    add_arguments(p, PredictorConfig, groups, skip=("objectness_resume", "binary_classifier_resume"))
    add_arguments(p, JobConfig, groups, skip=UNUSED_JOB_FIELDS)
    add_arguments(p, ReasoningConfig, groups)
    add_arguments(p, ScoringConfig, groups)
    add_arguments(p, PseudoLabelThresholds, groups)
    return p


def load_detector(cfg: DiscoverConfig, device: torch.device) -> DetectorPredictor | None:
    """The detector of `cfg.detector` (with `cfg.detector_config`) on `device`; None without one."""
    if not cfg.detector:
        return None
    from cad.engine.predictor import DetectorPredictor, detector_config

    try:
        dcfg = detector_config(cfg.detector_config, ["MODEL.WEIGHTS", cfg.detector, "MODEL.DEVICE",
                                                     str(device)])
    except KeyError as e:
        raise DataError(f"detector config {cfg.detector_config}: {e}") from None
    return DetectorPredictor(dcfg, device)


@reports_errors(DataError, FileNotFoundError, ValueError)
def main(argv: list[str] | None = None) -> int:
    args = discover_parser().parse_args(argv)
    inputs = from_namespace(DiscoverInputs, args)
    out_dir = Path(inputs.output_dir)
    job = from_namespace(JobConfig, args, output_dir=str(out_dir))
    networks = from_namespace(PredictorConfig, args)
    cfg = default_networks(from_namespace(DiscoverConfig, args), bool(networks.oracle_annotations))
    cfg = with_detector_files(cfg)
    networks = replace(networks, objectness_resume=cfg.objectness, binary_classifier_resume=cfg.existence)
    reasoning, scoring = from_namespace(ReasoningConfig, args), from_namespace(ScoringConfig, args)
    selection = from_namespace(PseudoLabelThresholds, args)
    records = expand_images(inputs.images)
    run = Run.start(job, "discover")
    results = run.results(out_dir, "discover")
    detector_files = {"detector": file_identity(cfg.detector),
                      "detector_config": file_identity(cfg.detector_config)}
    settings = {**networks.settings(), **cli_values(reasoning), **cli_values(scoring),
                **cli_values(selection), **detector_files, "detector_threshold": cfg.detector_threshold,
                "original_behaviour": args.original_behaviour}
    flags = command_line(job, cfg, networks, reasoning, scoring, selection,
                         original_behaviour=args.original_behaviour)
    run.prepare(results, settings, (DISCOVERIES, SELECTED, DETECTIONS, FAILED_NAME, INDEX),
                "configs_discover.json", {"images": inputs.images, **flags})
    check_same_files(results, records)
    predictor = build_predictor(networks, run.device, job.batch_size)
    detector = load_detector(cfg, run.device)
    predictor = CountingPredictor(predictor)
    process = discover_process(predictor, Reasoner(predictor, reasoning), scoring, selection, detector,
                               cfg.detector_threshold, out_dir, run.device)
    run.process(records, RetryingResults(out_dir, "discover"), process, "discover")
    run.finish(results, records, lambda ok: [a for r in ok for a in r["results"]], DISCOVERIES)
    done = results.records()
    ok = [done[r.key] for r in records if r.key in done and "error" not in done[r.key]]
    images = [{"id": r["image_id"], "file_name": r["file_name"], "height": r["height"], "width": r["width"]}
              for r in ok]
    selected = select_pseudo_labels([a for r in ok for a in r["results"]], {"images": images},
                                    selection.existence_score_thres, selection.center_score_thres,
                                    selection.boundary_score_thres, source=str(out_dir / DISCOVERIES))
    atomic_write_json(out_dir / SELECTED, selected)
    if detector is not None:
        atomic_write_json(out_dir / DETECTIONS, [d for r in ok for d in r["detections"]])
    lines = summary_lines(records, ok, done, selected, run.device, out_dir)
    fields = (f"ground-truth fields of {networks.oracle_annotations}" if networks.oracle_annotations else
              f"networks {cfg.objectness} and {cfg.existence}")
    about = [f"{fields}; kept: existence >= {selection.existence_score_thres}, center >= "
             f"{selection.center_score_thres}, boundary >= {selection.boundary_score_thres}"
             + (f"; detector {cfg.detector} (score >= {cfg.detector_threshold})" if detector else "")]
    write_index(out_dir / INDEX, records, done, f"unMORE discoveries: {len(records)} images", about + lines,
                detector is not None)
    for line in lines:
        print(line)
    print(f"page: {out_dir / INDEX}")
    return 0


def summary_lines(records: list[ImageRecord], ok: list[dict], done: dict[str, dict], selected: dict,
                  device: torch.device, out_dir: Path) -> list[str]:
    """Counts, failures and the mean seconds per image of each part (over the finished images)."""
    failed = [r for r in records if "error" in done.get(r.key, {"error": ""})]
    n_found = sum(len(r["results"]) for r in ok)
    lines = [f"{len(ok)} images done, {len(failed)} failed"
             + (f" (reasons in {out_dir / FAILED_NAME})" if failed else "")
             + f"; {n_found} discoveries, {len(selected['annotations'])} kept by the thresholds"]
    if ok:
        parts = {k: float(np.mean([r["seconds"][k] for r in ok])) for k in ok[0]["seconds"]}
        detail = ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
        cpu = float(np.mean([r["cpu_seconds"] for r in ok]))
        crops = {k: float(np.mean([r["network_crops"].get(k, 0) for r in ok]))
                 for k in ("existence", "objectness")}
        lines.append(f"time per image on {device}: {sum(parts.values()):.2f} s ({detail}); CPU time "
                     f"{cpu:.2f} s; network crops per image: {crops['existence']:.0f} existence, "
                     f"{crops['objectness']:.0f} objectness")
    return lines
