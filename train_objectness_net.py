"""Train the unMORE stage-1 networks: `--train_center_and_boundary` (objectness) or `--train_existence`.

Example (the original README's command plus the data root):
    python train_objectness_net.py --dataset ImageNet_votecut_top1_Dataset --imagenet_root data/imagenet \
        --backbone_type dpt_large --optimizer adam --lr_scheduler_gamma 0.1 --learning_rate 0.0001 \
        --batch_size 20 --sdf_loss_type l1 --center_field_loss_type l2 --use_sdf_binary_mask_loss \
        --use_sdf_gradient_loss --sdf_activation tanh --use_bg_sdf --train_center_and_boundary
Multi-GPU: `torchrun --nproc_per_node N train_objectness_net.py ...` (DDP; --batch_size is per GPU).
"""

from __future__ import annotations

from pathlib import Path

from training.objectness.args import ConfigError, Stage1Config, build_train_parser, check_train_args
from utils.cli import reports_errors, run_cli
from utils.io import DataError, atomic_write_json


@reports_errors(ConfigError, DataError, FileNotFoundError, exit_on_error=True)
def main(argv: list[str] | None = None) -> dict:
    args = build_train_parser().parse_args(argv)
    config = check_train_args(args)
    if config.eval_only:
        return evaluate_only(config)
    from training.objectness.trainer import run_training
    from utils.distributed import init_distributed, process_group_teardown

    info = init_distributed(config.device)  # the script starts the process group (torchrun), not the trainer
    with process_group_teardown():
        return run_training(config, info)


def evaluate_only(config: Stage1Config) -> dict:
    """--eval_only (the original's --eval_mode): evaluate the --resume checkpoint on --eval_imagenet_root."""
    from training.objectness.evaluation import evaluate_checkpoint, format_result
    from utils.device import resolve_device

    device = resolve_device(config.device)
    result = evaluate_checkpoint(config.resume, config.eval_imagenet_root, None, config.votecut_json, None,
                                 config.seed, config.eval_batch_size, device, config.num_workers)
    out = Path(config.resume).parent / f"eval_{Path(config.eval_imagenet_root).name}.json"
    atomic_write_json(out, result, indent=2)
    print(format_result(result))
    return result


if __name__ == "__main__":
    run_cli(main)
