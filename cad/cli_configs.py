"""The command lines of the detector's own scripts, one typed config per script (see utils/config.py):
cad/demo.py (CutLER's flags kept, dashes included) and cad/tools/convert_checkpoint.py. Device and output
folder come from utils/runtime_config.py. cad/train_net.py keeps Detectron2's argument parser
(cad/engine/defaults.py: `default_argument_parser`), its users' command lines."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from cad.config import DEMO_SCORE_THRESHOLD, DEMO_SCORE_THRESHOLD_WHY
from utils.config import option
from utils.runtime_config import runtime_option


@dataclass(frozen=True)
class DemoConfig:
    """cad/demo.py. `opts` is filled from both `--opts KEY VALUE ...` (`opts_flag`) and trailing pairs."""

    config_file: str = option("", "path to the YAML config file", aliases=("--config-file",), metavar="FILE")
    input: list[str] = option(None, "image paths or glob patterns (quote them), e.g. 'imgs/*.jpg'",
                              required=True)
    output_dir: str = runtime_option("output_dir", "overlays and the results JSON", aliases=("--output",),
                                     required=True)
    device: str = runtime_option("device", "sets MODEL.DEVICE", default="")
    confidence_threshold: float = option(
        DEMO_SCORE_THRESHOLD,
        "keep detections with score >= this value (sets MODEL.ROI_HEADS.SCORE_THRESH_TEST; "
        f"default {DEMO_SCORE_THRESHOLD}: {DEMO_SCORE_THRESHOLD_WHY})", flags=("--confidence-threshold",),
        min=0, max=1)
    no_masks: bool = option(False, "leave masks out of the overlays and the JSON", flags=("--no-masks",))
    overwrite: bool = option(
        False, "discard results in --output made with other weights or settings (default: refuse)")
    opts_flag: list[str] = option(
        [], "config overrides as KEY VALUE pairs (CutLER's form), e.g. MODEL.WEIGHTS w.pth",
        flags=("--opts",), nargs=argparse.REMAINDER, metavar="KEY VALUE")
    opts: list[str] | None = option(None, "config overrides as KEY VALUE pairs at the end, without --opts",
                                    positional=True, nargs=argparse.REMAINDER)


@dataclass(frozen=True)
class ConvertCheckpointConfig:
    """cad/tools/convert_checkpoint.py."""

    input: str = option(None, "source checkpoint (.pth: {'model': ...} or a state dict; .pkl: Detectron2)",
                        positional=True)
    output: str = option(None, "destination; .pkl writes numpy arrays, anything else a torch {'model': ...}",
                         positional=True)
    config_file: str = option(
        "", "build this model, load the weights into it (names aligned, shapes checked) and write its full "
        "state dict", aliases=("--config-file",))
    opts: list[str] = option([], "KEY VALUE config overrides (with --config-file)", positional=True,
                             nargs=argparse.REMAINDER)
