"""Known-answer tests of the detector's building blocks (Detectron2 semantics)."""

import math

import pytest
import torch
import torch.nn.functional as F

from cad.config import get_cfg
from cad.modeling.anchor_generator import DefaultAnchorGenerator, generate_cell_anchors
from cad.modeling.box_regression import SCALE_CLAMP, Box2BoxTransform
from cad.modeling.layers import ScaleGradient
from cad.modeling.matcher import Matcher
from cad.modeling.poolers import ROIPooler, assign_boxes_to_levels
from cad.modeling.postprocessing import paste_masks_in_image
from cad.modeling.roi_heads import CascadeROIHeads, FastRCNNOutputLayers, droploss_weights, mask_targets
from cad.modeling.roi_heads.fast_rcnn import matched_gt_quirk_set, soft_cross_entropy
from cad.modeling.rpn import RPN
from cad.structures import Boxes, Instances

TINY = "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"


def _tiny_cfg():
    c = get_cfg()
    c.merge_from_file(TINY)
    return c


# --- anchors ---------------------------------------------------------------------------------------------
def test_cell_anchors_are_unrounded():
    a = generate_cell_anchors([32], [0.5, 1.0, 2.0])
    w = math.sqrt(32 * 32 / 0.5)  # 45.2548, h = 22.6274
    expected = torch.tensor(
        [[-w / 2, -w / 4, w / 2, w / 4], [-16, -16, 16, 16], [-w / 4, -w / 2, w / 4, w / 2]]
    )
    torch.testing.assert_close(a, expected.float())
    assert abs(a[0, 0].item() + 22.627417) < 1e-4 and abs(a[0, 1].item() + 11.313708) < 1e-4


def test_anchor_grid_strides_and_order():
    gen = DefaultAnchorGenerator([[32], [64], [128], [256], [512]], [[0.5, 1.0, 2.0]], [4, 8, 16, 32, 64])
    # 800 x 1216 padded input: P6 grid is 13 x 19 and keeps stride 64 (torchvision would infer 800 // 13 = 61)
    feats = [torch.zeros(1, 1, 800 // s, 1216 // s) for s in (4, 8, 16, 32)] + [torch.zeros(1, 1, 13, 19)]
    anchors = gen(feats)
    assert [len(a) for a in anchors] == [200 * 304 * 3, 100 * 152 * 3, 50 * 76 * 3, 25 * 38 * 3, 13 * 19 * 3]
    p6 = anchors[4].tensor.view(13, 19, 3, 4)
    centres = (p6[..., :2] + p6[..., 2:]) / 2
    assert torch.allclose(centres[12, 18, 1], torch.tensor([18 * 64.0, 12 * 64.0]))  # (x, y) = stride * index
    torch.testing.assert_close(p6[0, 1, 1], torch.tensor([64 - 256.0, -256.0, 64 + 256.0, 256.0]))
    p2 = anchors[0].tensor.view(200, 304, 3, 4)
    torch.testing.assert_close(
        p2[1, 2], torch.tensor([8.0, 4.0, 8.0, 4.0]) + generate_cell_anchors([32], [0.5, 1, 2])
    )


# --- box coder -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage,scale", [(0, 1.0), (1, 2.0), (2, 3.0)])
def test_cascade_box_coding_values_and_roundtrip(stage, scale):
    weights = _tiny_cfg().MODEL.ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS[stage]
    t = Box2BoxTransform(weights)
    src = torch.tensor([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 45.0, 25.0]])
    tgt = torch.tensor([[1.0, 2.0, 11.0, 22.0], [0.0, 0.0, 80.0, 10.0]])
    d = t.get_deltas(src, tgt)
    # box 0: centre shift (1, 2) on size (10, 20), same size; weights (10,10,5,5) x scale
    torch.testing.assert_close(d[0], torch.tensor([1.0, 1.0, 0.0, 0.0]) * scale)
    # box 1: centre (25,15)->(40,5), size (40,20)->(80,10)
    exp1 = torch.tensor([10 * 15 / 40, 10 * -10 / 20, 5 * math.log(2.0), 5 * math.log(0.5)]) * scale
    torch.testing.assert_close(d[1], exp1)
    torch.testing.assert_close(t.apply_deltas(d, src), tgt)


def test_box_decoding_clamps_scale_and_uses_fp32():
    t = Box2BoxTransform((10.0, 10.0, 5.0, 5.0))
    out = t.apply_deltas(
        torch.tensor([[0.0, 0.0, 100.0, 0.0]], dtype=torch.float16), torch.tensor([[0, 0, 2.0, 2]])
    )
    assert out.dtype == torch.float32
    w = out[0, 2] - out[0, 0]
    assert abs(w.item() - 2.0 * math.exp(SCALE_CLAMP)) < 1e-3 and abs(w.item() - 125.0) < 1e-3


# --- matcher ---------------------------------------------------------------------------------------------
def test_matcher_keeps_argmax_gt_for_background():
    m = Matcher([0.5], [0, 1])
    iou = torch.tensor([[0.6, 0.1, 0.0], [0.2, 0.3, 0.0]])
    idx, labels = m(iou)
    assert idx.tolist() == [0, 1, 0] and labels.tolist() == [1, 0, 0]
    rpn = Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=True)
    idx, labels = rpn(torch.tensor([[0.5, 0.2, 0.1]]))
    assert labels.tolist() == [1, 0, 0]  # best anchor of the GT promoted despite IoU 0.5 in the ignore band


