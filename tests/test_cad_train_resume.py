"""Detector: kill + --resume gives the uninterrupted run's weights exactly; a fixed SEED reproduces a run;
config keys that are not implemented are refused (issue 11)."""

import subprocess
import sys

import pytest
import torch

from datasets.synthetic import make_scene_dataset

TINY = "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"
# two train sizes, random flips, copy-paste and mixed orientations (pending aspect-ratio buckets)
RUN = ["INPUT.MIN_SIZE_TRAIN", "(48, 64)", "INPUT.MAX_SIZE_TRAIN", "96", "INPUT.MIN_SIZE_TEST", "64",
       "INPUT.MAX_SIZE_TEST", "96", "TEST.PRECISE_BN.NUM_ITER", "1", "SEED", "3", "DATASETS.TEST", "()",
       "SOLVER.MAX_ITER", "6", "SOLVER.CHECKPOINT_PERIOD", "3", "SOLVER.WARMUP_ITERS", "2"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cad_resume_data")
    make_scene_dataset(root / "synthetic" / "scenes", "train", 5, (72, 72), seed=2, max_objects=3,
                       size_jitter=0.3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DETECTRON2_DATASETS", str(root))
        yield root


def _train(out, *extra):
    from cad.train_net import cli

    cli(["--config-file", TINY, "--train-dataset", "synthetic_scenes_train", *extra, *RUN,
         "OUTPUT_DIR", str(out)])
    return torch.load(out / "model_final.pth", map_location="cpu", weights_only=True)


def _killed_writer_temp(directory, target: str):
    """A temp file of an atomic save whose writer is gone (the pid of a finished process on this host)."""
    from utils.io import _temp_prefix

    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    prefix = _temp_prefix(target).rsplit("~", 2)[0]
    path = directory / f"{prefix}~{done.pid}~k1ll.tmp"
    path.write_bytes(b"partial")
    return path


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_kill_and_resume_equals_the_uninterrupted_run_and_seed_reproduces(data_root, tmp_path, monkeypatch):
    from cad.engine.trainer import Trainer

    full = _train(tmp_path / "full")
    again = _train(tmp_path / "again")  # a fixed SEED reproduces the run
    assert _same_tensors(full["model"], again["model"])

    original = Trainer.train_step
    calls = []

    def killed(self, batch):
        if len(calls) == 5:
            raise KeyboardInterrupt  # killed during iteration 5, after the checkpoint of iteration 2
        calls.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", killed)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        _train(out)
    assert (out / "last_checkpoint").read_text() == "model_0000002.pth"
    ckpt = torch.load(out / "model_0000002.pth", map_location="cpu", weights_only=True)
    assert ckpt["trainer"]["seed"] == 3 and ckpt["trainer"]["ranks"][0]["data"]["next_position"] >= 6
    monkeypatch.setattr(Trainer, "train_step", original)
    leftover = _killed_writer_temp(out, "model_0000005.pth")  # what a kill -9 during a save leaves
    resumed = _train(out, "--resume")
    assert not leftover.exists() and not list(out.glob(".*.tmp"))
    assert resumed["iteration"] == full["iteration"] == 5
    assert _same_tensors(resumed["model"], full["model"])
    moments = [(s["momentum_buffer"], t["momentum_buffer"])
               for s, t in zip(resumed["optimizer"]["state"].values(), full["optimizer"]["state"].values())]
    assert moments and all(torch.equal(a, b) for a, b in moments)


def _leaf_keys(node, prefix=""):
    for k, v in node.items():
        if isinstance(v, dict):
            yield from _leaf_keys(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def _non_default(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "_x"
    if isinstance(value, list | tuple):
        return type(value)([*value, value[0] if value else 1])
    return 1


def test_non_default_values_of_keys_not_implemented_are_refused(capsys):
    from cad.config import check_implemented, get_cfg
    from cad.config.implemented import NOT_IMPLEMENTED
    from cad.train_net import cli

    for config in (TINY, "cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml"):
        cfg = get_cfg()
        cfg.merge_from_file(config)
        check_implemented(cfg)  # the shipped configs only use what is implemented
    for key in NOT_IMPLEMENTED:
        cfg = get_cfg()
        node = cfg
        for part in key.split(".")[:-1]:
            node = node[part]
        node[key.split(".")[-1]] = _non_default(node[key.split(".")[-1]])
        with pytest.raises(ValueError, match=rf"config key {key} = .* is not implemented"):
            check_implemented(cfg)
    with pytest.raises(SystemExit) as e:
        cli(["--config-file", TINY, "--eval-only", "TEST.AUG.ENABLED", "True"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: config key TEST.AUG.ENABLED = True is not implemented (test-time augmentation); "
                   "only its default False is accepted"]
    with pytest.raises(SystemExit):
        cli(["--config-file", TINY, "--eval-only", "TEST.AUG.ENABLE", "True"])
    assert "Non-existent config key: TEST.AUG.ENABLE" in capsys.readouterr().err
    from cad.demo import main as demo_main

    assert demo_main(["--config-file", TINY, "--input", "x.jpg", "--output", "o", "INPUT.CROP.ENABLED",
                      "True"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: config key INPUT.CROP.ENABLED = True is not implemented")


def test_every_config_key_is_read_by_the_detector_or_listed_as_not_implemented():
    """Keeps the rule through later changes: a new key must be implemented or listed in NOT_IMPLEMENTED."""
    import re
    from pathlib import Path

    from cad.config import get_cfg
    from cad.config.implemented import EQUIVALENT_VALUES, NOT_IMPLEMENTED

    sources = "\n".join(p.read_text() for p in Path("cad").rglob("*.py") if p.parent.name != "config")
    unread = [key for key in _leaf_keys(get_cfg())
              if key not in NOT_IMPLEMENTED and key not in EQUIVALENT_VALUES and key != "VERSION"
              and not re.search(rf"[.\"']{re.escape(key.split('.')[-1])}\b", sources)]
    assert unread == []
    assert not set(NOT_IMPLEMENTED) - set(_leaf_keys(get_cfg()))
