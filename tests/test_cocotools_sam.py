"""SAM glue with a tiny randomly initialised Segment Anything built from the package's own classes."""

import importlib.util
import json

import numpy as np
import pytest
import torch
from PIL import Image
from segment_anything import SamPredictor
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from coco_tools.box_sources import parse_via
from coco_tools.checker import check_coco
from coco_tools.common import box_region
from coco_tools.sam_masks import build_sam_predictor, generate_masks, infer_model_type, predict_box_masks
from utils.masks import rle_to_mask


def tiny_predictor(seed=0):
    torch.manual_seed(seed)
    dim = 32
    sam = Sam(
        image_encoder=ImageEncoderViT(img_size=64, patch_size=16, embed_dim=32, depth=1, num_heads=2,
                                      out_chans=dim),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(4, 4), input_image_size=(64, 64),
                                     mask_in_chans=4),
        mask_decoder=MaskDecoder(transformer_dim=dim, num_multimask_outputs=3, iou_head_depth=1,
                                 iou_head_hidden_dim=16,
                                 transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=32,
                                                               num_heads=2)),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375],
    ).eval()
    return SamPredictor(sam)


def _image(h=48, w=80, seed=0):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def test_batched_masks_match_single_box_prompts_and_stay_in_box():
    predictor = tiny_predictor()
    image = _image()
    boxes = np.array([[2, 3, 30, 40], [40.5, 10.2, 70.7, 45.9], [0, 0, 80, 48], [10, 10, 12, 13]], np.float32)
    masks = predict_box_masks(predictor, image, boxes, batch_size=3)  # two chunks
    assert masks.shape == (4, 48, 80) and masks.dtype == bool
    for box, mask in zip(boxes, masks):
        x0, y0, x1, y1 = box_region(box, 48, 80)
        outside = mask.copy()
        outside[y0:y1, x0:x1] = False
        assert not outside.any()
        predictor.set_image(image)
        single, _, _ = predictor.predict(box=box, multimask_output=False)
        clipped = np.zeros_like(single[0])
        clipped[y0:y1, x0:x1] = single[0][y0:y1, x0:x1]
        assert np.array_equal(mask, clipped)
    assert masks[2].sum() > 0


def _via_export(names):
    regions = [
        [{"shape_attributes": {"name": "rect", "x": 5, "y": 4, "width": 20, "height": 30},
          "region_attributes": {"category": "lamp"}},
         {"shape_attributes": {"name": "rect", "x": 40, "y": 10, "width": 30, "height": 25},
          "region_attributes": {"category": "pillow"}}],
        [{"shape_attributes": {"name": "rect", "x": 0, "y": 0, "width": 80, "height": 48},
          "region_attributes": {"category": "Lamp"}}],
    ]
    return {f"{n}123": {"filename": n, "size": 123, "regions": r, "file_attributes": {}}
            for n, r in zip(names, regions)}


def test_generate_masks_end_to_end_and_resume(tmp_path):
    names = ["000000000007.png", "000000000011.png"]
    for k, n in enumerate(names):
        Image.fromarray(_image(seed=k)).save(tmp_path / n)
    boxes = parse_via(_via_export(names))
    assert [c["name"] for c in boxes["categories"]] == ["lamp", "pillow"]
    predictor = tiny_predictor()
    partial = tmp_path / "out.partial.jsonl"
    out = generate_masks(boxes, tmp_path, predictor, partial_path=partial, progress=False)
    assert len(out["annotations"]) == 3 and [a["id"] for a in out["annotations"]] == [1, 2, 3]
    assert {img["id"] for img in out["images"]} == {7, 11}
    assert check_coco(out) == []
    for src, ann in zip(boxes["annotations"], out["annotations"]):
        assert ann["bbox"] == src["bbox"] and ann["iscrowd"] == 0
        mask = rle_to_mask(ann["segmentation"], 48, 80)
        x, y, w, h = ann["bbox"]
        assert mask.sum() == ann["area"] > 0
        assert not mask[:, : int(x)].any() and not mask[:, int(x + w):].any()
        assert not mask[: int(y)].any() and not mask[int(y + h):].any()
    # resume: keep only the first finished image; the rerun predicts the second one only
    lines = partial.read_text().splitlines()
    partial.write_text(lines[0] + "\n")
    calls = []
    original = predictor.set_image
    predictor.set_image = lambda img, *a, **k: (calls.append(1), original(img, *a, **k))[1]
    again = generate_masks(boxes, tmp_path, predictor, partial_path=partial, progress=False)
    assert len(calls) == 1 and again == out


def test_unreadable_image_is_skipped(tmp_path):
    names = ["000000000007.png", "000000000011.png"]
    Image.fromarray(_image()).save(tmp_path / names[0])
    (tmp_path / names[1]).write_bytes(b"not an image")
    out = generate_masks(parse_via(_via_export(names)), tmp_path, tiny_predictor(), progress=False)
    assert len(out["annotations"]) == 2 and {a["image_id"] for a in out["annotations"]} == {7}


def test_model_type_and_missing_checkpoint(tmp_path, capsys):
    assert infer_model_type("weights/sam_vit_b_01ec64.pth") == "vit_b"
    assert infer_model_type("whatever.pth", "vit_l") == "vit_l"
    with pytest.raises(ValueError, match="--model_type"):
        infer_model_type("model.pth")
    with pytest.raises(FileNotFoundError, match="sam_vit_l_0b3195.pth"):
        build_sam_predictor(tmp_path / "sam_vit_l.pth")
    (tmp_path / "boxes.json").write_text(json.dumps(_via_export(["a.jpg", "b.jpg"])))
    path = "COCO*/utils/generate_mask_for_extra_coco_labels.py"
    spec = importlib.util.spec_from_file_location("gen_masks", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    code = script.main(["--boxes", str(tmp_path / "boxes.json"), "--image_dir", str(tmp_path),
                        "--sam_checkpoint", str(tmp_path / "sam_vit_h_4b8939.pth")])
    assert code == 2
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth" in capsys.readouterr().err
