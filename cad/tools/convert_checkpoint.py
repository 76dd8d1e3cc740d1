"""Convert detector checkpoints between our training checkpoints and Detectron2's formats.

Examples (run from the repository root):
    # our training checkpoint -> Detectron2 .pth / .pkl (loadable by Detectron2's DetectionCheckpointer)
    python cad/tools/convert_checkpoint.py outputs/cad_tiny/model_final.pth model_d2.pkl
    # Detectron2 checkpoint -> our layout, verified against a config (reports missing/unexpected keys)
    python cad/tools/convert_checkpoint.py unMORE_model.pth checkpoints/unmore_cad.pth \
        --config-file cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml
    # torchvision ResNet-50 state dict -> Detectron2-format backbone .pkl (like MODEL.WEIGHTS inits)
    python cad/tools/convert_checkpoint.py resnet50_dino.pth checkpoints/dino_RN50_d2.pkl
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[2] / "_bootstrap.py"))  # repository root on sys.path

from cad.checkpoint import convert_checkpoint  # noqa: E402
from cad.cli_configs import ConvertCheckpointConfig  # noqa: E402
from cad.config import get_cfg  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import parse_config  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = parse_config(ConvertCheckpointConfig, argv, __doc__)
    model = None
    if args.config_file:
        import torch

        from cad.modeling import GeneralizedRCNN

        cfg = get_cfg()
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(args.opts)
        cfg.MODEL.DEVICE = "cpu"
        torch.manual_seed(0)
        model = GeneralizedRCNN(cfg)
    report = convert_checkpoint(args.input, args.output, model)
    if report is not None:
        print(report.summary())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