# --- pooler ----------------------------------------------------------------------------------------------
def test_pooler_level_assignment():
    sides = torch.tensor([10.0, 111.9, 112.0, 223.9, 224.0, 447.9, 448.0, 2000.0])
    boxes = Boxes(torch.stack([torch.zeros(8), torch.zeros(8), sides, sides], dim=1))
    lv = assign_boxes_to_levels([boxes], 2, 5)
    assert lv.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # levels 2,2,3,3,4,4,5,5 relative to P2


def test_pooler_aligned_sampling_and_routing():
    pooler = ROIPooler(2, [1 / 4, 1 / 8, 1 / 16, 1 / 32], sampling_ratio=0, aligned=True)
    feats = []
    for lvl, stride in enumerate((4, 8, 16, 32)):
        size = 256 // stride
        x = torch.arange(size, dtype=torch.float32).view(1, 1, 1, size).expand(1, 1, size, size)
        feats.append(torch.cat([x, torch.full_like(x, float(lvl))], dim=1))  # ch0 = column, ch1 = level
    boxes = [Boxes(torch.tensor([[0.0, 0.0, 16.0, 16.0], [0.0, 0.0, 256.0, 256.0]]))]
    out = pooler(feats, boxes)
    assert out.shape == (2, 2, 2, 2)
    assert out[0, 1].unique().tolist() == [0.0] and out[1, 1].unique().tolist() == [2.0]  # P2 and P4
    # box 0 on P2 is (0,0,4,4) with the -0.5 shift: bins [-0.5,1.5], [1.5,3.5], 2 samples each
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.5, 2.5]))
    # box 1 on P4 (16 x 16 map) is (0,0,16,16) - 0.5: bin centres sampled at 1.5+/-... -> means 3.5, 11.5
    torch.testing.assert_close(out[1, 0, 0], torch.tensor([3.5, 11.5]))


# --- DropLoss and soft targets ---------------------------------------------------------------------------
def test_droploss_weights_known_example():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    pred = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # IoU 1 -> kept
            [0.0, 0.0, 1.0, 1.0],  # IoU exactly 0.01 with gt0 -> dropped (<=)
            [0.0, 0.0, 1.0, 1.01],  # IoU 0.0101 -> kept
            [100.0, 100.0, 120.0, 120.0],  # no overlap -> dropped
            [55.0, 55.0, 70.0, 70.0],  # overlaps only the second GT (IoU 25/300) -> kept
        ]
    )
    w = droploss_weights([pred[:3], pred[3:]], [gt, gt], 0.01)
    assert w.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    # an image whose only pseudo box is the first GT drops the last proposal
    assert droploss_weights([pred[3:]], [gt[:1]], 0.01).tolist() == [0.0, 0.0]


