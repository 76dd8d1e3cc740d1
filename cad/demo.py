"""Run the class-agnostic detector on images: overlay pictures and a COCO results JSON.

    python cad/demo.py --config-file cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml \
        --input 'imgs/*.jpg' --output out/ --confidence-threshold 0.35 \
        --opts MODEL.WEIGHTS weights/unMORE_model.pth

CutLER's demo command line: `--opts KEY VALUE ...` (or the pairs at the end without `--opts`), `--input` paths
or glob patterns, `--output` folder, `--confidence-threshold` (default `cad.config.DEMO_SCORE_THRESHOLD`, the
test-time score threshold of the ROI heads). Without CUDA the model runs on the CPU (one warning) and SyncBN
becomes BN, as in CutLER.

Writes ``out/<image stem>.jpg`` (masks, boxes and scores drawn on the image) and
``out/coco_instances_results.json`` (COCO results: ``image_id`` = image stem, bbox xywh, RLE segmentation,
score, ``file_name``). Results are also appended per image to ``out/results.jsonl``; a re-run skips the images
already there. Unreadable images are skipped with a counted warning.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import re
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

import torch  # noqa: E402

from cad.cli_configs import DemoConfig  # noqa: E402
from utils.cli import CliError, input_errors, reports_errors, run_cli  # noqa: E402
from utils.config import parse_config  # noqa: E402
from utils.io import DataError, JsonlWriter, atomic_write_json, load_json, read_jsonl  # noqa: E402
from utils.resume import SETTINGS_NAME, file_identity  # noqa: E402

logger = logging.getLogger("cad.demo")

_CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)*")


def parse_args(argv: list[str] | None = None) -> DemoConfig:
    """The demo's config; `opts` gathers the `--opts` pairs, the trailing ones, and those `--input` took."""
    args = parse_config(DemoConfig, argv, "Detect objects (class-agnostic) in images and draw them.")
    opts, inputs = list(args.opts or []) + list(args.opts_flag), list(args.input)
    # `--input a.jpg MODEL.WEIGHTS w.pth`: the trailing KEY VALUE pairs were swallowed by --input
    for i, item in enumerate(inputs):
        if _CONFIG_KEY.fullmatch(item) and not Path(item).exists():
            opts, inputs = inputs[i:] + opts, inputs[:i]
            break
    return dataclasses.replace(args, opts=opts, input=inputs)


def expand_inputs(patterns: list[str]) -> list[Path]:
    files: list[Path] = []
    for pat in patterns:
        matches = sorted(glob.glob(pat)) if glob.has_magic(pat) else [pat]
        if not matches:
            logger.warning(f"--input {pat!r} matches no file")
        files.extend(Path(m) for m in matches)
    seen, out = set(), []
    for f in files:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


def _check_settings(out_dir: Path, jsonl: Path, settings: dict, overwrite: bool) -> None:
    """Results in `out_dir` are resumed only when they were made with the same `settings` (weights identity,
    config, threshold, masks); otherwise refused, or discarded with `overwrite`."""
    saved_path = out_dir / SETTINGS_NAME
    saved = load_json(saved_path, "demo settings") if saved_path.is_file() else None
    if jsonl.exists() and saved != settings:
        if not overwrite:
            changed = sorted(k for k in settings if saved is None or saved.get(k) != settings[k])
            raise CliError(f"--output {out_dir} holds results of other settings ({', '.join(changed)}); "
                           "pass --overwrite to discard them, or another --output")
        jsonl.unlink()
    atomic_write_json(saved_path, settings)


@reports_errors(DataError)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cad.engine.defaults import resolve_model_device
    from cad.engine.predictor import DetectorPredictor, detector_config
    from cad.engine.visualize import draw_instances, save_image
    from cad.evaluation import instances_to_coco_results
    from utils.distributed import DistInfo
    from utils.io import load_image_rgb

    with input_errors(FileNotFoundError, KeyError, ValueError):
        device_opts = ["MODEL.DEVICE", args.device] if args.device else []
        cfg = detector_config(args.config_file, [*(args.opts or []), *device_opts],
                              score_thresh=args.confidence_threshold, cpu_fallback=True)
    files = expand_inputs(args.input)
    if not files:
        raise CliError("no input images")
    with input_errors(RuntimeError):  # CUDA requested but not available
        device = resolve_model_device(cfg, DistInfo())
    if not str(cfg.MODEL.WEIGHTS):
        raise CliError("the demo needs MODEL.WEIGHTS (a trained detector; empty would run a random network)")
    with input_errors(FileNotFoundError, DataError):
        predictor = DetectorPredictor(cfg, device)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl = out_dir / "results.jsonl"
    with_masks = bool(cfg.MODEL.MASK_ON) and not args.no_masks
    _check_settings(out_dir, jsonl, {"weights": file_identity(cfg.MODEL.WEIGHTS), "config": cfg.dump(),
                                     "confidence_threshold": args.confidence_threshold, "masks": with_masks},
                    args.overwrite)
    done = {r["file_name"]: r for r in read_jsonl(jsonl)}
    bad = 0
    with JsonlWriter(jsonl) as writer, torch.no_grad():
        for path in files:
            if str(path) in done:
                continue
            try:
                image = load_image_rgb(path, exif_transpose=True)
            except DataError as e:
                bad += 1
                logger.warning(f"skipping {path}: {e} ({bad} skipped so far)")
                continue
            inst = predictor(image, path.stem, str(path))
            inst = inst[inst.scores >= args.confidence_threshold]
            results = instances_to_coco_results(inst, path.stem, with_masks)
            for r in results:
                r["file_name"] = str(path)
            boxes = inst.pred_boxes.tensor.cpu().numpy()
            masks = inst.pred_masks.cpu().numpy() if with_masks and inst.has("pred_masks") else None
            overlay = draw_instances(image, boxes, masks, inst.scores.cpu().numpy())
            save_image(out_dir / f"{path.stem}.jpg", overlay)
            rec = {"file_name": str(path), "results": results}
            writer.write(rec)
            done[str(path)] = rec
            logger.info(f"{path}: {len(results)} detections")
    if bad == len(files):
        raise CliError(f"none of the {len(files)} input images could be read (see the warnings above)")
    all_results = [r for f in files if str(f) in done for r in done[str(f)]["results"]]
    atomic_write_json(out_dir / "coco_instances_results.json", all_results)
    logger.info(f"wrote {len(all_results)} detections for {len(files) - bad} images to {out_dir}")
    return 0


if __name__ == "__main__":
    run_cli(main)
