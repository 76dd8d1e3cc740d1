"""Results of a per-image job: one JSON-lines file per shard, tied to its settings, resumable, merged
atomically into one file."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from reasoning.images import ImageRecord
from utils.io import DataError, JsonlWriter, atomic_write_json, load_json, read_jsonl_many
from utils.resume import SETTINGS_NAME, settings_difference


class ShardedResults:
    """Results of one job, one JSON-lines file per shard in `<output_dir>/<name>_shards/`.

    Every finished image (or recorded failure) is one flushed line; a restarted job skips every image
    found in any shard file, so resuming also works with a different number of shards.
    """

    def __init__(self, output_dir: str | os.PathLike, name: str, shard_index: int = 0, num_shards: int = 1):
        self.output_dir = Path(output_dir)
        self.shard_dir = self.output_dir / f"{name}_shards"
        self.path = self.shard_dir / f"shard_{shard_index:05d}_of_{num_shards:05d}.jsonl"

    def check_settings(self, settings: dict, overwrite: bool = False, outputs: Iterable[str] = ()) -> None:
        """Tie the partial results to the settings that produce them (`<name>_shards/settings.json`).

        Results made with other settings raise DataError naming the differences, so a resumed job never mixes
        them; with `overwrite` they are deleted (with the merged `outputs`) and the job starts fresh.
        """
        path = self.shard_dir / SETTINGS_NAME
        settings = json.loads(json.dumps(settings))  # the form it takes in the file (tuples -> lists)
        if overwrite:
            if self.shard_dir.is_dir():
                shutil.rmtree(self.shard_dir)
            for name in outputs:
                (self.output_dir / name).unlink(missing_ok=True)
        elif path.is_file():
            saved = load_json(path, "settings of the partial results")
            diff = settings_difference(saved, settings)
            if diff:
                raise DataError(f"{self.output_dir} holds results made with other settings ({diff}); pass "
                                "--overwrite to discard them or choose another --output_dir")
        elif self.shard_dir.is_dir() and any(self.shard_dir.glob("*.jsonl")):
            raise DataError(f"{self.output_dir} holds results without a record of their settings; pass "
                            "--overwrite to discard them or choose another --output_dir")
        if not path.is_file():
            atomic_write_json(path, settings, indent=1)

    def records(self) -> dict[str, dict]:
        """image key -> last record, over all shard files."""
        out: dict[str, dict] = {}
        if self.shard_dir.is_dir():
            for rec in read_jsonl_many(sorted(self.shard_dir.glob("*.jsonl"))):
                out[str(rec["image_id"])] = rec
        return out

    def writer(self) -> JsonlWriter:
        """Append to this shard's file (JsonlWriter drops a line cut short by a killed writer)."""
        return JsonlWriter(self.path)

    def missing(self, images: Iterable[ImageRecord]) -> list[ImageRecord]:
        done = self.records()
        return [r for r in images if r.key not in done]

    def merge(self, images: list[ImageRecord], combine: Callable[[list[dict]], object], out_name: str,
              errors_name: str = "failed_images.json") -> tuple[Path, int, int]:
        """Combine the records in image-list order and write `out_name` atomically.

        Returns (path, number of images merged, number of failed images). Failures go to `errors_name`
        (removed when none failed, so a list from an earlier run never outlives it).
        """
        done = self.records()
        ordered = [done[r.key] for r in images if r.key in done]
        ok = [rec for rec in ordered if "error" not in rec]
        failed = [rec for rec in ordered if "error" in rec]
        path = self.output_dir / out_name
        atomic_write_json(path, combine(ok))
        if failed:
            atomic_write_json(self.output_dir / errors_name, {str(r["image_id"]): r["error"] for r in failed},
                              indent=1)
        else:
            (self.output_dir / errors_name).unlink(missing_ok=True)
        return path, len(ok), len(failed)