def test_droploss_quirk_gt_set_uses_first_k_matched():
    p = Instances((100, 100))
    matched = torch.tensor([[0, 0, 1, 1.0], [0, 0, 1, 1], [2, 2, 3, 3], [0, 0, 1, 1], [5, 5, 6, 6]])
    p.gt_boxes = Boxes(matched)
    # 3 distinct boxes among the first 100 -> G = first 3 matched boxes (duplicate included, [5,5,6,6] missed)
    torch.testing.assert_close(matched_gt_quirk_set(p), matched[:3])


def test_soft_cross_entropy_values():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([[0.8, 0.2], [0.0, 1.0]])
    lse0 = math.log(math.exp(2) + 1)
    lse1 = math.log(1 + math.e)
    expected = torch.tensor([-(0.8 * (2 - lse0) + 0.2 * (0 - lse0)), -(1 - lse1)])
    torch.testing.assert_close(soft_cross_entropy(logits, targets), expected)


def test_stage_losses_soft_targets_droploss_and_normalisation():
    pred = FastRCNNOutputLayers(4, 1, Box2BoxTransform((10.0, 10.0, 5.0, 5.0)), use_soft_targets=True)
    logits = torch.tensor([[2.0, 0.0], [0.5, -0.5], [0.0, 1.0], [1.0, 1.0]])
    deltas = torch.tensor(
        [[0.5, -0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [9.0, 9.0, 9.0, 9.0], [0.0, 0.0, 0.0, 0.0]]
    )
    p = Instances((100, 100))
    p.proposal_boxes = Boxes(torch.tensor([[0.0, 0, 10, 10], [0, 0, 20, 20], [50, 50, 60, 60], [0, 0, 5, 5]]))
    p.gt_boxes = Boxes(torch.tensor([[1.0, 0, 11, 10], [0, 0, 20, 20], [0, 0, 20, 20], [0, 0, 20, 20]]))
    p.gt_classes = torch.tensor([0, 0, 1, 1])  # two fg, two bg (bg = class 1 = last column)
    p.gt_scores = torch.tensor([0.8, 0.5, 0.9, 0.3])
    w = torch.tensor([1.0, 1.0, 1.0, 0.0])
    losses = pred.losses((logits, deltas), [p], weights=w)
    targets = torch.tensor([[0.8, 0.2], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]])
    ce = -(targets * F.log_softmax(logits, dim=1)).sum(1)
    torch.testing.assert_close(losses["loss_cls"], (ce * w).sum() / 4)
    # fg 0: target (1, 0, 0, 0) vs (0.5, -0.5, 0, 0): L1 1.0 x 0.8; fg 1: target 0 vs (0, 0, 1, 0): 1 x 0.5
    torch.testing.assert_close(losses["loss_box_reg"], torch.tensor((1.0 * 0.8 + 1.0 * 0.5) / 4))
    hard = FastRCNNOutputLayers(4, 1, Box2BoxTransform((10.0, 10.0, 5.0, 5.0)), use_soft_targets=False)
    lh = hard.losses((logits, deltas), [p])
    torch.testing.assert_close(lh["loss_cls"], F.cross_entropy(logits, p.gt_classes))
    torch.testing.assert_close(lh["loss_box_reg"], torch.tensor(2.0 / 4))


def test_scale_gradient():
    x = torch.ones(3, requires_grad=True)
    ScaleGradient.apply(x, 1 / 3).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), 1 / 3))


