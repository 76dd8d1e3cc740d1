"""The detector trains what the recipe (Detectron2 + CutLER) trains: DropLoss GT set, mask resize."""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cad.config import get_cfg
from cad.data.transforms import resize_masks
from cad.modeling import build_model

RECIPE = "cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml"
TINY = "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"


def test_recipe_uses_cutlers_matched_gt_droploss_by_default():
    cfg = get_cfg()
    cfg.merge_from_file(RECIPE)
    assert cfg.MODEL.ROI_HEADS.USE_DROPLOSS and cfg.MODEL.ROI_HEADS.DROPLOSS_MATCHED_GT_QUIRK is True
    tiny = get_cfg()
    tiny.merge_from_file(TINY)
    tiny.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    assert build_model(tiny).roi_heads.droploss_quirk is True
    tiny = get_cfg()
    tiny.merge_from_file(TINY)
    tiny.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "",
                          "MODEL.ROI_HEADS.DROPLOSS_MATCHED_GT_QUIRK", "False"])
    assert build_model(tiny).roi_heads.droploss_quirk is False  # the documented deviation stays a flag


def _blob(h, w, seed):
    """A realistic mask: a smooth random shape with a ragged boundary."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, 6, 8, generator=g)
    return (F.interpolate(coarse, (h, w), mode="bicubic", align_corners=False)[0, 0] > 0.55).numpy()


def test_gt_mask_resize_rounds_like_detectron2_pil_nearest():
    masks = np.stack([_blob(375, 500, 0), _blob(375, 500, 1)])
    for new_h, new_w in ((800, 1067), (640, 853), (187, 250)):
        got = resize_masks(torch.from_numpy(masks), new_h, new_w)
        ref = np.stack([np.asarray(Image.fromarray(m.astype(np.uint8)).resize((new_w, new_h), Image.NEAREST))
                        for m in masks]) > 0
        assert got.dtype == torch.bool and np.array_equal(got.numpy(), ref)
    # where PIL's rounding differs from torch's "nearest-exact", the result is PIL's
    up = resize_masks(torch.from_numpy(masks), 800, 1067).numpy()
    exact = F.interpolate(torch.from_numpy(masks)[:, None].to(torch.uint8), (800, 1067), mode="nearest-exact")
    assert (up != exact[:, 0].bool().numpy()).sum() > 0
