"""Copy-paste invariants on hand-built scenes with known answers (CAD_SPEC B.3)."""

import random

import torch

from cad.data.copy_paste import copy_paste_batch, paste
from cad.data.transforms import masks_to_boxes
from cad.structures import Boxes, Instances


def _inst(masks, scores=None):
    masks = torch.stack(masks) if masks else torch.zeros((0, 20, 20), dtype=torch.bool)
    n = masks.shape[0]
    return Instances(
        tuple(masks.shape[-2:]) if n else (20, 20),
        gt_boxes=Boxes(masks_to_boxes(masks)),
        gt_classes=torch.zeros(n, dtype=torch.int64),
        gt_masks=masks,
        gt_scores=torch.tensor(scores if scores is not None else [1.0] * n, dtype=torch.float32),
    )


def _rect(y1, y2, x1, x2, h=20, w=20):
    m = torch.zeros((h, w), dtype=torch.bool)
    m[y1:y2, x1:x2] = True
    return m


def test_masks_to_boxes_tight_exclusive():
    m = torch.stack([_rect(2, 5, 3, 9), torch.zeros(20, 20, dtype=torch.bool)])
    assert masks_to_boxes(m).tolist() == [[3.0, 2.0, 9.0, 5.0], [0.0, 0.0, 0.0, 0.0]]


def test_occlusion_removes_pixels_and_recomputes_boxes():
    # target: one 10x10 object; source: an object covering its right 3 columns (30% < 50%)
    tgt_img = torch.full((3, 20, 20), 10, dtype=torch.uint8)
    src_img = torch.full((3, 20, 20), 200, dtype=torch.uint8)
    target = _inst([_rect(5, 15, 5, 15)], [0.7])
    source = _inst([_rect(0, 20, 12, 20)], [0.4])
    img, out = paste(tgt_img, target, src_img, source, torch.tensor([0]), ratio=1.0, dx=0, dy=0)
    assert len(out) == 2
    existing, pasted = out.gt_masks[0], out.gt_masks[1]
    assert existing.sum() == 10 * 7 and not existing[:, 12:].any()  # occluded columns removed
    assert not (existing & pasted).any()
    assert out.gt_boxes.tensor.tolist() == [[5.0, 5.0, 12.0, 15.0], [12.0, 0.0, 20.0, 20.0]]
    assert torch.allclose(out.gt_scores, torch.tensor([0.7, 0.4]))
    # pixels under the pasted mask come from the source, the others are untouched
    assert (img[:, :, 12:] == 200).all() and (img[:, :, :12] == 10).all()
    # inputs are not modified
    assert target.gt_masks[0].sum() == 100


def test_object_covering_half_of_an_existing_one_is_not_pasted():
    img = torch.zeros((3, 20, 20), dtype=torch.uint8)
    target = _inst([_rect(0, 10, 0, 10), _rect(15, 20, 15, 20)])
    source = _inst([_rect(0, 4, 0, 10), _rect(14, 20, 14, 20)])
    _, out = paste(img, target, img, source, torch.tensor([0, 1]), 1.0, 0, 0)
    # pasted 0 covers 40 of 100 pixels of object 0 -> kept; pasted 1 covers all of object 1 -> not pasted
    assert len(out) == 3
    assert [int(m.sum()) for m in out.gt_masks] == [60, 25, 40]
    assert out.gt_boxes.tensor.tolist() == [[0.0, 4.0, 10.0, 10.0], [15.0, 15.0, 20.0, 20.0],
                                            [0.0, 0.0, 10.0, 4.0]]
    # nothing kept -> the target is returned unchanged
    _, out = paste(img, target, img, _inst([_rect(14, 20, 14, 20)]), torch.tensor([0]), 1.0, 0, 0)
    assert out is target


def test_fully_occluded_existing_object_is_dropped():
    # each pasted object covers < 50% of the existing one, together they cover all of it
    img = torch.zeros((3, 20, 20), dtype=torch.uint8)
    target = _inst([_rect(0, 2, 0, 10)], [0.9])  # 20 pixels
    source = _inst([_rect(0, 2, 0, 4), _rect(0, 2, 4, 8), _rect(0, 2, 8, 10)], [0.1, 0.2, 0.3])
    _, out = paste(img, target, img, source, torch.tensor([0, 1, 2]), 1.0, 0, 0)
    assert len(out) == 3
    assert torch.allclose(out.gt_scores, torch.tensor([0.1, 0.2, 0.3]))
    assert int(out.gt_masks.sum()) == 20


def test_cover_threshold_exactly_half_is_rejected():
    img = torch.zeros((3, 20, 20), dtype=torch.uint8)
    target = _inst([_rect(0, 10, 0, 10)])
    half = _inst([_rect(0, 5, 0, 10)])
    _, out = paste(img, target, img, half, torch.tensor([0]), 1.0, 0, 0)
    assert len(out) == 1  # 50/100 = 0.5 is not < 0.5
    less = _inst([_rect(0, 5, 0, 9)])
    _, out = paste(img, target, img, less, torch.tensor([0]), 1.0, 0, 0)
    assert len(out) == 2


def test_scaled_paste_window_and_boxes():
    tgt = torch.zeros((3, 20, 40), dtype=torch.uint8)
    src = torch.full((3, 10, 10), 255, dtype=torch.uint8)
    source = _inst([_rect(0, 10, 0, 10, 10, 10)])
    target = Instances((20, 40), gt_boxes=Boxes(torch.zeros((0, 4))),
                       gt_classes=torch.zeros(0, dtype=torch.long),
                       gt_masks=torch.zeros((0, 20, 40), dtype=torch.bool), gt_scores=torch.zeros(0))
    img, out = paste(tgt, target, src, source, torch.tensor([0]), ratio=0.5, dx=7, dy=3)
    # the source is stretched to half the target size (10 x 20) and placed at (7, 3)
    assert out.gt_boxes.tensor.tolist() == [[7.0, 3.0, 27.0, 13.0]]
    assert (img[:, 3:13, 7:27] == 255).all() and img.sum() == 255 * 3 * 200


def test_copy_paste_batch_pairs_and_counts():
    rng = random.Random(0)
    imgs = [torch.full((3, 16, 16), v, dtype=torch.uint8) for v in (1, 2, 3, 4)]
    insts = [_inst([_rect(0, 3, 0, 3, 16, 16), _rect(10, 14, 10, 14, 16, 16)], [0.1 * (i + 1)] * 2)
             for i in range(4)]
    batch = [{"image": im, "instances": ins} for im, ins in zip(imgs, insts)]
    out = copy_paste_batch(batch, rate=1.0, random_num=True, min_ratio=0.3, max_ratio=1.0, rng=rng)
    assert len(out) == 4
    for i, d in enumerate(out):
        inst = d["instances"]
        # boxes always equal the tight boxes of the masks; no empty masks; scores come from target/source
        assert torch.equal(inst.gt_boxes.tensor, masks_to_boxes(inst.gt_masks))
        assert inst.gt_masks.flatten(1).any(dim=1).all()
        allowed = {round(0.1 * (i + 1), 4), round(0.1 * (4 - i), 4)}
        assert {round(float(s), 4) for s in inst.gt_scores} <= allowed
        # random_num with 2 source objects copies exactly 1 -> at most 3 instances
        assert len(inst) <= 3
    # the sources are untouched
    assert all(len(b["instances"]) == 2 for b in batch)
    # rate 0 leaves everything unchanged
    same = copy_paste_batch(batch, rate=0.0, rng=random.Random(1))
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(same, batch))
