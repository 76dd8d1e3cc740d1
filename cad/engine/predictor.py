"""A trained detector on one decoded image at a time (what `cad/demo.py` and `discover.py` run)."""

from __future__ import annotations

import os

import numpy as np
import torch

from cad.checkpoint import load_weights
from cad.config import check_implemented, get_cfg
from cad.data.mapper import DatasetMapper
from cad.modeling import build_model
from cad.structures import Instances


def detector_config(config_file: str | os.PathLike | None, opts: list[str] | tuple[str, ...] = ()):
    """The frozen config of a YAML file (None: the defaults) with `KEY VALUE` overrides, checked for keys
    that are not implemented (ValueError / KeyError / FileNotFoundError on bad input)."""
    cfg = get_cfg()
    if config_file:
        cfg.merge_from_file(str(config_file))
    cfg.merge_from_list(list(opts))
    check_implemented(cfg)
    cfg.freeze()
    return cfg


class DetectorPredictor:
    """`cfg`'s model with the weights `cfg.MODEL.WEIGHTS`, in eval mode on `device`.

    `predictor(image, image_id)` for uint8 RGB [H, W, 3] pixels -> Instances at the image's size
    (`pred_boxes` [N, 4] xyxy, `scores` [N], `pred_masks` [N, H, W] with masks on).
    """

    def __init__(self, cfg, device: torch.device):
        self.cfg = cfg
        self.device = device
        self.model = build_model(cfg).to(device).eval()
        load_weights(self.model, cfg.MODEL.WEIGHTS)
        self.mapper = DatasetMapper.from_config(cfg, is_train=False)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, image_id: int | str, file_name: str = "") -> Instances:
        h, w = image.shape[:2]
        inp = self.mapper.map_image(image, {"file_name": file_name, "image_id": image_id, "height": h,
                                            "width": w})
        return self.model([{**inp, "image": inp["image"].to(self.device)}])[0]["instances"]
