"""Record -> model input (Detectron2 ``DatasetMapper`` semantics for the class-agnostic recipe).

Output dict: ``image`` uint8 ``[3, H', W']`` in ``INPUT.FORMAT`` channel order, resized (and flipped in
training); ``height``/``width`` the original size (predictions are returned at that size); ``image_id``,
``file_name``; in training ``instances``: ``Instances((H', W'), gt_boxes=Boxes [N, 4] xyxy,
gt_classes=int64 zeros [N], gt_masks=bool [N, H', W'], gt_scores=float [N])``.

With ``DATALOADER.IN_SINGLE_OBJECT`` ImageNet images of a merged file get ``is_single_object`` (no DropLoss).
Training drops crowd annotations and instances whose box or mask is empty after the transform. Every
category becomes class 0; ``gt_scores`` is the annotation ``score`` (1.0 when absent).
"""

from __future__ import annotations

import random

import numpy as np
import torch

from cad.data import transforms as T
from cad.structures import Boxes, Instances
from utils.io import DataError, load_image_rgb
from utils.masks import rle_to_mask


def read_record_image(record: dict) -> np.ndarray:
    """uint8 RGB [H, W, 3] of a record, trying its ``image_candidates`` in order; DataError if none works."""
    cands = record.get("image_candidates") or [record["file_name"]]
    for path in cands:
        try:
            return load_image_rgb(path, exif_transpose=True)
        except DataError as e:
            if "not found" not in str(e):
                raise
    raise DataError(f"image of {record.get('image_id')!r} not found (tried: {', '.join(map(str, cands))})")


class DatasetMapper:
    """Callable turning a record into a model input dict.

    is_train: random short side from ``min_sizes`` (or a range with sampling "range"), random flip,
    annotations kept; otherwise the test size and no annotations.
    """

    def __init__(self, is_train: bool, min_sizes: tuple[int, ...], max_size: int, sampling: str = "choice",
                 flip: str = "horizontal", image_format: str = "RGB", rng: random.Random | None = None,
                 imagenet_single_object: bool = False):
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"INPUT.FORMAT must be RGB or BGR, got {image_format!r}")
        if sampling not in ("choice", "range"):
            raise ValueError(f"INPUT.MIN_SIZE_TRAIN_SAMPLING must be choice or range, got {sampling!r}")
        if flip not in ("horizontal", "vertical", "none"):
            raise ValueError(f"INPUT.RANDOM_FLIP must be horizontal, vertical or none, got {flip!r}")
        self.is_train = is_train
        self.min_sizes = tuple(int(s) for s in min_sizes)
        self.max_size = int(max_size)
        self.sampling = sampling
        self.flip = flip if is_train else "none"
        self.image_format = image_format
        self.rng = rng or random.Random()
        self.imagenet_single_object = imagenet_single_object

    @classmethod
    def from_config(cls, cfg, is_train: bool) -> DatasetMapper:
        if is_train:
            sizes = cfg.INPUT.MIN_SIZE_TRAIN
            sizes = (sizes,) if isinstance(sizes, int) else tuple(sizes)
            return cls(True, sizes, cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING,
                       cfg.INPUT.RANDOM_FLIP, cfg.INPUT.FORMAT,
                       imagenet_single_object=bool(cfg.DATALOADER.IN_SINGLE_OBJECT))
        return cls(False, (cfg.INPUT.MIN_SIZE_TEST,), cfg.INPUT.MAX_SIZE_TEST, "choice", "none",
                   cfg.INPUT.FORMAT)

    def _short_side(self) -> int:
        if self.sampling == "range":
            return self.rng.randint(min(self.min_sizes), max(self.min_sizes))
        return self.rng.choice(self.min_sizes)

    def __call__(self, record: dict) -> dict:
        return self.map_image(read_record_image(record), record)

    def map_image(self, image: np.ndarray, record: dict) -> dict:
        """The model input of a record whose uint8 RGB [H, W, 3] pixels are already decoded."""
        h, w = image.shape[:2]
        if (h, w) != (int(record["height"]), int(record["width"])):
            raise DataError(f"image {record['file_name']} is {h}x{w} but its annotation says "
                            f"{record['height']}x{record['width']}")
        new_h, new_w = T.shortest_edge_size(h, w, self._short_side(), self.max_size)
        image = T.resize_image(image, new_h, new_w)
        flip = self.flip != "none" and self.rng.random() < 0.5
        if flip:
            image = image[:, ::-1] if self.flip == "horizontal" else image[::-1]
        if self.image_format == "BGR":
            image = image[..., ::-1]
        out = {
            "file_name": record["file_name"],
            "image_id": record["image_id"],
            "height": h,
            "width": w,
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
        }
        if self.is_train:
            out["instances"] = self._instances(record, h, w, new_h, new_w, flip)
            if self.imagenet_single_object and record.get("source") == "imagenet":
                out["is_single_object"] = True
        return out

    def _instances(self, record: dict, h: int, w: int, new_h: int, new_w: int, flip: bool) -> Instances:
        anns = [a for a in record["annotations"] if not a.get("iscrowd", 0)]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        masks = [rle_to_mask(a["segmentation"], h, w) if a.get("segmentation") else None for a in anns]
        # annotations without a segmentation get their (integer-snapped) box as mask
        for i, m in enumerate(masks):
            if m is None:
                m = np.zeros((h, w), dtype=bool)
                x1, y1, x2, y2 = boxes[i].round().int().tolist()
                m[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = True
                masks[i] = m
        mask_t = torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, h, w), dtype=torch.bool)
        boxes = T.resize_boxes(boxes, h, w, new_h, new_w)
        mask_t = T.resize_masks(mask_t, new_h, new_w)
        if flip and self.flip == "horizontal":
            boxes, mask_t = T.hflip_boxes(boxes, new_w), mask_t.flip(-1)
        elif flip:
            boxes, mask_t = T.vflip_boxes(boxes, new_h), mask_t.flip(-2)
        boxes = T.clip_boxes(boxes, new_h, new_w)
        scores = torch.tensor([float(a.get("score", 1.0)) for a in anns], dtype=torch.float32)
        keep = ((boxes[:, 2] - boxes[:, 0]) > 1e-5) & ((boxes[:, 3] - boxes[:, 1]) > 1e-5)
        keep &= mask_t.flatten(1).any(dim=1)
        return Instances(
            (new_h, new_w),
            gt_boxes=Boxes(boxes[keep]),
            gt_classes=torch.zeros(int(keep.sum()), dtype=torch.int64),
            gt_masks=mask_t[keep],
            gt_scores=scores[keep],
        )
