"""Reasoning/scoring jobs refuse stale or mixed results and bad inputs with one clear line (issue 11)."""

import dataclasses
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import reasoning.cli as cli
from datasets.synthetic import make_scene_dataset
from reasoning.algorithm import ReasoningConfig
from reasoning.jobs import ReasoningJob, ScoringJob
from reasoning.networks import PredictorConfig
from reasoning.scoring import ScoringConfig
from utils.cli import run_cli
from utils.io import DataError, ImageTooLarge, load_image_rgb

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rel_scenes")
    make_scene_dataset(root, "val", 2, 80, seed=3, layout="mixed", max_objects=2)
    return root / "val", root / "annotations" / "val_cls_agnostic.json"


def _args(image_dir, ann, out, *extra):
    return ["--image_dir", str(image_dir), "--annotations", str(ann), "--oracle_annotations", str(ann),
            "--output_dir", str(out), "--num_workers", "0", "--device", "cpu", "--n_round", "5", *extra]


def test_rerun_with_other_settings_refuses_and_overwrite_recomputes(data, tmp_path):
    out = tmp_path / "out"
    cli.main_reasoning(_args(*data, out))
    with pytest.raises(DataError, match=r"other settings \(max_sdf_thres: 0.5 -> 0.95, n_round: 5 -> 3\)"):
        cli.main_reasoning(_args(*data, out, "--max_sdf_thres", "0.95", "--n_round", "3"))
    # execution flags are not settings: the same settings resume (nothing left to do)
    assert cli.main_reasoning(_args(*data, out, "--num_workers", "1")).is_file()
    path = cli.main_reasoning(_args(*data, out, "--max_sdf_thres", "0.95", "--overwrite"))
    fresh = cli.main_reasoning(_args(*data, tmp_path / "fresh", "--max_sdf_thres", "0.95"))
    assert path.read_bytes() == fresh.read_bytes()
    saved = json.loads((out / "discovery_shards" / "settings.json").read_text())
    assert saved["max_sdf_thres"] == 0.95 and saved["oracle_annotations"]["size"] == data[1].stat().st_size


def test_other_network_or_oracle_file_refuses(data, tmp_path):
    gt = tmp_path / "gt.json"
    shutil.copy(data[1], gt)
    out = tmp_path / "out"
    cli.main_reasoning(_args(data[0], gt, out))
    content = json.loads(gt.read_text())
    content["annotations"] = content["annotations"][:1]
    gt.write_text(json.dumps(content))
    with pytest.raises(DataError, match="oracle_annotations"):
        cli.main_reasoning(_args(data[0], gt, out))


def test_results_without_settings_record_refuse(data, tmp_path):
    out = tmp_path / "out"
    cli.main_reasoning(_args(*data, out))
    (out / "discovery_shards" / "settings.json").unlink()
    with pytest.raises(DataError, match="without a record of their settings"):
        cli.main_reasoning(_args(*data, out))


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height but holds no pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def test_image_size_limit_is_checked_from_the_header(tmp_path):
    huge = tmp_path / "huge.png"
    _png_header_only(huge, 8000, 6000)
    expected = r"8000x6000 \(48,000,000 pixels\), above the limit of 16,777,216 pixels"
    with pytest.raises(ImageTooLarge, match=expected):
        load_image_rgb(huge)  # the default of every loader (stage 1, detector, demo, SAM masks)
    with pytest.raises(DataError, match="cannot decode"):  # no limit: it gets to decoding (no pixels here)
        load_image_rgb(huge, max_pixels=None)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(small)
    assert load_image_rgb(small, max_pixels=600).shape == (20, 30, 3)
    with pytest.raises(ImageTooLarge, match="--max_image_pixels"):
        load_image_rgb(small, max_pixels=599)


