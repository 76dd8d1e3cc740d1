"""Config system: Detectron2 defaults, recipe YAML values, _BASE_, typed overrides, freeze, dump."""

import pytest
import yaml

from cad.config import CfgNode, get_cfg

RECIPE = "cad/model_zoo/configs/unMORE-IN+COCO/cascade_mask_rcnn_R_50_FPN.yaml"
TINY = "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"


def test_defaults_the_recipe_relies_on():
    c = get_cfg()
    assert c.MODEL.ROI_BOX_CASCADE_HEAD.IOUS == (0.5, 0.6, 0.7)
    assert c.MODEL.ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS[2] == (30.0, 30.0, 15.0, 15.0)
    assert c.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE == 512 and c.MODEL.ROI_HEADS.NMS_THRESH_TEST == 0.5
    assert c.MODEL.ROI_BOX_HEAD.POOLER_TYPE == "ROIAlignV2" and c.MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA == 0.0
    assert c.MODEL.RPN.IOU_THRESHOLDS == [0.3, 0.7] and c.MODEL.RPN.SMOOTH_L1_BETA == 0.0
    assert c.MODEL.ANCHOR_GENERATOR.OFFSET == 0.0 and c.SOLVER.WEIGHT_DECAY_NORM == 0.0
    assert c.INPUT.MIN_SIZE_TEST == 800 and c.INPUT.MAX_SIZE_TEST == 1333
    # custom keys and their defaults
    assert c.DATALOADER.COPY_PASTE is False and c.DATALOADER.COPY_PASTE_MIN_RATIO == 0.5
    assert c.MODEL.ROI_HEADS.USE_DROPLOSS is False and c.MODEL.ROI_HEADS.USE_SOFT_TARGETS is False
    assert c.MODEL.ROI_HEADS.DROPLOSS_MATCHED_GT_QUIRK is True and c.TEST.NO_SEGM is False


def test_recipe_yaml_with_base():
    c = get_cfg()
    c.merge_from_file(RECIPE)
    # from the Base yaml
    assert c.MODEL.RPN.IN_FEATURES == ["p2", "p3", "p4", "p5", "p6"]
    assert c.MODEL.ANCHOR_GENERATOR.SIZES == [[32], [64], [128], [256], [512]]
    assert c.MODEL.RPN.PRE_NMS_TOPK_TRAIN == 2000 and c.MODEL.RPN.PRE_NMS_TOPK_TEST == 1000
    assert c.DATASETS.TEST == ("coco_2017_val",)
    # from the cascade yaml
    assert c.MODEL.RPN.POST_NMS_TOPK_TRAIN == 4000 and c.MODEL.RPN.NMS_THRESH == 0.65
    assert c.MODEL.PIXEL_STD == [58.395, 57.12, 57.375] and c.INPUT.FORMAT == "RGB"
    assert (
        c.MODEL.RESNETS.NORM == "SyncBN" and c.MODEL.FPN.NORM == "SyncBN" and c.MODEL.BACKBONE.FREEZE_AT == 0
    )
    assert c.MODEL.RESNETS.STRIDE_IN_1X1 is False and c.MODEL.ROI_HEADS.DROPLOSS_IOU_THRESH == 0.01
    assert c.SOLVER.STEPS == (79999,) and c.SOLVER.WEIGHT_DECAY == 5e-5 and c.SOLVER.GAMMA == 0.02
    assert c.SOLVER.CLIP_GRADIENTS.ENABLED is True and c.SOLVER.CLIP_GRADIENTS.CLIP_TYPE == "norm"
    assert c.INPUT.MIN_SIZE_TRAIN == (240, 320, 480, 640, 672, 704, 736, 768, 800, 1024)
    assert c.DATASETS.TRAIN == ("coco_train_with_imagenet_train",)
    assert c.MODEL.WEIGHTS.endswith("dino_RN50_pretrain_d2_format.pkl") and not c.MODEL.WEIGHTS.startswith(
        "http"
    )
    t = get_cfg()
    t.merge_from_file(TINY)  # two levels of _BASE_
    assert (
        t.MODEL.RESNETS.DEPTH == 18
        and t.MODEL.ROI_HEADS.USE_DROPLOSS is True
        and t.MODEL.RPN.NMS_THRESH == 0.65
    )


