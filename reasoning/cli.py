"""Command lines of `object_reasoning.py` and `object_scoring.py`: arguments and per-image loops."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from reasoning.algorithm import Reasoner, ReasoningConfig
from reasoning.oracle import OraclePredictor
from reasoning.predict import NetworkPredictor, Predictor
from reasoning.runner import ImageRecord, ShardedResults, file_identity, image_loader, list_images
from reasoning.scoring import ScoringConfig, score_boxes
from reasoning.vis import save_overlay, save_rounds_gif
from utils.deviations import Deviation, add_original_switch, resolve_deviations
from utils.device import device_for_rank
from utils.distributed import barrier, cleanup_distributed, init_distributed, parse_shard, shard_items
from utils.io import (
    DEFAULT_MAX_IMAGE_PIXELS,
    DataError,
    atomic_write_json,
    load_json,
    remove_stale_temp_files,
)
from utils.logging_utils import get_logger

DEFAULT_IMAGE_DIR = "data/synthetic/scenes/val"
DEFAULT_ANNOTATIONS = "data/synthetic/scenes/annotations/val_cls_agnostic.json"


# -- arguments ---------------------------------------------------------------------------------------------
def add_common_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("networks (stage-1 checkpoints) or the ground-truth oracle")
    g.add_argument("--objectness_resume", type=str, default=None, help="center/boundary network checkpoint")
    g.add_argument("--binary_classifier_resume", type=str, default=None, help="existence network checkpoint")
    g.add_argument("--backbone_type", type=str, default=None,
                   help="override the backbone stored in the checkpoint (released checkpoints: dpt_large)")
    g.add_argument("--sdf_activation", type=str, default=None,
                   help="override the checkpoint's sdf activation")
    g.add_argument("--use_bg_sdf", action="store_true", help="the boundary head was trained with bg sdf")
    g.add_argument("--oracle_annotations", type=str, default=None,
                   help="COCO GT JSON: compute fields and existence from its masks instead of the networks")
    g.add_argument("--oracle_sdf", choices=("dominant", "union"), default="dominant",
                   help="oracle boundary field of a crop: its dominant object only, or every object")
    g = p.add_argument_group("input images")
    g.add_argument("--image_dir", type=str, default=None,
                   help=f"folder of images (default {DEFAULT_IMAGE_DIR} with its annotations)")
    g.add_argument("--annotations", type=str, default=None,
                   help="COCO JSON whose `images` give the image list and ids (else ids are file stems)")
    g.add_argument("--start_idx", type=int, default=-1, help="first image (sorted by file name)")
    g.add_argument("--end_idx", type=int, default=-1, help="end image (exclusive); both -1 = all")
    g.add_argument("--max_image_pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS,
                   help="larger images are skipped (counted, with the reason) before they are decoded")
    g = p.add_argument_group("execution")
    g.add_argument("--output_dir", type=str, default=None)
    g.add_argument("--device", type=str, default=None, help="cpu, cuda, cuda:1 ... (default: cuda if any)")
    g.add_argument("--gpu_index", type=int, default=None, help="original flag: same as --device cuda:INDEX")
    g.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="autocast on CUDA")
    g.add_argument("--batch_size", type=int, default=256, help="crops per network call")
    g.add_argument("--crop_size", type=int, default=None,
                   help="side of the crops fed to the networks (default: the training crop size stored in "
                        "the objectness checkpoint, 128 for the released ones); the predicted fields are "
                        "resampled to the 128x128 grid on which the reasoning thresholds are defined")
    g.add_argument("--crop_mode", choices=("batched", "loop"), default=None, help=CROP_MODE.help(
        "batched: all crops in one roi_align call on the device; loop: slice + bilinear resize (no "
        "antialias) one crop at a time, the original code's exact crops."))
    g.add_argument("--num_workers", type=int, default=2, help="DataLoader workers decoding images ahead")
    g.add_argument("--shard", type=str, default=None, help="i/N: process every N-th image from the i-th")
    g.add_argument("--merge_only", action="store_true", help="only merge finished shard results")
    g.add_argument("--overwrite", action="store_true",
                   help="discard partial results in --output_dir (needed when they were made with other "
                        "settings or networks)")
    g.add_argument("--vis_dir", type=str, default=None, help="write an overlay PNG per image here")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--run_name", type=str, default=None)


def reasoning_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="unMORE stage 2: discover objects by multi-object reasoning.")
    add_common_args(p)
    g = p.add_argument_group("reasoning thresholds (defaults of the original code)")
    g.add_argument("--class_score_thres", type=float, default=0.1, help="existence score to keep a box")
    g.add_argument("--center_score_max_thres", type=float, default=0.009,
                   help="anti-center max to split")
    g.add_argument("--analyze_cc", action="store_true", help="add one box per connected component")
    g.add_argument("--max_sdf_thres", type=float, default=0.5,
                   help="drop boxes whose max sdf is not above")
    g.add_argument("--max_shrink_threshold", type=float, default=16,
                   help="converged: shrink <= this (crop px)")
    g.add_argument("--delta_ratio", type=float, default=0.5, help="step: expand x(1+r), shrink x(1-r)")
    g.add_argument("--n_round", type=int, default=50, help="boundary reasoning rounds")
    g.add_argument("--proposal_area_thres", type=float, default=50, help="drop boxes with area <= this")
    p.add_argument("--vis_gif", action="store_true", help="with --vis_dir: GIF of the boundary rounds")
    add_reasoning_deviation_args(p)
    return p


def scoring_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="unMORE stage 2: masks and scores for discovered boxes.")
    add_common_args(p)
    p.add_argument("--raw_annotations_path", type=str, required=True, help="discovery_results.json")
    p.add_argument("--nms_iou", type=float, default=0.5)
    add_scoring_deviation_args(p)
    return p


# -- deviations from the original code (issue 13): every flag, its default, the original value and why ----
CROP_MODE = Deviation(
    "crop_mode", "batched", "loop",
    "the same non-antialiased bilinear resize as the original (torchvision 0.14 tensor Resize), cut for all "
    "boxes in one roi_align call; identical for crops of at least 128 px per side, for smaller crops the "
    "outermost half pixel reads the image just outside the crop instead of repeating the crop's edge.")
REASONING_DEVIATIONS = (
    CROP_MODE,
    Deviation("reuse_predictions", True, False,
              "identical boxes (tested) with far fewer crops: a pixel box is predicted once per image and "
              "converged boxes are not predicted again."),
    Deviation("merge_duplicates", False, False),
    Deviation("cc_box_coords", "image", "crop",
              "the original leaves connected-component boxes in 128x128 crop coordinates (a bug: they land "
              "near the image's top-left corner)."),
    Deviation("nms_score", "boundary", "constant",
              "with a constant score the final NMS keeps whichever duplicate comes first; ranking by max "
              "sdf keeps the box the boundary field is surest of."),
)
SCORING_DEVIATIONS = (
    CROP_MODE,
    Deviation("paste_antialias", False, False),
    Deviation("keep_empty_masks", False, True,
              "a result with an empty mask has the box [0, 0, 0, 0] and only costs precision."),
)


def add_reasoning_deviation_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("deviations from the original code (--original_behaviour sets all back)")
    add_original_switch(g)
    d = {x.dest: x for x in REASONING_DEVIATIONS}
    g.add_argument("--reuse_predictions", action=argparse.BooleanOptionalAction, default=None,
                   help=d["reuse_predictions"].help("Never predict the same pixel box twice."))
    g.add_argument("--merge_duplicates", action=argparse.BooleanOptionalAction, default=None,
                   help=d["merge_duplicates"].help(
                       "Drop a moving box whose IoU with a converged box or an earlier moving box exceeds "
                       "--merge_iou (saves crops but can lose objects: a dropped box may have converged "
                       "elsewhere than the one kept)."))
    g.add_argument("--merge_iou", type=float, default=0.9, help="IoU above which boxes are duplicates")
    g.add_argument("--cc_box_coords", choices=("image", "crop"), default=None,
                   help=d["cc_box_coords"].help("Coordinates of the connected-component boxes."))
    g.add_argument("--nms_score", choices=("boundary", "constant"), default=None,
                   help=d["nms_score"].help("Ranking score of the final NMS."))


def add_scoring_deviation_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("deviations from the original code (--original_behaviour sets all back)")
    add_original_switch(g)
    d = {x.dest: x for x in SCORING_DEVIATIONS}
    g.add_argument("--paste_antialias", action=argparse.BooleanOptionalAction, default=None,
                   help=d["paste_antialias"].help(
                       "Antialias the bilinear resize that pastes a 128x128 crop mask into a smaller box."))
    g.add_argument("--keep_empty_masks", action=argparse.BooleanOptionalAction, default=None,
                   help=d["keep_empty_masks"].help("Keep results whose mask is empty."))
# -- end of the deviations block ---------------------------------------------------------------------------


# -- set-up --------------------------------------------------------------------------------------------------
def resolve_inputs(args) -> list[ImageRecord]:
    image_dir, annotations = args.image_dir, args.annotations
    if image_dir is None:
        image_dir = DEFAULT_IMAGE_DIR
        annotations = annotations or DEFAULT_ANNOTATIONS
        if not Path(image_dir).is_dir():
            raise DataError(f"default image folder {image_dir} not found: generate the synthetic data with "
                            "`python utils/make_synthetic_data.py --out data/synthetic --seed 0` "
                            "or pass --image_dir")
    if not Path(image_dir).is_dir():
        raise DataError(f"--image_dir {image_dir} is not a folder")
    records = list_images(image_dir, annotations, args.start_idx, args.end_idx)
    if not records:
        raise DataError(f"no images to process in {annotations or image_dir}"
                        + (f" (slice {args.start_idx}:{args.end_idx})" if args.start_idx != -1 else ""))
    return records


# Arguments that change how a job runs but not its results; every other argument is a setting that partial
# results are tied to (`ShardedResults.check_settings`), input files by their content identity.
EXECUTION_ARGS = frozenset({
    "output_dir", "device", "gpu_index", "batch_size", "num_workers", "shard", "merge_only", "overwrite",
    "vis_dir", "vis_gif", "run_name", "start_idx", "end_idx", "image_dir", "annotations", "max_image_pixels",
})
FILE_ARGS = ("objectness_resume", "binary_classifier_resume", "oracle_annotations", "raw_annotations_path")


def run_settings(args) -> dict:
    out = {k: v for k, v in vars(args).items() if k not in EXECUTION_ARGS}
    for k in FILE_ARGS:
        if k in out:
            out[k] = file_identity(out[k])
    return out


def check_settings(info, results: ShardedResults, args, outputs: tuple[str, ...]) -> None:
    """Refuse to resume partial results made with other settings (`--overwrite` starts fresh)."""
    settings = run_settings(args)
    if info.is_main:
        results.check_settings(settings, args.overwrite, outputs)
    barrier(info)
    if not info.is_main:
        results.check_settings(settings)


def build_predictor(args, device: torch.device) -> Predictor:
    if args.oracle_annotations:
        return OraclePredictor(args.oracle_annotations, device, sdf_mode=args.oracle_sdf)
    from models.checkpoint import (
        build_existence_net_from_checkpoint,
        crop_size_from_checkpoint,
        load_checkpoint,
        model_state_from_checkpoint,
        objectness_config_from_checkpoint,
    )
    from models.objectness_net import ObjectnessNet

    if not args.objectness_resume or not args.binary_classifier_resume:
        raise SystemExit("give --objectness_resume and --binary_classifier_resume (stage-1 checkpoints), "
                         "or --oracle_annotations GT.json to reason with ground-truth fields")
    ckpt = load_checkpoint(args.objectness_resume, "center_boundary_model")
    ex_ckpt = load_checkpoint(args.binary_classifier_resume, "existence_model")
    input_size = args.crop_size or crop_size_from_checkpoint(ckpt)
    if args.crop_size is None and crop_size_from_checkpoint(ex_ckpt) != input_size:
        raise DataError(f"the objectness network was trained on {input_size}px crops but the existence "
                        f"network on {crop_size_from_checkpoint(ex_ckpt)}px ones; pass --crop_size to "
                        "choose the size both are fed")
    cfg = objectness_config_from_checkpoint(ckpt)
    if args.backbone_type:
        cfg["backbone_type"] = args.backbone_type
    if args.sdf_activation:
        cfg["sdf_activation"] = args.sdf_activation
    if args.use_bg_sdf:
        cfg["use_bg_sdf"] = True
    objectness = ObjectnessNet(**cfg)
    objectness.load_state_dict(model_state_from_checkpoint(ckpt), strict=True)
    existence = build_existence_net_from_checkpoint(args.binary_classifier_resume, "cpu", ckpt=ex_ckpt)
    for net in (objectness, existence):
        net.requires_grad_(False)
    return NetworkPredictor(objectness, existence, device, args.batch_size, args.precision, args.crop_mode,
                            input_size=input_size)


def setup(args):
    torch.manual_seed(args.seed)
    info = init_distributed(args.device)
    flag = args.device or (f"cuda:{args.gpu_index}" if args.gpu_index is not None else None)
    device = device_for_rank(flag, info)
    shard_index, num_shards = parse_shard(args.shard, info)
    return info, device, shard_index, num_shards


def run_images(records: list[ImageRecord], results: ShardedResults, device: torch.device, num_workers: int,
               process, logger, desc: str, progress: bool = True,
               max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Process images not yet finished; one flushed JSON line per image. Returns (done, failed)."""
    todo = results.missing(records)
    logger.info("%d images in this shard, %d already finished, %d to do",
                len(records), len(records) - len(todo), len(todo))
    done = failed = 0
    if not todo:
        return 0, 0
    with results.writer() as writer:
        loader = image_loader(todo, num_workers, device, max_pixels)
        for item in tqdm(loader, total=len(todo), desc=desc, ncols=90, disable=not progress):
            rec = todo[item["index"]]
            if item["error"] is None:
                try:
                    writer.write({"image_id": rec.image_id, **process(rec, item["image"])})
                    done += 1
                    continue
                except DataError as e:
                    item["error"] = str(e)
            failed += 1
            logger.warning("skipping image %s: %s (%d failed so far)", rec.image_id, item["error"], failed)
            writer.write({"image_id": rec.image_id, "error": item["error"]})
    return done, failed