# --- RPN loss --------------------------------------------------------------------------------------------
def test_rpn_losses_are_l1_over_256_per_image():
    cfg = _tiny_cfg()
    cfg.MODEL.RPN.BATCH_SIZE_PER_IMAGE = 256
    rpn = RPN(cfg, {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}, 8)
    anchors = [Boxes(torch.tensor([[0.0, 0, 10, 10], [0, 0, 20, 20], [5, 5, 15, 15]]))]
    labels = [torch.tensor([1, 0, -1])]
    gt = [torch.tensor([[1.0, 1, 11, 11], [0, 0, 1, 1], [0, 0, 1, 1]])]
    pred_logits = [torch.tensor([[0.0, 2.0, 5.0]])]
    pred_deltas = [torch.tensor([[[0.2, 0.0, 0.0, 0.3], [0, 0, 0, 0], [0, 0, 0, 0]]])]
    losses = rpn.losses(anchors, pred_logits, labels, pred_deltas, gt)
    # target deltas of anchor 0 (weights 1): (0.1, 0.1, 0, 0); L1 = 0.1 + 0.1 + 0 + 0.3
    torch.testing.assert_close(losses["loss_rpn_loc"], torch.tensor(0.5 / 256))
    bce = F.binary_cross_entropy_with_logits(
        torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]), reduction="sum"
    )
    torch.testing.assert_close(losses["loss_rpn_cls"], bce / 256)


# --- cascade inference ------------------------------------------------------------------------------------
def test_test_time_scores_average_the_stages_and_boxes_come_from_the_last():
    cfg = _tiny_cfg()
    heads = CascadeROIHeads(cfg, {"p2": 4, "p3": 8, "p4": 16, "p5": 32}, 64).eval()
    fg_probs = [0.2, 0.5, 0.95]
    shift = [0.0, 0.0, 10.0]  # only the last stage moves the boxes (dx in units of width / 30)

    def fake_stage(features, proposals, stage):
        n = sum(len(p) for p in proposals)
        p = fg_probs[stage]
        logits = torch.tensor([[math.log(p / (1 - p)), 0.0]]).expand(n, 2)
        deltas = torch.zeros(n, 4)
        deltas[:, 0] = shift[stage] * 30 / 10
        return logits, deltas

    heads._run_stage = fake_stage
    props = Instances((200, 200))
    props.proposal_boxes = Boxes(torch.tensor([[0.0, 0, 10, 10], [100, 100, 150, 120]]))
    props.objectness_logits = torch.zeros(2)
    with torch.no_grad():
        inst = heads._forward_box(dict.fromkeys(heads.in_features), [props])[0]
    assert len(inst) == 2
    torch.testing.assert_close(inst.scores, torch.full((2,), sum(fg_probs) / 3))
    boxes = inst.pred_boxes.tensor[inst.pred_boxes.tensor[:, 0].argsort()]
    torch.testing.assert_close(boxes, torch.tensor([[10.0, 0, 20, 10], [150, 100, 200, 120]]))


# --- masks -----------------------------------------------------------------------------------------------
def test_mask_targets_are_aligned_and_binary():
    m = torch.zeros(1, 40, 40, dtype=torch.bool)
    m[0, 10:20, 10:30] = True  # left half of the box below
    box = torch.tensor([[10.0, 10.0, 50.0, 20.0]])
    t = mask_targets(m, torch.tensor([0]), box, 28)
    assert t.dtype == torch.bool and t.shape == (1, 28, 28)
    assert t[0, :, :14].all() and not t[0, :, 14:].any()


def test_paste_masks_detectron2_semantics():
    probs = torch.ones(1, 28, 28)
    out = paste_masks_in_image(probs, torch.tensor([[10.0, 10.0, 20.0, 20.0]]), (40, 40))
    assert out.dtype == torch.bool and out.shape == (1, 40, 40)
    expected = torch.zeros(40, 40, dtype=torch.bool)
    expected[10:20, 10:20] = True  # pixel centres inside the continuous box
    assert torch.equal(out[0], expected)
    half = torch.zeros(1, 28, 28)
    half[:, :, :14] = 1.0
    out = paste_masks_in_image(half, torch.tensor([[0.0, 0.0, 28.0, 28.0]]), (28, 28))
    assert out[0, :, :14].all() and not out[0, :, 14:].any()
