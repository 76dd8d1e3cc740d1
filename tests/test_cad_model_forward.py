"""Tiny-config forward/backward on CPU (train mode losses, eval output format) and SyncBN over gloo."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cad.config import get_cfg
from cad.modeling import build_model
from cad.modeling.layers import NaiveSyncBatchNorm
from cad.structures import Boxes, Instances

TINY = "cad/model_zoo/configs/tiny/cascade_mask_rcnn_R_18_FPN_tiny.yaml"
LOSS_NAMES = {"loss_rpn_cls", "loss_rpn_loc", "loss_mask"} | {
    f"loss_{k}_stage{s}" for k in ("cls", "box_reg") for s in range(3)
}


def _cfg(*opts):
    c = get_cfg()
    c.merge_from_file(TINY)
    c.merge_from_list(list(opts))
    c.freeze()
    return c


def _input(h, w, boxes, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
    masks = torch.zeros(len(boxes), h, w, dtype=torch.bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[i, y1:y2, x1:x2] = True
        img[:, y1:y2, x1:x2] = 40 * (i + 1)
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
    inst.gt_masks = masks
    inst.gt_scores = torch.linspace(1.0, 0.5, len(boxes))
    return {"image": img, "instances": inst, "height": 2 * h, "width": 2 * w}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(_cfg())


def test_train_mode_losses_and_gradients(model):
    model.train()
    batch = [
        _input(96, 128, [[10, 10, 50, 40], [60, 30, 120, 90]]),
        _input(128, 96, [[5, 60, 40, 120]], seed=1),
    ]
    losses = model(batch)
    assert set(losses) == LOSS_NAMES
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert 0.6 < losses["loss_rpn_cls"].item() < 0.8  # BCE of ~0 logits
    model.zero_grad()
    sum(losses.values()).backward()
    stem = model.backbone.bottom_up.stem.conv1.weight  # FREEZE_AT 0: the stem trains too
    assert stem.grad is not None and stem.grad.abs().sum() > 0
    for k in range(3):
        assert model.roi_heads.box_predictor[k].cls_score.weight.grad.abs().sum() > 0
    assert model.roi_heads.mask_head.predictor.weight.grad.abs().sum() > 0


def test_train_with_an_empty_image_in_both_droploss_modes(model):
    model.train()
    batch = [_input(96, 96, [[10, 10, 50, 40]]), _input(96, 96, [], seed=2)]
    assert model.roi_heads.droploss_quirk is True  # CutLER's matched-GT DropLoss is the default
    model.roi_heads.droploss_quirk = False         # the deviation: every GT box of the image
    try:
        losses = model(batch)
    finally:
        model.roi_heads.droploss_quirk = True
    assert set(losses) == LOSS_NAMES and all(torch.isfinite(v) for v in losses.values())
    batch[0]["instances"].remove("gt_scores")  # scores are optional (default 1)
    losses = model(batch)
    assert all(torch.isfinite(v) for v in losses.values())


def test_eval_output_format(model):
    model.eval()
    batch = [_input(96, 128, [[10, 10, 50, 40]]), _input(128, 96, [[5, 60, 40, 120]], seed=1)]
    batch[1].pop("height")
    batch[1].pop("width")
    with torch.no_grad():
        out = model(batch)
    assert len(out) == 2
    inst = out[0]["instances"]
    assert inst.image_size == (192, 256)
    n = len(inst)
    assert 0 < n <= 50
    assert inst.pred_masks.dtype == torch.bool and inst.pred_masks.shape == (n, 192, 256)
    b = inst.pred_boxes.tensor
    assert (b[:, 0] >= 0).all() and (b[:, 2] <= 256).all() and (b[:, 3] <= 192).all()
    assert ((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).all()
    assert (
        (inst.scores > 0).all() and (inst.scores <= 1).all() and (inst.scores[:-1] >= inst.scores[1:]).all()
    )
    assert inst.pred_classes.dtype == torch.long and (inst.pred_classes == 0).all()
    assert out[1]["instances"].image_size == (128, 96)  # no height/width -> network input size
    raw = model.inference(batch, do_postprocess=False)
    assert raw[0].pred_masks.shape[1:] == (1, 28, 28)
    model.roi_heads.no_segm = True  # what TEST.NO_SEGM / --no-segm sets
    try:
        with torch.no_grad():
            assert not model(batch[:1])[0]["instances"].has("pred_masks")
    finally:
        model.roi_heads.no_segm = False


def _syncbn_worker(rank, port, x, ret):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    bn = NaiveSyncBatchNorm(3).train()
    xi = x[rank * 2 : rank * 2 + 2].clone().requires_grad_(True)
    y = bn(xi)
    (y * torch.arange(3.0).view(1, 3, 1, 1)).sum().backward()
    ret[rank] = (y.detach(), xi.grad, bn.running_mean.clone(), bn.running_var.clone())
    dist.destroy_process_group()


def test_syncbn_over_gloo_equals_bn_on_the_global_batch():
    x = torch.randn(4, 3, 5, 5) * 2 + 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ret = mp.Manager().dict()
    mp.start_processes(_syncbn_worker, args=(port, x, ret), nprocs=2, join=True, start_method="fork")
    ref = torch.nn.BatchNorm2d(3).train()
    xr = x.clone().requires_grad_(True)
    yr = ref(xr)
    (yr * torch.arange(3.0).view(1, 3, 1, 1)).sum().backward()
    for rank in range(2):
        y, g, rm, rv = ret[rank]
        torch.testing.assert_close(y, yr[rank * 2 : rank * 2 + 2].detach(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(g, xr.grad[rank * 2 : rank * 2 + 2], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(rm, ref.running_mean, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(rv, ref.running_var, atol=1e-6, rtol=1e-5)