def finish(info, results: ShardedResults, all_records: list[ImageRecord], combine, out_name: str, logger,
           force: bool = False) -> Path | None:
    barrier(info)
    path, n_ok, n_failed = None, 0, 0
    if info.is_main:
        missing = results.missing(all_records)
        if missing and not force:
            logger.info("%d images of the split are not finished yet (other shards?): merge later with "
                        "--merge_only or by re-running", len(missing))
        else:
            if missing:
                logger.warning("merging with %d images still unfinished", len(missing))
            path, n_ok, n_failed = results.merge(all_records, combine, out_name)
            logger.info("wrote %s (%d images, %d failed)", path, n_ok, n_failed)
    cleanup_distributed()
    if path is not None and n_ok == 0 and n_failed:
        reasons = results.output_dir / "failed_images.json"
        raise DataError(f"all {n_failed} images failed (reasons in {reasons})")
    return path


def _image_float(image_u8: torch.Tensor, device: torch.device) -> torch.Tensor:
    return image_u8.to(device, non_blocking=True).float().div_(255.0)


# -- object_reasoning.py ----------------------------------------------------------------------------------
def reasoning_config(args) -> ReasoningConfig:
    return ReasoningConfig(
        class_score_thres=args.class_score_thres, center_score_max_thres=args.center_score_max_thres,
        analyze_cc=args.analyze_cc, max_sdf_thres=args.max_sdf_thres,
        max_shrink_threshold=args.max_shrink_threshold, delta_ratio=args.delta_ratio, n_round=args.n_round,
        proposal_area_thres=args.proposal_area_thres, reuse_predictions=args.reuse_predictions,
        merge_duplicates=args.merge_duplicates, merge_iou=args.merge_iou, cc_box_coords=args.cc_box_coords,
        nms_score=args.nms_score, record_trace=bool(args.vis_dir and args.vis_gif))


