"""Stage-1 training stops with one line when no sample is usable, instead of looping forever (issue 11)."""

import shlex
import time

import pytest

import train_objectness_net
from datasets.synthetic import make_single_object_dataset
from training.objectness.trainer import MAX_CONSECUTIVE_SKIPPED

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is as fast


def test_empty_mask_root_stops_within_seconds_with_the_reason(tmp_path, capsys):
    root = tmp_path / "imagenet"
    make_single_object_dataset(root, num_classes=1, images_per_class=4, image_size=32, seed=0)
    empty = tmp_path / "empty_masks"
    empty.mkdir()
    argv = shlex.split(f"--train_center_and_boundary --imagenet_root {root} --mask_root {empty} "
                       f"--output_dir {tmp_path / 'o'} --backbone_type resnet18 --image_size 32 "
                       "--num_workers 0 --no_progress --batch_size 4 --max_iters 5")
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        train_objectness_net.main(argv)
    assert e.value.code == 2 and time.perf_counter() - t0 < 60
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {MAX_CONSECUTIVE_SKIPPED} samples in a row were unusable")
    assert f"--mask_root {empty}" in err[0] and f"({MAX_CONSECUTIVE_SKIPPED} files skipped)" in err[0]