def test_merge_from_list_types_and_errors():
    c = get_cfg()
    c.merge_from_list(
        [
            "SOLVER.BASE_LR",
            "0.5",
            "INPUT.MIN_SIZE_TRAIN",
            "(320, 640)",
            "MODEL.WEIGHTS",
            "a/b.pth",
            "SOLVER.MAX_ITER",
            "7",
            "SOLVER.WEIGHT_DECAY",
            "1",
        ]
    )
    assert c.SOLVER.BASE_LR == 0.5 and c.INPUT.MIN_SIZE_TRAIN == (320, 640) and c.MODEL.WEIGHTS == "a/b.pth"
    assert c.SOLVER.MAX_ITER == 7 and isinstance(c.SOLVER.WEIGHT_DECAY, float)
    c.merge_from_list(["INPUT.MIN_SIZE_TRAIN", "[480]"])  # list -> tuple like yacs
    assert c.INPUT.MIN_SIZE_TRAIN == (480,)
    with pytest.raises(ValueError, match="Type mismatch"):
        c.merge_from_list(["SOLVER.MAX_ITER", "abc"])
    with pytest.raises(KeyError, match="Non-existent"):
        c.merge_from_list(["SOLVER.NOT_A_KEY", "1"])
    with pytest.raises(ValueError):
        c.merge_from_list(["SOLVER.MAX_ITER"])
    c.freeze()
    with pytest.raises(AttributeError):
        c.SOLVER.BASE_LR = 1.0
    with pytest.raises(AttributeError):
        c.merge_from_list(["SOLVER.BASE_LR", "1.0"])
    d = c.clone()
    assert d.is_frozen() and d == c
    d.defrost()
    d.SOLVER.BASE_LR = 2.0
    assert c.SOLVER.BASE_LR == 0.5


def test_unknown_yaml_key_and_dump_roundtrip(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"_BASE_: {__import__('os').path.abspath(RECIPE)}\nMODEL:\n  NOT_A_KEY: 1\n")
    with pytest.raises(KeyError, match="MODEL.NOT_A_KEY"):
        get_cfg().merge_from_file(str(bad))
    c = get_cfg()
    c.merge_from_file(RECIPE)
    dumped = tmp_path / "config.yaml"
    dumped.write_text(c.dump())
    assert isinstance(yaml.safe_load(dumped.read_text()), dict)
    r = get_cfg()
    r.merge_from_file(str(dumped))
    assert r == c and isinstance(r, CfgNode)
    with pytest.raises(FileNotFoundError):
        get_cfg().merge_from_file(str(tmp_path / "missing.yaml"))


def _documented_keys() -> dict[str, list[str]]:
    """defaults.py: full key -> comment texts above each of its assignments (groups included)."""
    import re
    from pathlib import Path

    lines = Path("cad/config/defaults.py").read_text().splitlines()
    out: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        m = re.match(r"_C\.([A-Z0-9_.]+) = ", line)
        if not m:
            continue
        j, comment = i - 1, []
        while j >= 0 and lines[j].startswith("#"):
            comment.insert(0, lines[j].lstrip("# "))
            j -= 1
        out.setdefault(m.group(1), []).append(" ".join(comment))
    return out


def test_every_default_key_is_defined_once_with_a_comment_matching_its_status():
    from cad.config.implemented import EQUIVALENT_VALUES, NOT_IMPLEMENTED

    def leaves(node, prefix=""):
        for k, v in node.items():
            yield from leaves(v, f"{prefix}{k}.") if isinstance(v, CfgNode) else [f"{prefix}{k}"]

    documented = _documented_keys()
    assert [k for k, c in documented.items() if len(c) != 1] == []
    keys = list(leaves(get_cfg()))
    assert [k for k in keys if k not in documented or not documented[k][0]] == []
    flagged = {k for k in keys if "Not implemented" in documented[k][0]}
    assert flagged == set(NOT_IMPLEMENTED)
    for key, allowed in EQUIVALENT_VALUES.items():
        assert all(repr(v).strip("'") in documented[key][0] or v == "" for v in allowed), key