def combine_discoveries(records: list[dict]) -> dict:
    return {str(r["image_id"]): r["boxes"] for r in records}


def summarise_stats(records: list[dict]) -> dict:
    ok = [r["stats"] for r in records if "stats" in r]
    if not ok:
        return {"images": 0}
    evals = [s["network_evaluations"] for s in ok]
    secs = [s["seconds"] for s in ok]
    return {"images": len(ok), "network_evaluations_per_image": float(np.mean(evals)),
            "objectness_crops_per_image": float(np.mean([s["evaluations"].get("objectness", 0) for s in ok])),
            "existence_crops_per_image": float(np.mean([s["evaluations"].get("existence", 0) for s in ok])),
            "seconds_per_image": float(np.mean(secs)), "boxes_per_image": float(np.mean(
                [len(r["boxes"]) for r in records if "boxes" in r]))}


def main_reasoning(argv=None) -> Path | None:
    args = resolve_deviations(reasoning_parser().parse_args(argv), REASONING_DEVIATIONS)
    info, device, shard_index, num_shards = setup(args)
    logger = get_logger("object_reasoning", info.rank)
    all_records = resolve_inputs(args)
    if args.run_name is None:
        args.run_name = Path(args.image_dir or DEFAULT_IMAGE_DIR).name
        if args.oracle_annotations:
            args.run_name += "_oracle"
        if args.start_idx != -1 and args.end_idx != -1:
            args.run_name += f"_{args.start_idx}_{args.end_idx}"
    out_dir = Path(args.output_dir or Path("results_reasoning") / args.run_name)
    results = ShardedResults(out_dir, "discovery", shard_index, num_shards)
    logger.info("output folder %s (shard %d/%d)", out_dir, shard_index, num_shards)
    if args.merge_only:
        return finish(info, results, all_records, combine_discoveries, "discovery_results.json", logger,
                      force=True)
    remove_stale_temp_files(out_dir)
    check_settings(info, results, args, ("discovery_results.json", "failed_images.json",
                                         "reasoning_stats.json"))
    if info.is_main:
        atomic_write_json(out_dir / "configs_object_reasoning.json", vars(args), indent=2)
    predictor = build_predictor(args, device)
    reasoner = Reasoner(predictor, reasoning_config(args))
    vis_dir = Path(args.vis_dir) if args.vis_dir else None

    def process(rec: ImageRecord, image_u8: torch.Tensor) -> dict:
        d = reasoner.discover(_image_float(image_u8, device), rec.image_id)
        if vis_dir is not None:
            img = image_u8.permute(1, 2, 0).numpy()
            save_overlay(vis_dir / f"{rec.key}.png", img, d.boxes.numpy())
            if args.vis_gif:
                save_rounds_gif(vis_dir / f"{rec.key}_rounds.gif", img, d.trace, d.boxes.numpy())
        return {"boxes": d.boxes.tolist(), "boundary_scores": d.scores.tolist(), "stats": d.stats}

    t0 = time.perf_counter()
    done, failed = run_images(shard_items(all_records, shard_index, num_shards), results, device,
                              args.num_workers, process, logger, "object reasoning", info.is_main,
                              args.max_image_pixels)
    elapsed = time.perf_counter() - t0
    if done:
        logger.info("%d images in %.1f s (%.3f images/s); network evaluations %s", done, elapsed,
                    done / elapsed, dict(predictor.counts))
    path = finish(info, results, all_records, combine_discoveries, "discovery_results.json", logger)
    if path is not None:
        atomic_write_json(out_dir / "reasoning_stats.json", summarise_stats(list(results.records().values())),
                          indent=2)
    return path