def test_too_large_and_wrong_size_images_are_counted_skips(data, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    first, second = sorted(data[0].iterdir())
    shutil.copy(first, folder / "1.jpg")  # stems are the oracle GT's image ids
    with Image.open(second) as im:  # GT masks are for the original size: an error, never a silent resize
        im.resize((im.width - 1, im.height)).save(folder / "2.png")
    out = tmp_path / "out"
    n_pixels = 80 * 80
    path = cli.main_reasoning(["--image_dir", str(folder), "--oracle_annotations", str(data[1]),
                               "--output_dir", str(out), "--num_workers", "0", "--n_round", "5",
                               "--max_image_pixels", str(n_pixels)])
    failed = json.loads((out / "failed_images.json").read_text())
    assert list(failed) == ["2"] and "in the ground truth but 79x80 on disk" in failed["2"]
    assert list(json.loads(path.read_text())) == ["1"]
    with pytest.raises(DataError, match="all 2 images failed"):
        cli.main_reasoning(["--image_dir", str(folder), "--oracle_annotations", str(data[1]),
                            "--output_dir", str(tmp_path / "out2"), "--num_workers", "0", "--n_round", "5",
                            "--max_image_pixels", str(n_pixels - 1)])
    failed = json.loads((tmp_path / "out2" / "failed_images.json").read_text())
    assert "above the limit" in failed["1"]
    # scoring writes its own failure list next to reasoning's and removes it once nothing fails
    scoring = ["--image_dir", str(folder), "--oracle_annotations", str(data[1]), "--raw_annotations_path",
               str(path), "--num_workers", "0"]
    with pytest.raises(DataError, match="failed_images_scoring.json"):
        cli.main_scoring([*scoring, "--max_image_pixels", str(n_pixels - 1)])
    assert "above the limit" in json.loads((out / "failed_images_scoring.json").read_text())["1"]
    assert list(json.loads((out / "failed_images.json").read_text())) == ["2"]
    cli.main_scoring([*scoring, "--max_image_pixels", str(n_pixels), "--overwrite"])
    assert not (out / "failed_images_scoring.json").exists()
    assert list(json.loads((out / "failed_images.json").read_text())) == ["2"]


def test_missing_or_empty_image_dir_is_an_error(data, tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        cli.main_reasoning(_args(tmp_path / "nope", data[1], tmp_path / "o"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images to process"):
        cli.main_reasoning(["--image_dir", str(tmp_path / "empty"), "--oracle_annotations", str(data[1]),
                            "--output_dir", str(tmp_path / "o")])


def test_cli_exits_non_zero_with_one_line(data, tmp_path, capsys):
    """object_scoring.py is `run_cli(main_scoring)`: an expected error is one line and exit status 2."""
    argv = ["--image_dir", str(tmp_path / "nope"), "--oracle_annotations", str(data[1]),
            "--raw_annotations_path", str(data[1]), "--output_dir", str(tmp_path)]
    with pytest.raises(SystemExit) as e:
        run_cli(lambda: cli.main_scoring(argv))
    assert e.value.code == 2
    expected = f"error: --image_dir {tmp_path / 'nope'} is not a folder"
    assert capsys.readouterr().err.strip().splitlines() == [expected]


def test_missing_checkpoints_are_one_clear_error(data, tmp_path):
    with pytest.raises(ValueError, match="give --objectness_resume and --binary_classifier_resume"):
        cli.main_reasoning(["--image_dir", str(data[0]), "--annotations", str(data[1]), "--output_dir",
                            str(tmp_path), "--num_workers", "0", "--device", "cpu"])


def test_every_flag_is_one_config_field():
    """Flags come only from the typed configs: one field each, nothing defined twice."""
    for parser, configs in ((cli.reasoning_parser(), (PredictorConfig, ReasoningJob, ReasoningConfig)),
                            (cli.scoring_parser(), (PredictorConfig, ScoringJob, ScoringConfig))):
        flags = [a.dest for a in parser._actions if a.dest not in ("help", "original_behaviour")]
        fields = [f.name for c in configs for f in dataclasses.fields(c) if f.metadata["cli"]]
        assert sorted(flags) == sorted(fields) and len(set(fields)) == len(fields)
