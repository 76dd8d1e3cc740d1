"""train_rmonet.py: one-line errors, and config keys that nothing reads are rejected (issue 11)."""

import glob

import pytest

import train_rmonet
from training.rmonet.config import load_config
from utils.cli import run_cli
from utils.io import DataError

CONFIG = "configs/rmonet/multi_dsprites_unet.yaml"


def _error_line(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        run_cli(lambda: train_rmonet.main(argv))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_every_shipped_config_is_accepted():
    configs = sorted(glob.glob("configs/rmonet/*.yaml"))
    assert len(configs) == 10
    for path in configs:
        load_config(path)


@pytest.mark.parametrize("override, message", [
    ("train.max_iter=1000", "unknown config key train.max_iter (did you mean max_iters?)"),
    ("trian.lr=1", "unknown config key trian (did you mean train?)"),
    ("model.rpn.nms_thresh=0.5", "unknown config key model.rpn.nms_thresh"),
    ("data.cache=x", "unknown config key data.cache (did you mean cache_dir?)"),
])
def test_set_rejects_keys_nothing_reads(capsys, override, message):
    assert message in _error_line(capsys, ["--config", CONFIG, "--set", override, "--device", "cpu"])


def test_detection_keys_on_a_monet_baseline_are_rejected():
    with pytest.raises(DataError, match=r"\(model.variant monet_fpn\): unknown config key model.rpn"):
        load_config("configs/rmonet/multi_dsprites_monet_fpn.yaml", ["model.rpn={score_thresh: 0.1}"])


def test_unknown_key_in_the_yaml_file_is_rejected(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  max_iter: 5\n")
    with pytest.raises(DataError, match=rf"config {cfg}: unknown config key train.max_iter"):
        load_config(cfg)


def test_bad_inputs_give_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    assert f"config {bad} is not valid YAML: expected ',' or ']', but got '<stream end>' (line 2)" \
        in _error_line(capsys, ["--config", str(bad)])
    assert f"config file not found: {tmp_path / 'no.yaml'}" in _error_line(
        capsys, ["--config", str(tmp_path / "no.yaml")])
    assert f"checkpoint not found: {tmp_path / 'c.pth'}" in _error_line(
        capsys, ["--eval", str(tmp_path / "c.pth")])
    tfrecord = ["--set", "data.source=tfrecord", "--set", f"data.tfrecord={tmp_path / 'x.tfr'}",
                "--set", f"data.cache_dir={tmp_path / 'cache'}"]
    line = _error_line(capsys, ["--config", CONFIG, "--device", "cpu", "--output_dir", str(tmp_path / "o"),
                                *tfrecord])
    assert str(tmp_path / "x.tfr") in line


def test_defaults_come_from_the_typed_config_and_round_trip():
    from losses.rmonet import LossConfig
    from models.rmonet.config import ModelConfig
    from training.rmonet.config import RMONetConfig, build_config, config_dict

    assert load_config(None) == RMONetConfig()
    cfg = load_config(CONFIG, ["loss.lambda=2.5", "model.rpn.score_thresh=0.4"])
    assert cfg.loss == LossConfig(lambda_=2.5) and cfg.model.rpn.score_thresh == 0.4
    saved = config_dict(cfg)
    assert saved["loss"]["lambda"] == 2.5 and "lambda_" not in saved["loss"]
    assert build_config(saved) == cfg
    with pytest.raises(DataError, match="unknown config key loss.lambda_"):
        load_config(None, ["loss.lambda_=1"])
    # R-MONet-only keys left at their defaults are accepted on a MONet baseline, changed ones are not.
    monet = "configs/rmonet/multi_dsprites_monet_fpn.yaml"
    assert load_config(monet, ["model.confine_masks=true"]).model.rpn == ModelConfig().rpn
    with pytest.raises(DataError, match=r"monet_fpn\): unknown config key model.confine_masks"):
        load_config(monet, ["model.confine_masks=false"])


def test_checkpoint_config_without_a_later_key_names_it():
    from training.rmonet.config import build_config, config_dict

    saved = config_dict(load_config(CONFIG))
    del saved["model"]["confine_masks"]
    with pytest.raises(DataError, match="model.confine_masks missing"):
        build_config(saved, saved=True)
    assert not build_config(saved, ["model.confine_masks=false"], saved=True).model.confine_masks
