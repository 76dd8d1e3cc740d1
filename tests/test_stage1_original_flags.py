"""The original training script's flags: --gpu_index, --N_vis, --test_batch_size, --evaluate_every (validation
during training, eval_log.jsonl + TensorBoard), --eval_mode; --lr_scheduler_type exponential_lr and --ema_lr
refused with the reason."""

import json
import shlex

import pytest

import train_objectness_net
from datasets.synthetic import make_single_object_dataset
from training.objectness.args import ConfigError, build_train_parser, check_train_args

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is as fast

TINY = "--backbone_type resnet18 --image_size 32 --num_workers 0 --no_progress --seed 0 --batch_size 4"


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("stage1_flags")
    make_single_object_dataset(base / "imagenet", num_classes=2, images_per_class=4, image_size=48, seed=0)
    make_single_object_dataset(base / "heldout", num_classes=2, images_per_class=2, image_size=48, seed=1)
    return base / "imagenet", base / "heldout"


def config(flags: str):
    return check_train_args(build_train_parser().parse_args(shlex.split(f"--imagenet_root x {TINY} {flags}")))


def test_original_flags_map_onto_ours():
    cfg = config("--train_existence --gpu_index 1 --N_vis 3 --test_batch_size 8 "
                 "--lr_scheduler_type multi_step_lr")
    assert (cfg.device, cfg.num_vis, cfg.eval_batch_size) == ("cuda:1", 3, 8)
    assert config("--train_existence").evaluate_every == 5000  # the original's default


@pytest.mark.parametrize("flags, message", [
    ("--train_existence --lr_scheduler_type exponential_lr", r"ExponentialLR\(\) without a gamma"),
    ("--train_existence --ema_lr 0.001", "never reads it"),
    ("--train_existence --evaluate_loss_every 1000", "no held-out loss"),
    ("--train_existence --gpu_index 0 --device cpu", "not both"),
    ("--eval_mode --resume ckpt.pth", "--eval_imagenet_root"),
])
def test_flags_without_a_behaviour_are_refused(flags, message):
    with pytest.raises(ConfigError, match=message):
        config(flags)


@pytest.mark.parametrize("task", ["--train_existence --existence_arch resnet18",
                                  "--train_center_and_boundary --sdf_activation tanh --use_bg_sdf"])
def test_validation_during_training_and_eval_mode(roots, tmp_path, task):
    train_root, heldout = roots
    out = tmp_path / "run"
    argv = shlex.split(f"{task} --imagenet_root {train_root} --output_dir {out} {TINY} --max_iters 4 "
                       f"--evaluate_every 2 --eval_imagenet_root {heldout} --log_interval 2 --vis_interval 4")
    train_objectness_net.main(argv)
    log = [json.loads(line) for line in (out / "eval_log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == [2, 4]
    key = "accuracy" if "existence" in task else "sdf_mae"
    assert all(0 <= r[key] <= 2 and r["num_samples"] > 0 for r in log)
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for path in events:
        acc = EventAccumulator(str(path))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"]) | set(acc.Tags()["images"])
    picture = "vis/existence" if "existence" in task else "vis/center_boundary"
    assert {f"val/{key}", "train/loss/total", picture} <= tags

    result = train_objectness_net.main(shlex.split(
        f"--eval_mode --resume {out / 'checkpoint_last.pth'} --eval_imagenet_root {heldout} "
        "--num_workers 0"))
    saved = json.loads((out / "eval_heldout.json").read_text())
    assert saved["iter"] == result["iter"] == 4
    assert ("existence" in saved) == ("existence" in task)
