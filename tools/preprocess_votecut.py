"""VoteCut JSON -> per-image top-1 mask PNGs (largest 4-connected component) for stage-1 training.

    python tools/preprocess_votecut.py --votecut_json imagenet_train_votecut_kmax_3_tuam_0.2.json \\
        --out_dir ImageNet_Dataset

writes `<out_dir>/masks_top1_single_component/<wnid>/<name>.png` (0/255) for every image of the JSON: the
mask with the highest `weight`, reduced to its largest 4-connected component; an image without
annotations gets an empty mask. Existing PNGs are skipped (resume) unless --overwrite.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "_bootstrap.py"))  # repository root on sys.path

from tqdm import tqdm  # noqa: E402

from datasets.cli_configs import VoteCutPreprocessConfig  # noqa: E402
from datasets.votecut import VoteCutImage, load_votecut, mask_output_path, write_top1_mask  # noqa: E402
from utils.cli import input_errors, reports_errors, run_cli  # noqa: E402
from utils.config import from_namespace, typed_parser  # noqa: E402
from utils.distributed import parse_shard, shard_items  # noqa: E402
from utils.io import DataError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    return typed_parser(__doc__.split("\n")[0], VoteCutPreprocessConfig,
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)


_OUT_DIR: str = ""


def _init_worker(out_dir: str) -> None:
    global _OUT_DIR
    _OUT_DIR = out_dir


def _process(image: VoteCutImage) -> tuple[str, str]:
    """-> ("empty" | "written" | "failed", message). One bad image never stops the run."""
    try:
        return ("empty" if write_top1_mask(image, _OUT_DIR) else "written"), ""
    except Exception as e:  # noqa: BLE001 - counted and reported, the loop goes on
        return "failed", f"{image.file_name} (image id {image.image_id}): {type(e).__name__}: {e}"


@reports_errors()
def main(argv: list[str] | None = None) -> int:
    args = from_namespace(VoteCutPreprocessConfig, build_parser().parse_args(argv))
    log = logging.getLogger("preprocess_votecut")
    with input_errors(DataError, ValueError, code=1):
        shard_index, num_shards = parse_shard(args.shard)
        images = load_votecut(args.votecut_json)
    images = shard_items(images, shard_index, num_shards)
    todo = images if args.overwrite else [
        im for im in images if not mask_output_path(args.output_dir, im.file_name).is_file()]
    log.info("%d images in shard %d/%d, %d already done, %d to write", len(images), shard_index, num_shards,
             len(images) - len(todo), len(todo))
    counts = {"written": 0, "empty": 0, "failed": 0}
    failures: list[str] = []
    if args.num_workers > 0 and len(todo) > 1:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"  # fork: no re-import of torch
        with mp.get_context(method).Pool(args.num_workers, _init_worker, (args.output_dir,)) as pool:
            chunk = max(1, min(64, len(todo) // (4 * args.num_workers)))
            results = pool.imap_unordered(_process, todo, chunksize=chunk)
            for status, msg in tqdm(results, total=len(todo), ncols=90, desc="masks"):
                counts[status] += 1
                if msg:
                    failures.append(msg)
    else:
        _init_worker(args.output_dir)
        for im in tqdm(todo, ncols=90, desc="masks"):
            status, msg = _process(im)
            counts[status] += 1
            if msg:
                failures.append(msg)
    for msg in failures[:10]:
        log.warning("skipped %s", msg)
    log.info("wrote %d masks (%d empty), skipped %d existing, %d failed -> %s",
             counts["written"] + counts["empty"], counts["empty"], len(images) - len(todo), counts["failed"],
             Path(args.output_dir) / "masks_top1_single_component")
    return 0 if counts["failed"] == 0 or counts["written"] + counts["empty"] > 0 else 1


if __name__ == "__main__":
    run_cli(main)
