"""Detectron2-compatible configuration: ``get_cfg()`` returns all defaults (Detectron2 + CutLER/unMORE keys).

Usage::

    cfg = get_cfg()
    cfg.merge_from_file("cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml")
    cfg.merge_from_list(["MODEL.WEIGHTS", "unMORE_model.pth", "SOLVER.BASE_LR", "0.005"])
    check_implemented(cfg)  # refuses keys whose non-default values are not implemented
    cfg.freeze()
"""

from .config import CfgNode
from .defaults import _C, DEMO_SCORE_THRESHOLD, DEMO_SCORE_THRESHOLD_WHY
from .implemented import check_implemented


def get_cfg() -> CfgNode:
    """A fresh copy of the default config."""
    return _C.clone()


__all__ = ["DEMO_SCORE_THRESHOLD", "DEMO_SCORE_THRESHOLD_WHY", "CfgNode", "check_implemented", "get_cfg"]
