"""Config keys the detector does not implement, and the ranges of its numeric keys.

Not implemented: Detectron2/CutLER keys kept so their config files load, whose non-default values would
silently change nothing. `check_implemented` refuses such values, and numbers outside `RANGES` (e.g.
``SOLVER.IMS_PER_BATCH 0``, which would hang the data loader), naming the key.

These two tables are the one record of a key's status; the comments in ``defaults.py`` say "Not implemented"
for exactly the keys of ``NOT_IMPLEMENTED`` (checked by tests/test_cad_model_config.py)."""

from __future__ import annotations

from utils.config import Range

from .config import CfgNode
from .defaults import _C

# key -> what it would enable (only its default value is accepted)
NOT_IMPLEMENTED = {
    "MODEL.BACKBONE.FREEZE": "freezing the whole backbone (use MODEL.BACKBONE.FREEZE_AT)",
    "MODEL.PROPOSAL_GENERATOR.FREEZE": "freezing the RPN",
    "MODEL.ROI_HEADS.FREEZE_FEAT": "freezing the ROI feature heads",
    "MODEL.ROI_HEADS.IOU_LABELS": "other proposal labels (the cascade stages label proposals [0, 1])",
    "MODEL.ROI_HEADS.COSINE_SCALE": "a cosine-similarity classifier",
    "MODEL.ANCHOR_GENERATOR.ANGLES": "rotated anchors",
    "MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_TYPE": "box-regression losses other than smooth L1",
    "MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS": "a single-stage box head (use ROI_BOX_CASCADE_HEAD)",
    "MODEL.ROI_BOX_HEAD.TRAIN_ON_PRED_BOXES": "training the box head on predicted boxes",
    "MODEL.ROI_BOX_HEAD.USE_FED_LOSS": "the federated loss",
    "MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE": "a sigmoid classification loss",
    "MODEL.RESNETS.DEFORM_ON_PER_STAGE": "deformable convolutions",
    "MODEL.RESNETS.DEFORM_MODULATED": "deformable convolutions",
    "MODEL.RESNETS.DEFORM_NUM_GROUPS": "deformable convolutions",
    "INPUT.CROP.ENABLED": "random-crop augmentation",
    "INPUT.CROP.TYPE": "random-crop augmentation",
    "INPUT.CROP.SIZE": "random-crop augmentation",
    "DATASETS.PROPOSAL_FILES_TRAIN": "precomputed proposals",
    "DATASETS.PROPOSAL_FILES_TEST": "precomputed proposals",
    "DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN": "precomputed proposals",
    "DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST": "precomputed proposals",
    "DATALOADER.SAMPLER_TRAIN": "other training samplers (repeat factors come from the datasets)",
    "DATALOADER.REPEAT_THRESHOLD": "LVIS-style repeat-factor sampling",
    "DATALOADER.COPY_PASTE_PROPORTIONS": "copy-paste proportions (use COPY_PASTE_MIN_RATIO/MAX_RATIO)",
    "SOLVER.NUM_DECAYS": "the WarmupStepWithFixedGammaLR schedule",
    "SOLVER.RESCALE_INTERVAL": "the WarmupStepWithFixedGammaLR schedule",
    "TEST.AUG.ENABLED": "test-time augmentation",
    "TEST.AUG.MIN_SIZES": "test-time augmentation",
    "TEST.AUG.MAX_SIZE": "test-time augmentation",
    "TEST.AUG.FLIP": "test-time augmentation",
    "TEST.EXPECTED_RESULTS": "checking expected results",
    "TEST.KEYPOINT_OKS_SIGMAS": "keypoints",
    "VIS_PERIOD": "training-time visualisation (see DATALOADER.VISUALIZE_COPY_PASTE)",
    "GLOBAL.HACK": "nothing in Detectron2 either",
}
# keys whose values all lead to the same behaviour here
EQUIVALENT_VALUES = {
    "INPUT.MASK_FORMAT": ("polygon", "bitmask"),  # masks are always decoded to bitmaps
    "MODEL.ROI_BOX_HEAD.NAME": ("", "FastRCNNConvFCHead"),  # the conv/fc box head
    "MODEL.ROI_MASK_HEAD.NAME": ("MaskRCNNConvUpsampleHead", "CustomMaskRCNNConvUpsampleHead"),
}


