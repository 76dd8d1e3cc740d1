"""Stage-1 training CLI on tiny synthetic data: loss goes down, resume is exact, evaluation, clear errors."""

import json
import shlex

import pytest
import torch

import eval_objectness_net
import train_objectness_net
from datasets.synthetic import make_single_object_dataset
from training.objectness.args import build_train_parser, check_train_args

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is as fast

ORIGINAL_README_FLAGS = (
    "--dataset ImageNet_votecut_top1_Dataset --backbone_type dpt_large --optimizer adam "
    "--lr_scheduler_gamma 0.1 --learning_rate 0.0001 --batch_size 20 --lr_scheduler_gamma 0.1 "
    "--sdf_loss_type l1 --center_field_loss_type l2 "
    "--use_sdf_binary_mask_loss --use_sdf_gradient_loss --sdf_activation tanh --use_bg_sdf"
)
TINY = "--backbone_type resnet18 --image_size 32 --num_workers 0 --no_progress --seed 0"
CB_FLAGS = (
    "--train_center_and_boundary --sdf_loss_type l1 --center_field_loss_type l2 --use_sdf_binary_mask_loss "
    "--use_sdf_gradient_loss --sdf_activation tanh --use_bg_sdf"
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("stage1") / "imagenet"
    make_single_object_dataset(out, num_classes=2, images_per_class=6, image_size=48, seed=0)
    return out


def train(root, out, flags: str) -> dict:
    argv = shlex.split(f"--imagenet_root {root} --output_dir {out} {TINY} {flags}")
    return train_objectness_net.main(argv)


def records(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_help_and_original_readme_command_lines(capsys):
    for main in (train_objectness_net.main, eval_objectness_net.main):
        with pytest.raises(SystemExit) as e:
            main(["--help"])
        assert e.value.code == 0
    assert "--train_center_and_boundary" in capsys.readouterr().out
    parser = build_train_parser()
    for task in ("--train_center_and_boundary --backbone_weights none", "--train_existence"):
        args = parser.parse_args(shlex.split(f"{ORIGINAL_README_FLAGS} {task} --imagenet_root data/imagenet"))
        check_train_args(args)
        assert args.batch_size == 20 and args.lr_scheduler_gamma == 0.1 and args.sdf_activation == "tanh"


@pytest.mark.parametrize(
    "flags, message",
    [
        ("--train_existence --imagenet_root {missing}", "not found"),
        ("--train_existence", "--imagenet_root is required"),
        ("--imagenet_root {root}", "exactly one of"),
        ("--train_existence --imagenet_root {root} --votecut_json {bad_json}", "not valid JSON"),
        ("--train_existence --existence_arch resnet18 --imagenet_root {root} --resume {missing}", "--resume"),
    ],
)
def test_clear_one_line_errors(root, tmp_path, capsys, flags, message):
    bad_json = tmp_path / "votecut.json"
    bad_json.write_text('{"images": [')
    argv = shlex.split(flags.format(missing=tmp_path / "nope", root=root, bad_json=bad_json))
    with pytest.raises(SystemExit) as e:
        train_objectness_net.main([*argv, "--output_dir", str(tmp_path / "o"), "--backbone_type", "resnet18"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_center_boundary_training_lowers_loss_and_writes_outputs(root, tmp_path):
    out = tmp_path / "cb"
    summary = train(
        root,
        out,
        f"{CB_FLAGS} --batch_size 4 --learning_rate 1e-3 --max_iters 12 --log_interval 4 "
        "--ckpt_interval 12 --vis_interval 12",
    )
    assert summary["iter"] == 12
    log = records(out)
    assert [r["iter"] for r in log] == [4, 8, 12]
    assert log[-1]["loss/total"] < log[0]["loss/total"]
    assert log[-1]["loss/sdf"] < log[0]["loss/sdf"]
    for name in (
        "loss_curve.png",
        "config.json",
        "checkpoint_last.pth",
        "vis/iter_0000012.png",
    ):
        assert (out / name).is_file(), name
    assert not list(out.glob("checkpoint_iter_*.pth"))  # --keep_checkpoints 0 (default): latest only
    ckpt = torch.load(out / "checkpoint_last.pth", weights_only=True)
    for key in (
        "model_state_dict",
        "optimizer_state_dict",
        "iter",
        "lr_scheduler_state_dict",
        "args",
        "rng_state",
    ):
        assert key in ckpt
    assert ckpt["iter"] == 12 and ckpt["task"] == "center_boundary" and ckpt["crop_size"] == 32

    result = eval_objectness_net.main(
        [
            "--checkpoint",
            str(out / "checkpoint_last.pth"),
            "--imagenet_root",
            str(root),
            "--batch_size",
            "8",
        ]
    )
    saved = json.loads((out / "eval_imagenet.json").read_text())
    assert saved["task"] == "center_boundary" and saved["image_size"] == 32
    for name in ("full_image", "random_crop"):
        zero = result[name]["zero_predictor"]
        assert result[name]["num_samples"] > 0
        assert zero["center_field_fg_error"] == pytest.approx(1.0) and zero["mask_iou"] == 0.0
        model = result[name]["model"]
        assert 0 < model["center_field_mse"] < 10 and 0 < model["sdf_mae"] < 2 and 0 <= model["mask_iou"] <= 1


def test_existence_training_lowers_loss_and_evaluates(root, tmp_path):
    out = tmp_path / "ex"
    votecut = root / "annotations" / "imagenet_train_votecut_kmax_3_tuam_0.2.json"
    train(
        root,
        out,
        f"--train_existence --existence_arch resnet18 --votecut_json {votecut} --batch_size 8 "
        "--learning_rate 1e-3 --max_iters 16 --log_interval 8 --ckpt_interval 100 --vis_interval 100",
    )
    log = records(out)
    assert log[-1]["loss/bce"] < log[0]["loss/bce"]
    result = eval_objectness_net.main(
        [
            "--checkpoint",
            str(out / "checkpoint_last.pth"),
            "--imagenet_root",
            str(root),
            "--votecut_json",
            str(votecut),
            "--output_json",
            str(tmp_path / "ex.json"),
        ]
    )
    e = result["existence"]
    assert result["task"] == "existence" and e["num_samples"] == 48 and 0 <= e["accuracy"] <= 1
    assert json.loads((tmp_path / "ex.json").read_text())["existence"]["accuracy"] == e["accuracy"]


def same_weights(a_dir, b_dir, iteration: int) -> tuple[dict, dict]:
    """The last checkpoints of two runs, asserted to be at `iteration` with the same weights."""
    a = torch.load(a_dir / "checkpoint_last.pth", weights_only=True)
    b = torch.load(b_dir / "checkpoint_last.pth", weights_only=True)
    assert a["iter"] == b["iter"] == iteration
    for k, v in a["model_state_dict"].items():
        torch.testing.assert_close(b["model_state_dict"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    return a, b


def test_resume_continues_with_identical_state(root, tmp_path):
    flags = (
        f"{CB_FLAGS} --batch_size 2 --learning_rate 1e-3 --log_interval 1 --lr_milestones 3 "
        "--lr_scheduler_gamma 0.5 --ckpt_interval 100 --vis_interval 100"
    )
    full, part = tmp_path / "full", tmp_path / "part"
    train(root, full, f"{flags} --max_iters 4")
    train(root, part, f"{flags} --max_iters 2")
    train(root, part, f"{flags} --max_iters 4 --resume auto")
    a, b = same_weights(full, part, 4)
    for sa, sb in zip(
        a["optimizer_state_dict"]["state"].values(), b["optimizer_state_dict"]["state"].values()
    ):
        torch.testing.assert_close(sb["exp_avg"], sa["exp_avg"], rtol=1e-5, atol=1e-7)
    assert a["lr_scheduler_state_dict"] == b["lr_scheduler_state_dict"]
    assert a["optimizer_state_dict"]["param_groups"][0]["lr"] == pytest.approx(5e-4)
    assert [r["iter"] for r in records(part)] == [1, 2, 3, 4]
    torch.testing.assert_close(
        [r["loss/total"] for r in records(part)],
        [r["loss/total"] for r in records(full)],
        rtol=1e-4,
        atol=1e-6,
    )


def test_resume_reads_a_folder_of_the_earlier_layout(root, tmp_path):
    """checkpoint_latest.pth and loss_log.jsonl (stage 1's names before the shared layout) resume with the
    bare --resume, as if written under the new names."""
    flags = f"{CB_FLAGS} --batch_size 2 --log_interval 1 --ckpt_interval 100 --vis_interval 100"
    full, old = tmp_path / "full", tmp_path / "old"
    train(root, full, f"{flags} --max_iters 3")
    train(root, old, f"{flags} --max_iters 2")
    (old / "checkpoint_last.pth").replace(old / "checkpoint_latest.pth")
    (old / "train_log.jsonl").replace(old / "loss_log.jsonl")
    train(root, old, f"{flags} --max_iters 3 --resume")
    same_weights(full, old, 3)
    assert [r["iter"] for r in records(old)] == [1, 2, 3] and not (old / "loss_log.jsonl").exists()


def test_checkpoint_retention(tmp_path):
    from training.engine import prune_numbered

    for it in (100, 200, 300, 400):
        (tmp_path / f"checkpoint_iter_{it:07d}.pth").write_bytes(b"x")
    (tmp_path / "checkpoint_latest.pth").write_bytes(b"x")
    assert [p.name for p in prune_numbered(tmp_path, "checkpoint_iter_", -1)] == []
    deleted = prune_numbered(tmp_path, "checkpoint_iter_", 2)
    assert [p.name for p in deleted] == ["checkpoint_iter_0000100.pth", "checkpoint_iter_0000200.pth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint_iter_0000300.pth", "checkpoint_iter_0000400.pth", "checkpoint_latest.pth"]


def test_keep_checkpoints_flag_keeps_the_newest_periodic_files(root, tmp_path):
    out = tmp_path / "keep"
    train(root, out, f"{CB_FLAGS} --batch_size 2 --max_iters 6 --ckpt_interval 2 --vis_interval 100 "
                     "--keep_checkpoints 2")
    assert sorted(p.name for p in out.glob("checkpoint_*.pth")) == [
        "checkpoint_iter_0000004.pth", "checkpoint_iter_0000006.pth", "checkpoint_last.pth"]
