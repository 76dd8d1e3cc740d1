"""A trained detector on one decoded image at a time (what `cad/demo.py` and `discover.py` run)."""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from cad.checkpoint import INFERENCE_MIN_LOADED, load_weights
from cad.config import check_implemented, get_cfg
from cad.data.mapper import DatasetMapper
from cad.modeling import build_model
from cad.structures import Instances

logger = logging.getLogger(__name__)


def use_cpu_without_cuda(cfg) -> None:
    """A CUDA `MODEL.DEVICE` without CUDA becomes `cpu` (one warning); on the CPU SyncBN becomes BN."""
    if str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
        logger.warning(f"MODEL.DEVICE {cfg.MODEL.DEVICE}: CUDA is not available, running on the CPU")
        cfg.MODEL.DEVICE = "cpu"
    if str(cfg.MODEL.DEVICE) == "cpu":
        for node in (cfg.MODEL.RESNETS, cfg.MODEL.FPN):
            if node.NORM == "SyncBN":
                node.NORM = "BN"


def detector_config(
    config_file: str | os.PathLike | None,
    opts: list[str] | tuple[str, ...] = (),
    score_thresh: float | None = None,
    cpu_fallback: bool = False,
):
    """The frozen config of a YAML file (None: the defaults) with `KEY VALUE` overrides, checked for keys
    that are not implemented (ValueError / KeyError / FileNotFoundError on bad input). `score_thresh` sets
    MODEL.ROI_HEADS.SCORE_THRESH_TEST; `cpu_fallback` applies `use_cpu_without_cuda` (CutLER's demo)."""
    cfg = get_cfg()
    if config_file:
        cfg.merge_from_file(str(config_file))
    cfg.merge_from_list(list(opts))
    check_implemented(cfg)
    if cpu_fallback:
        use_cpu_without_cuda(cfg)
    if score_thresh is not None:
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_thresh
    cfg.freeze()
    return cfg


class DetectorPredictor:
    """`cfg`'s model with the weights `cfg.MODEL.WEIGHTS`, in eval mode on `device`; weights matching too few
    of the model's tensors (another network) are refused (`cad.checkpoint.load_weights`, DataError).

    `predictor(image, image_id)` for uint8 RGB [H, W, 3] pixels -> Instances at the image's size
    (`pred_boxes` [N, 4] xyxy, `scores` [N], `pred_masks` [N, H, W] with masks on).
    """

    def __init__(self, cfg, device: torch.device):
        self.cfg = cfg
        self.device = device
        self.model = build_model(cfg).to(device).eval()
        load_weights(self.model, cfg.MODEL.WEIGHTS, min_loaded=INFERENCE_MIN_LOADED)
        self.mapper = DatasetMapper.from_config(cfg, is_train=False)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, image_id: int | str, file_name: str = "") -> Instances:
        h, w = image.shape[:2]
        inp = self.mapper.map_image(image, {"file_name": file_name, "image_id": image_id, "height": h,
                                            "width": w})
        return self.model([{**inp, "image": inp["image"].to(self.device)}])[0]["instances"]
