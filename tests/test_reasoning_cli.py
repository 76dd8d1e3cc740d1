"""object_reasoning.py / object_scoring.py on tiny data: networks, oracle, resume, shards, errors."""

import json

import pytest
import torch

import reasoning.cli as cli
from COCO_evaluator.evaluate import evaluate_class_agnostic
from datasets.synthetic import make_scene_dataset
from reasoning.algorithm import Reasoner
from utils.io import DataError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_scenes")
    make_scene_dataset(root, "val", 4, 96, seed=5, layout="mixed", max_objects=3)
    return root / "val", root / "annotations" / "val_cls_agnostic.json"


def _oracle_args(data, out, *extra):
    image_dir, ann = data
    return ["--image_dir", str(image_dir), "--annotations", str(ann), "--oracle_annotations", str(ann),
            "--output_dir", str(out), "--num_workers", "0", "--device", "cpu", *extra]


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    path = cli.main_reasoning(_oracle_args(data, out, "--analyze_cc"))
    return path, path.read_bytes()


def test_reasoning_writes_discoveries_and_scoring_evaluates(data, uninterrupted, tmp_path):
    path, raw = uninterrupted
    found = json.loads(raw)
    assert sorted(found) == ["1", "2", "3", "4"]
    assert all(len(b) == 4 for boxes in found.values() for b in boxes)
    stats = json.loads((path.parent / "reasoning_stats.json").read_text())
    assert stats["images"] == 4 and stats["network_evaluations_per_image"] > 0
    scored = cli.main_scoring(_oracle_args(data, tmp_path, "--raw_annotations_path", str(path)))
    results = json.loads(scored.read_text())
    keys = {"score", "existence_score", "center_score", "boundary_score", "area_score", "segmentation"}
    assert keys <= set(results[0])
    assert evaluate_class_agnostic(str(data[1]), results)["bbox"]["AP50"] >= 80


def test_resume_after_kill_gives_identical_json(data, uninterrupted, tmp_path, monkeypatch):
    calls = []
    original = Reasoner.discover

    def dying(self, image, image_id=None):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the job is killed while working on the third image
        calls.append(image_id)
        return original(self, image, image_id)

    monkeypatch.setattr(Reasoner, "discover", dying)
    with pytest.raises(KeyboardInterrupt):
        cli.main_reasoning(_oracle_args(data, tmp_path, "--analyze_cc"))
    assert not (tmp_path / "discovery_results.json").exists()
    lines = (tmp_path / "discovery_shards").glob("*.jsonl")
    assert sum(len(p.read_text().splitlines()) for p in lines) == 2

    shard = next((tmp_path / "discovery_shards").glob("*.jsonl"))
    with open(shard, "ab") as f:
        f.write(b'{"image_id": 3, "boxes": [[1.0, 2')  # the kill also cut a line short
    resumed = []

    def counting(self, image, image_id=None):
        resumed.append(image_id)
        return original(self, image, image_id)

    monkeypatch.setattr(Reasoner, "discover", counting)
    path = cli.main_reasoning(_oracle_args(data, tmp_path, "--analyze_cc"))
    assert sorted(resumed) == sorted(set([1, 2, 3, 4]) - set(calls))  # finished images are skipped
    assert path.read_bytes() == uninterrupted[1]


def test_two_shards_merge_to_the_single_shard_result(data, uninterrupted, tmp_path):
    # the first shard alone cannot merge: the other shard's images are missing
    assert cli.main_reasoning(_oracle_args(data, tmp_path, "--analyze_cc", "--shard", "0/2")) is None
    assert not (tmp_path / "discovery_results.json").exists()
    path = cli.main_reasoning(_oracle_args(data, tmp_path, "--analyze_cc", "--shard", "1/2"))
    assert path.read_bytes() == uninterrupted[1]
    (tmp_path / "discovery_results.json").unlink()
    merged = cli.main_reasoning(_oracle_args(data, tmp_path, "--analyze_cc", "--merge_only"))
    assert merged.read_bytes() == uninterrupted[1]


def test_bad_image_is_recorded_and_skipped(data, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    good = sorted(data[0].iterdir())[0]
    (folder / "1.jpg").write_bytes(good.read_bytes())  # file stem = image id 1 of the oracle GT
    (folder / "b_broken.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "out"
    path = cli.main_reasoning(["--image_dir", str(folder), "--oracle_annotations", str(data[1]),
                               "--output_dir", str(out), "--num_workers", "1", "--n_round", "5"])
    failed = json.loads((out / "failed_images.json").read_text())
    assert list(failed) == ["b_broken"] and "cannot decode" in failed["b_broken"]
    assert list(json.loads(path.read_text())) == ["1"]


def test_malformed_annotations_raise_one_clear_error(data, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        cli.main_reasoning(["--image_dir", str(data[0]), "--annotations", str(bad), "--oracle_annotations",
                            str(data[1]), "--output_dir", str(tmp_path / "o")])


def test_original_readme_commands_on_the_named_synthetic_split(tmp_path, monkeypatch):
    """Random resnet18 checkpoints; `--dataset synthetic`: the embedded synthetic data and default folders."""
    import dataclasses

    from models.checkpoint import save_checkpoint
    from models.objectness_net import RELEASED_OBJECTNESS, ExistenceNet, ObjectnessNet

    torch.manual_seed(0)
    obj, ex = tmp_path / "obj.pth", tmp_path / "ex.pth"
    arch = dataclasses.replace(RELEASED_OBJECTNESS, backbone_type="resnet18")  # as the flags below say
    save_checkpoint(obj, ObjectnessNet.from_config(arch), None, None, 0)
    save_checkpoint(ex, ExistenceNet(arch="resnet18"), None, None, 0)
    make_scene_dataset(tmp_path / "data" / "synthetic" / "scenes", "val", 2, 96, seed=1, max_objects=3)
    monkeypatch.chdir(tmp_path)
    common = ["--sdf_activation", "tanh", "--use_bg_sdf", "--objectness_resume", str(obj),
              "--binary_classifier_resume", str(ex), "--start_idx", "0", "--end_idx", "1",
              "--dataset", "synthetic"]
    path = cli.main_reasoning(common + ["--analyze_cc", "--n_round", "3", "--num_workers", "0",
                                        "--vis_dir", "vis", "--vis_gif"])
    assert path.resolve() == tmp_path / "results_reasoning" / "val_0_1" / "discovery_results.json"
    assert sorted(json.loads(path.read_text())) == ["1"]
    assert (tmp_path / "vis" / "1.png").exists() and (tmp_path / "vis" / "1_rounds.gif").exists()
    out = path.parent
    stats = [json.loads(line)["stats"] for p in (out / "discovery_shards").glob("*.jsonl")
             for line in p.read_text().splitlines()]
    assert all(s["evaluations"]["existence"] >= s["proposals"] for s in stats)
    scored = cli.main_scoring(common + ["--raw_annotations_path", str(path), "--num_workers", "0"])
    assert scored.resolve() == (out / "object_discovery_with_scores.json").resolve()
    assert isinstance(json.loads(scored.read_text()), list)