_UNIT = Range(min=0, max=1)
# key -> allowed values (of each item of a list/tuple key); every float key must also be finite
RANGES = {
    "SOLVER.IMS_PER_BATCH": Range(min=1),
    "SOLVER.MAX_ITER": Range(min=1),
    "SOLVER.BASE_LR": Range(gt=0),
    "SOLVER.BASE_LR_END": Range(min=0),
    "SOLVER.MOMENTUM": _UNIT,
    "SOLVER.WEIGHT_DECAY": Range(min=0),
    "SOLVER.GAMMA": Range(gt=0),
    "SOLVER.STEPS": Range(min=0),
    "SOLVER.WARMUP_FACTOR": Range(gt=0, max=1),
    "SOLVER.WARMUP_ITERS": Range(min=0),
    "SOLVER.CHECKPOINT_PERIOD": Range(min=1),
    "SOLVER.REFERENCE_WORLD_SIZE": Range(min=0),
    "SOLVER.CLIP_GRADIENTS.CLIP_VALUE": Range(gt=0),
    "DATALOADER.NUM_WORKERS": Range(min=0),
    "DATALOADER.COPY_PASTE_MIN_RATIO": Range(gt=0, max=1),
    "DATALOADER.COPY_PASTE_MAX_RATIO": Range(gt=0, max=1),
    "INPUT.MIN_SIZE_TRAIN": Range(min=1),
    "INPUT.MAX_SIZE_TRAIN": Range(min=1),
    "INPUT.MIN_SIZE_TEST": Range(min=0),
    "INPUT.MAX_SIZE_TEST": Range(min=1),
    "MODEL.RPN.BATCH_SIZE_PER_IMAGE": Range(min=1),
    "MODEL.RPN.POSITIVE_FRACTION": _UNIT,
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN": Range(min=1),
    "MODEL.RPN.PRE_NMS_TOPK_TEST": Range(min=1),
    "MODEL.RPN.POST_NMS_TOPK_TRAIN": Range(min=1),
    "MODEL.RPN.POST_NMS_TOPK_TEST": Range(min=1),
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE": Range(min=1),
    "MODEL.ROI_HEADS.POSITIVE_FRACTION": _UNIT,
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST": _UNIT,
    "MODEL.ROI_HEADS.NMS_THRESH_TEST": _UNIT,
    "TEST.EVAL_PERIOD": Range(min=0),
    "TEST.DETECTIONS_PER_IMAGE": Range(min=1),
}


def check_ranges(cfg: CfgNode) -> None:
    """Raise ValueError naming the first key of `RANGES` whose value (or an item of it) is out of range."""
    for key, rng in RANGES.items():
        value = _get(cfg, key)
        for item in value if isinstance(value, list | tuple) else [value]:
            problem = rng.problem(item)
            if problem:
                raise ValueError(f"config key {key} {problem}, got {value!r}")


def _get(cfg: CfgNode, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _same(a, b) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check_implemented(cfg: CfgNode) -> None:
    """Raise ValueError naming the first key set to a value whose behaviour is not implemented, or out of its
    range (`check_ranges`)."""
    for key, what in NOT_IMPLEMENTED.items():
        value, default = _get(cfg, key), _get(_C, key)
        if not _same(value, default):
            raise ValueError(f"config key {key} = {value!r} is not implemented ({what}); only its default "
                             f"{default!r} is accepted")
    for key, allowed in EQUIVALENT_VALUES.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise ValueError(f"config key {key} = {value!r} must be one of {list(allowed)}")
    check_ranges(cfg)