# -- object_scoring.py ------------------------------------------------------------------------------------
def combine_scores(records: list[dict]) -> list:
    return [ann for r in records for ann in r["results"]]


def main_scoring(argv=None) -> Path | None:
    args = resolve_deviations(scoring_parser().parse_args(argv), SCORING_DEVIATIONS)
    info, device, shard_index, num_shards = setup(args)
    logger = get_logger("object_scoring", info.rank)
    raw = load_json(args.raw_annotations_path, "discovery results")
    if not isinstance(raw, dict):
        raise DataError(f"{args.raw_annotations_path}: expected {{image_id: [[x1, y1, x2, y2], ...]}}")
    all_records = [r for r in resolve_inputs(args) if r.key in raw]
    logger.info("%d images with discoveries (of %d in the results file)", len(all_records), len(raw))
    out_dir = Path(args.output_dir) if args.output_dir else Path(args.raw_annotations_path).resolve().parent
    results = ShardedResults(out_dir, "scoring", shard_index, num_shards)
    if args.merge_only:
        return finish(info, results, all_records, combine_scores, "object_discovery_with_scores.json", logger,
                      force=True)
    remove_stale_temp_files(out_dir)
    check_settings(info, results, args, ("object_discovery_with_scores.json",))
    if info.is_main:
        atomic_write_json(out_dir / "configs_object_scoring.json", vars(args), indent=2)
    predictor = build_predictor(args, device)
    cfg = ScoringConfig(nms_iou=args.nms_iou, keep_empty_masks=args.keep_empty_masks,
                        paste_antialias=args.paste_antialias)
    vis_dir = Path(args.vis_dir) if args.vis_dir else None

    def process(rec: ImageRecord, image_u8: torch.Tensor) -> dict:
        boxes = raw[rec.key]
        try:
            boxes = torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4)
        except (TypeError, ValueError, RuntimeError) as e:
            raise DataError(f"{args.raw_annotations_path}: boxes of image {rec.key} malformed: {e}") from e
        anns, masks = score_boxes(predictor, _image_float(image_u8, device), boxes, rec.image_id, cfg)
        if vis_dir is not None:
            tight = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                     for a in anns]
            save_overlay(vis_dir / f"{rec.key}_scored.png", image_u8.permute(1, 2, 0).numpy(), tight, masks)
        return {"results": anns}

    run_images(shard_items(all_records, shard_index, num_shards), results, device, args.num_workers, process,
               logger, "object scoring", info.is_main, args.max_image_pixels)
    return finish(info, results, all_records, combine_scores, "object_discovery_with_scores.json", logger)
