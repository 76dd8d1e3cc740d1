"""Ground-truth oracle: the fields and existence the stage-1 networks learn to predict, computed exactly.

For each crop (same pixel box and 128x128 grid as the networks see) and each ground-truth object, the
targets follow the stage-1 training targets:
- every image pixel is owned by at most one object (masks are used as given; where ground-truth masks
  overlap, the smallest object owns the pixel, as it is most likely in front);
- foreground sdf: the L2 distance transform of the object's (owned) mask (cv2, 3x3 mask as in training),
  normalised by its maximum over the **whole object**, sampled at the crop grid (nearest pixel);
- background sdf: minus the distance transform of the crop's background computed on the 128x128 crop
  grid after cropping, normalised by its own maximum (-1 everywhere when the crop holds no object);
- composition over the objects visible in a crop: the center field takes every pixel from the object
  that owns it (so seams between objects show up); the boundary field (`sdf_mode="dominant"`, default)
  describes the crop's *dominant* object only (the one with most pixels in the crop), all other pixels
  count as background, like a network trained on single-object crops that answers for one object;
  `sdf_mode="union"` makes every object foreground instead (boxes then grow across touching objects);
- center field: inside an object, the unit vector from the center of the object's **full** mask box
  (`(min + max) / 2` of its pixel indices, mapped into crop pixels as `(c - x1) * S / w`) to the pixel;
  zero on the background;
- existence: 1 when some object has at least `min_object_fraction` (10%) of its area inside the crop, or
  covers at least `min_crop_fraction` (10%) of the crop; else 0. Areas are counted on the crop grid (each
  sample stands for `w * h / S^2` image pixels).
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np
import torch

from coco_tools.checker import load_coco_json
from reasoning.crops import pixel_boxes
from reasoning.predict import EXISTENCE, FIELDS, SDF, Prediction, Predictor
from utils.io import DataError
from utils.masks import rle_to_mask

SDF_MODES = ("dominant", "union")  # the first is the default
SCENE_CACHE = 32  # scenes kept: a 640x480 one holds 2.5 MB


class GroundTruthScene:
    """Per-image ownership, normalised foreground distance and object centers."""

    def __init__(self, masks: list[np.ndarray], height: int, width: int):
        self.height, self.width = height, width
        owner = np.zeros((height, width), dtype=np.int32)
        areas = [int(m.sum()) for m in masks]
        for k in sorted(range(len(masks)), key=lambda i: -areas[i]):  # smallest object written last, wins
            owner[masks[k]] = k + 1
        fg = np.zeros((height, width), dtype=np.float32)
        centers = np.zeros((len(masks) + 1, 2), dtype=np.float64)  # (row, col); index 0 unused
        area = np.zeros(len(masks) + 1, dtype=np.float64)
        for k in range(len(masks)):
            own = owner == k + 1
            if not own.any():
                continue
            dist = cv2.distanceTransform(own.astype(np.uint8), cv2.DIST_L2, 3)
            fg[own] = (dist / dist.max())[own] if dist.max() > 0 else 1.0
            ys, xs = np.nonzero(own)
            centers[k + 1] = ((ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2)
            area[k + 1] = own.sum()
        self.owner = torch.from_numpy(owner)
        self.fg = torch.from_numpy(fg)
        self.centers = torch.from_numpy(centers)
        self.area = torch.from_numpy(area)
        self.num_objects = len(masks)


class OraclePredictor(Predictor):
    """Predictor whose answers come from ground-truth masks (`--oracle_annotations GT.json`)."""

    def __init__(self, gt: dict | str, device: torch.device | None = None, min_object_fraction: float = 0.1,
                 min_crop_fraction: float = 0.1, sdf_mode: str = SDF_MODES[0]):
        super().__init__(device or torch.device("cpu"))
        self.gt = load_coco_json(gt) if not isinstance(gt, dict) else gt
        self.images = {}
        for im in self.gt["images"]:
            self.images[im["id"]] = im
            self.images[str(im["id"])] = im
        self.anns: dict = {}
        for ann in self.gt["annotations"]:
            self.anns.setdefault(ann["image_id"], []).append(ann)
        self.min_object_fraction = min_object_fraction
        self.min_crop_fraction = min_crop_fraction
        if sdf_mode not in SDF_MODES:
            raise ValueError(f"oracle sdf_mode must be one of {SDF_MODES}, got {sdf_mode!r}")
        self.sdf_mode = sdf_mode
        self._scenes: OrderedDict[tuple, GroundTruthScene] = OrderedDict()  # the last few images' scenes

    def scene(self, image_id: int | str | None, height: int, width: int) -> GroundTruthScene:
        """The scene of `image_id` (the last `SCENE_CACHE` images' are kept: `--images_at_once` interleaves
        images), checked against the image size."""
        key = (image_id, height, width)
        if key in self._scenes:
            self._scenes.move_to_end(key)
        else:
            info = self.images.get(image_id, self.images.get(str(image_id)))
            if info is None:
                raise DataError(f"oracle annotations have no image with id {image_id!r}")
            if (info.get("height"), info.get("width")) != (height, width):
                raise DataError(f"oracle annotations: image {image_id!r} is {info.get('width')}x"
                                f"{info.get('height')} in the ground truth but {width}x{height} on disk")
            anns = self.anns.get(info["id"], [])
            masks = []
            for ann in anns:
                if ann.get("iscrowd", 0):
                    continue
                m = rle_to_mask(ann["segmentation"], info["height"], info["width"])
                if m.shape != (height, width):
                    raise DataError(f"oracle annotations: annotation {ann.get('id')!r} of image {image_id!r} "
                                    f"has a {m.shape[1]}x{m.shape[0]} mask, the image is {width}x{height}")
                if m.any():
                    masks.append(m)
            self._scenes[key] = GroundTruthScene(masks, height, width)
            if len(self._scenes) > SCENE_CACHE:
                self._scenes.popitem(last=False)
        return self._scenes[key]

    @torch.no_grad()
    def predict(self, image: torch.Tensor, boxes: torch.Tensor, want: set[str],
                image_id: int | str | None = None) -> Prediction:
        _, height, width = image.shape
        scene = self.scene(image_id, height, width)
        s = self.size
        pix = pixel_boxes(boxes, height, width).cpu()
        n = pix.shape[0]
        x1, y1, x2, y2 = (pix[:, i].to(torch.float64) for i in range(4))
        bw, bh = x2 - x1, y2 - y1
        grid = torch.arange(s, dtype=torch.float64) + 0.5
        xs = torch.minimum(torch.floor(x1[:, None] + grid[None] * bw[:, None] / s), x2[:, None] - 1).long()
        ys = torch.minimum(torch.floor(y1[:, None] + grid[None] * bh[:, None] / s), y2[:, None] - 1).long()
        flat = ys[:, :, None] * width + xs[:, None, :]  # [N, S, S]
        owner = scene.owner.view(-1)[flat]
        out: Prediction = {}
        k = scene.num_objects + 1
        per_crop = (torch.arange(n)[:, None] * k + owner.view(n, -1)).view(-1)
        counts = torch.bincount(per_crop, minlength=n * k).view(n, k).to(torch.float64)
        counts[:, 0] = 0
        pixel_area = (bw * bh / (s * s))[:, None]
        if FIELDS in want or SDF in want:
            fg = scene.fg.view(-1)[flat]
            # dominant object: the most complete one (largest fraction of its area inside), then the largest
            completeness = counts * pixel_area / scene.area.clamp(min=1)[None] + counts * 1e-9
            dominant = torch.where(counts.amax(1) > 0, completeness.argmax(1), 0)
            inside = (owner == dominant[:, None, None]) & (owner > 0)
            if self.sdf_mode == "union":
                inside = owner > 0
            bg_sdf = np.empty((n, s, s), dtype=np.float32)
            inside_np = inside.numpy()
            for i in range(n):
                if not inside_np[i].any():
                    bg_sdf[i] = 1.0
                    continue
                d = cv2.distanceTransform((~inside_np[i]).astype(np.uint8), cv2.DIST_L2, 3)
                bg_sdf[i] = d / d.max() if d.max() > 0 else d
            sdf = torch.where(inside, fg, -torch.from_numpy(bg_sdf))
            out["sdf_maps"] = sdf.float().to(self.device)
        if FIELDS in want:
            # object centers in crop pixels, per crop and object: [N, K]
            cy = ((scene.centers[None, :, 0] - y1[:, None]) * s / bh[:, None]).float()
            cx = ((scene.centers[None, :, 1] - x1[:, None]) * s / bw[:, None]).float()
            rows = torch.arange(s, dtype=torch.float32)
            vy = rows[None, :, None] - torch.gather(cy, 1, owner.view(n, -1)).view(n, s, s)
            vx = rows[None, None, :] - torch.gather(cx, 1, owner.view(n, -1)).view(n, s, s)
            scale = (owner > 0).float() / torch.sqrt(vy * vy + vx * vx).clamp(min=1e-12)
            out["center_fields"] = torch.stack([vy * scale, vx * scale], dim=1).to(self.device)
        if EXISTENCE in want:
            obj_frac = (counts * pixel_area / scene.area.clamp(min=1)[None]).amax(1)
            crop_frac = counts.amax(1) / (s * s)
            exist = (obj_frac >= self.min_object_fraction) | (crop_frac >= self.min_crop_fraction)
            out["existence"] = exist.float().to(self.device)
        return out
