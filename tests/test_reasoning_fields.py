"""Analytic checks of the reasoning primitives: proposals, crops, erosion, anti-center map, boundary steps."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from reasoning.algorithm import ReasoningConfig
from reasoning.boxes import enlarge_boxes, split_boxes
from reasoning.crops import crop_resize_batched, crop_resize_loop, on_edge_flags, pixel_boxes
from reasoning.fields import (
    anti_center_map,
    boundary_update,
    component_boxes,
    edge_movements,
    erode,
    split_evidence,
    union_masks,
)
from reasoning.proposals import generate_proposals

S = 128


def test_proposals_layout_and_clipping():
    boxes = generate_proposals(100, 150)
    # grid 32: 4 x 5 centers, 64: 2 x 3, 128/256/512: 1 x 2, 1 x 1, 1 x 1 -> 3 boxes each, + whole image
    assert boxes.shape == (3 * (20 + 6 + 2 + 1 + 1) + 1, 4)
    assert boxes[:, :2].min() >= 0 and boxes[:, 2].max() <= 150 and boxes[:, 3].max() <= 100
    np.testing.assert_array_equal(boxes[0], [0, 0, 32, 32])     # square at (0, 0), g = 32
    np.testing.assert_array_equal(boxes[1], [0, 0, 16, 32])     # tall: half-extents (16, 32)
    np.testing.assert_array_equal(boxes[2], [0, 0, 32, 16])     # wide
    np.testing.assert_array_equal(boxes[3], [0, 0, 64, 32])     # next center (x=32, y=0): [0, -32, 64, 32]
    np.testing.assert_array_equal(boxes[-1], [0, 0, 150, 100])


def test_pixel_boxes_round_outward_and_edges():
    pix = pixel_boxes(torch.tensor([[0.7, 1.2, 10.1, 20.0], [5.0, 5.0, 99.5, 60.0]]), 60, 100)
    assert pix.tolist() == [[0, 1, 11, 20], [5, 5, 100, 60]]
    assert on_edge_flags(pix, 60, 100).tolist() == [[True, False, False, False], [False, False, True, True]]


def test_roi_align_crops_equal_explicit_crop_and_resize():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 300, 400, generator=g)
    pix = torch.tensor([[0, 0, 400, 300], [10, 20, 200, 160], [150, 100, 290, 300], [7, 3, 135, 131]])
    batched = crop_resize_batched(image, pix)
    for b, (x1, y1, x2, y2) in zip(batched, pix.tolist()):
        ref = F.interpolate(image[None, :, y1:y2, x1:x2], (S, S), mode="bilinear", align_corners=False)[0]
        torch.testing.assert_close(b, ref, atol=1e-5, rtol=0)
    # small crops (up-sampling): identical except the outermost half pixel, which sees image context
    small = torch.tensor([[50, 60, 90, 100]])
    ref = F.interpolate(image[None, :, 60:100, 50:90], (S, S), mode="bilinear", align_corners=False)[0]
    got = crop_resize_batched(image, small)[0]
    torch.testing.assert_close(got[:, 2:-2, 2:-2], ref[:, 2:-2, 2:-2], atol=1e-5, rtol=0)


def test_loop_crops_equal_the_original_non_antialiased_resize():
    # the original pinned torchvision 0.14, whose tensor Resize is bilinear without antialias
    image = torch.rand(3, 200, 260, generator=torch.Generator().manual_seed(1))
    pix = torch.tensor([[3, 4, 250, 190], [20, 30, 60, 80]])
    loop = crop_resize_loop(image, pix)
    for b, (x1, y1, x2, y2) in zip(loop, pix.tolist()):
        ref = TF.resize(image[:, y1:y2, x1:x2], [S, S], InterpolationMode.BILINEAR, antialias=False)
        assert torch.equal(b, ref)
        aa = TF.resize(image[:, y1:y2, x1:x2], [S, S], InterpolationMode.BILINEAR, antialias=True)
        if (x2 - x1) > S:
            assert (b - aa).abs().max() > 1e-2  # shrinking: antialias would change the crop
    # and the batched default equals it for crops of at least S px (one roi_align call for all)
    torch.testing.assert_close(crop_resize_batched(image, pix[:1]), loop[:1], atol=1e-5, rtol=0)


def test_erode_equals_repeated_conv_definition():
    masks = torch.rand(3, S, S, generator=torch.Generator().manual_seed(2)) > 0.05
    masks[:, 40:90, 30:100] = True
    ref = masks.clone().long()
    for _ in range(3):  # definition: all 81 taps of a zero-padded 9x9 window are foreground
        conv = F.conv2d(ref[:, None].double(), torch.ones(1, 1, 9, 9, dtype=torch.float64), padding=4)[:, 0]
        ref = (conv >= 81).long()
    assert torch.equal(erode(masks), ref.bool())
    # one round of another size
    conv = F.conv2d(masks[:, None].double(), torch.ones(1, 1, 5, 5, dtype=torch.float64), padding=2)[:, 0]
    assert torch.equal(erode(masks, 5, 1), conv >= 25)
    # a window too large for 16-bit counts (183 x 183: the 32-bit path), against a separable max pool
    big = torch.ones(1, 400, 400, dtype=torch.bool)
    big[0, 300, 350] = big[0, 20, 200] = False
    pad = 183 // 2
    bg = F.pad((~big).double()[:, None], (pad, pad, pad, pad), value=1.0)
    ref = F.max_pool2d(F.max_pool2d(bg, (183, 1), stride=1), (1, 183), stride=1)[:, 0] < 0.5
    assert ref.any() and torch.equal(erode(big, 92, 2), ref)


def _disc_fields(centers, radius, size=S):
    """Center fields of discs (pixel owned by the nearest center) and their union mask."""
    r = torch.arange(size, dtype=torch.float64)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    field = torch.zeros(2, size, size, dtype=torch.float64)
    owner = torch.full((size, size), -1)
    best = torch.full((size, size), float("inf"), dtype=torch.float64)
    for k, (cy, cx) in enumerate(centers):
        d = torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        take = (d <= radius) & (d < best)
        owner[take] = k
        best = torch.where(take, d, best)
        v = torch.stack([yy - cy, xx - cx]) / d.clamp(min=1e-12)
        field = torch.where(take[None], v, field)
    return field.float(), owner >= 0


def test_anti_center_map_center_and_seam():
    field, mask = _disc_fields([(64, 40), (64, 88)], radius=30)  # touching discs: seam at column 64
    acm = anti_center_map(field[None])[0]
    assert acm[64, 40] == pytest.approx(-1.0, abs=1e-4)
    assert acm[64, 88] == pytest.approx(-1.0, abs=1e-4)
    assert acm[64, 63:65].max() > 0.3                      # vectors from both sides meet on the seam
    sdf = torch.where(mask, 0.5, -0.5)[None]
    union = union_masks(field[None], sdf)
    value, rc = split_evidence(field[None], union)
    assert value.item() > 0.009
    assert 62 <= rc[0, 1].item() <= 65 and 40 <= rc[0, 0].item() <= 88  # argmax lies on the seam
    halves = split_boxes(torch.tensor([[100.0, 50.0, 228.0, 178.0]]), rc, S)
    xs = 100 + rc[0, 1].item()
    assert halves[0].tolist() == pytest.approx([100, 50, xs, 178])   # left
    assert halves[1].tolist() == pytest.approx([xs, 50, 228, 178])   # right
    # one disc alone: nothing to split
    single, smask = _disc_fields([(64, 64)], radius=40)
    v1, _ = split_evidence(single[None], union_masks(single[None], torch.where(smask, 0.5, -0.5)[None]))
    assert v1.item() <= 0.009


def _linear_sdf(left, top, right, bottom, size=S):
    """sdf = signed distance to the rectangle [left, right) x [top, bottom) in crop pixels, divided by 64."""
    r = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    inside_x = torch.minimum(xx - left, right - 1 - xx)
    inside_d = torch.minimum(inside_x, torch.minimum(yy - top, bottom - 1 - yy))
    out_x = torch.clamp(torch.maximum(left - xx, xx - (right - 1)), min=0)
    out_y = torch.clamp(torch.maximum(top - yy, yy - (bottom - 1)), min=0)
    outside_d = torch.sqrt(out_x**2 + out_y**2)
    return torch.where(outside_d > 0, -outside_d, inside_d) / 64.0


def test_edge_movements_signs():
    # object continues past the right edge, empty margins of 20 px elsewhere
    sdf = _linear_sdf(20, 20, 200, 108)[None]
    m = edge_movements(sdf)[0]
    assert m[2] > 0                              # right: expand
    assert m[0] < 0 and m[1] < 0 and m[3] < 0    # left/top/bottom: shrink
    assert m[0].item() == pytest.approx(-20, abs=1.5)  # distance in crop pixels (unit gradient of the sdf)


def test_boundary_update_expand_shrink_border_and_convergence():
    cfg = ReasoningConfig()  # max shrink 16 crop px, delta ratio 0.5

    def boundary_update_(boxes, moves, on_edge, height, width):
        return boundary_update(boxes, moves, on_edge, height, width, max_shrink=cfg.max_shrink_threshold,
                               delta_ratio=cfg.delta_ratio)

    box = torch.tensor([[100.0, 100.0, 228.0, 164.0]])  # 128 x 64 px
    on_edge = torch.zeros(1, 4, dtype=torch.bool)
    # expansion on the right: moves by m * 1.5 * (box width / 128)
    conv, new = boundary_update_(box, torch.tensor([[-4.0, -4.0, 10.0, -4.0]]), on_edge, 400, 400)
    assert not conv.item()
    assert new[0].tolist() == pytest.approx([100 + 2, 100 + 1, 228 + 15, 164 - 1])
    # shrink by more than 16: moves by m * 0.5 * scale
    conv, new = boundary_update_(box, torch.tensor([[-40.0, -2.0, -2.0, -2.0]]), on_edge, 400, 400)
    assert not conv.item() and new[0, 0].item() == pytest.approx(120)
    # converged: nothing expands, nothing shrinks by more than 16 -> box unchanged
    conv, new = boundary_update_(box, torch.tensor([[-16.0, -3.0, 0.0, -10.0]]), on_edge, 400, 400)
    assert conv.item() and torch.equal(new, box.double())
    # an edge on the image border does not count as expanding, and never moves past the border
    border_box = torch.tensor([[0.0, 100.0, 128.0, 164.0]])
    flags = torch.tensor([[True, False, False, False]])
    conv, new = boundary_update_(border_box, torch.tensor([[30.0, -3.0, -3.0, -3.0]]), flags, 400, 400)
    assert conv.item() and new[0, 0].item() == 0
    conv, new = boundary_update_(border_box, torch.tensor([[30.0, -3.0, 5.0, -3.0]]), flags, 400, 400)
    assert not conv.item() and new[0, 0].item() == 0 and new[0, 2].item() == pytest.approx(135.5)


def test_components_and_enlarge():
    mask = np.zeros((S, S), bool)
    mask[10:20, 10:30] = True
    mask[50:60, 70:90] = True
    mask[20, 30] = True  # diagonal neighbour: 8-connected to the first block
    assert component_boxes(mask) == [[10, 10, 31, 21], [70, 50, 90, 60]]
    assert enlarge_boxes([[10, 10, 30, 20]], 100, 100, 1.5) == [[5, 7, 35, 22]]
    assert enlarge_boxes([[0, 0, 30, 20]], 100, 100, 1.5) == [[0, 0, 37, 25]]


class _TinyObjectness(torch.nn.Module):
    """Deterministic stand-in network: fields are smooth functions of the crop."""

    def forward(self, x):
        g = x.mean(1, keepdim=True)
        return {"center_fields": torch.cat([g, 1 - g], 1), "sdf_maps": torch.tanh(4 * (g - 0.5))}


class _TinyExistence(torch.nn.Module):
    def forward(self, x):
        return x.mean((1, 2, 3))[:, None]


def test_network_predictor_batched_and_loop_paths_agree_and_count():
    from reasoning.predict import NetworkPredictor
    from reasoning.stats import CountingPredictor

    coarse = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(3))
    image = F.interpolate(coarse, (300, 320), mode="bilinear", align_corners=False)[0]  # smooth image
    boxes = torch.tensor([[0.0, 0.0, 320.0, 300.0], [10.5, 20.2, 200.0, 190.7], [100.0, 50.0, 299.0, 250.0]])
    out = {}
    for mode in ("batched", "loop"):
        pred = CountingPredictor(NetworkPredictor(_TinyObjectness(), _TinyExistence(), torch.device("cpu"),
                                                  batch_size=2, precision="fp32", crop_mode=mode))
        out[mode] = pred.predict(image, boxes, {"fields", "existence"})
        assert pred.counts == {"objectness": 3, "existence": 3}
        assert out[mode]["sdf_maps"].shape == (3, S, S) and out[mode]["center_fields"].shape == (3, 2, S, S)
    # crops larger than 128 px: both paths are the same non-antialiased bilinear resize
    torch.testing.assert_close(out["batched"]["sdf_maps"], out["loop"]["sdf_maps"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out["batched"]["existence"], out["loop"]["existence"], atol=1e-5, rtol=0)


def test_network_predictor_feeds_the_training_crop_size_and_returns_the_reasoning_grid():
    from reasoning.predict import NetworkPredictor

    seen = []

    class Recording(_TinyObjectness):
        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            return super().forward(x)

    image = torch.rand(3, 90, 120, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[0.0, 0.0, 120.0, 90.0], [10.0, 5.0, 70.0, 80.0]])
    pred = NetworkPredictor(Recording(), _TinyExistence(), torch.device("cpu"), batch_size=256,
                            precision="fp32", crop_mode="batched", input_size=64)
    out = pred.predict(image, boxes, {"fields"})
    assert seen == [(64, 64)]
    assert out["sdf_maps"].shape == (2, S, S) and out["center_fields"].shape == (2, 2, S, S)
    # the upsampled field equals the network's 64x64 output resampled bilinearly to the 128 grid
    small = Recording()(crop_resize_batched(image, pixel_boxes(boxes, 90, 120), 64))["sdf_maps"]
    expect = F.interpolate(small, size=(S, S), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(out["sdf_maps"], expect)


def test_network_predictor_predict_many_mixes_images_in_a_batch_and_splits_back():
    from reasoning.predict import NetworkPredictor, Request

    calls = []

    class Recording(_TinyObjectness):
        def forward(self, x):
            calls.append(x.shape[0])
            return super().forward(x)

    g = torch.Generator().manual_seed(5)
    images = [torch.rand(3, 90, 120, generator=g), torch.rand(3, 60, 80, generator=g),
              torch.rand(3, 70, 70, generator=g)]
    boxes = [torch.tensor([[0.0, 0.0, 120.0, 90.0], [10.0, 5.0, 70.0, 80.0], [3.0, 4.0, 50.0, 60.0]]),
             torch.zeros(0, 4), torch.tensor([[5.0, 5.0, 60.0, 66.0], [0.0, 0.0, 30.0, 20.0]])]
    pred = NetworkPredictor(Recording(), _TinyExistence(), torch.device("cpu"), batch_size=4,
                            precision="fp32", crop_mode="batched", input_size=32)
    many = pred.predict_many([Request(im, b, i) for i, (im, b) in enumerate(zip(images, boxes))],
                             {"fields", "existence"})
    assert calls == [4, 1]  # 5 crops of two images in batches of 4: the first batch mixes them
    calls.clear()
    for im, b, out in zip(images, boxes, many):
        alone = pred.predict(im, b, {"fields", "existence"})
        assert out.keys() == alone.keys() and out["sdf_maps"].shape[0] == b.shape[0]
        for key in alone:
            torch.testing.assert_close(out[key], alone[key], atol=1e-6, rtol=0)
