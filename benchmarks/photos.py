"""Real photos that ship with scikit-image and their pseudo ground truth, shared by the photo benchmarks.

Every photo is scaled to `SIDE` (512) px on its longer side (`photo`). Two fixtures, both at that size, hold
object masks (COCO RLE) made by documented, deterministic recipes and checked by eye:
- `tests/fixtures/coins_pseudo_gt.json`: 24 coins, scikit-image's own region-based recipe for this photo
  (`coins_pseudo_gt`);
- `tests/fixtures/photos_pseudo_gt.json`: coffee (cup, spoon, saucer), astronaut (helmet, person, flag,
  shuttle model) and chelsea (cat), by OpenCV GrabCut from hand-chosen hints (`GRABCUT_OBJECTS`,
  `grabcut_pseudo_gt`).
`python benchmarks/bench_discover_photos.py --write_fixture` writes both again; `photo_set` scales the
photos and the masks of both to another size for the benchmarks that run smaller images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from utils.io import load_json
from utils.masks import mask_to_box_xyxy, mask_to_rle, rle_to_mask, xyxy_to_xywh

ROOT = Path(__file__).resolve().parents[1]
SIDE = 512
COINS_FIXTURE = ROOT / "tests" / "fixtures" / "coins_pseudo_gt.json"
PHOTOS_FIXTURE = ROOT / "tests" / "fixtures" / "photos_pseudo_gt.json"
PHOTO_SET = ("coins", "coffee", "astronaut", "chelsea")  # both fixtures, in this order

# GrabCut hints per photo, in SIDE-px coordinates, one object after the other (each later object's pixels
# exclude the earlier objects' masks): (name, rect x, y, w, h: probably foreground, everything outside it
# surely background; strokes surely foreground; strokes surely background), strokes being polylines
# drawn `STROKE` px wide.
GRABCUT_OBJECTS = {
    "coffee": (
        ("cup", (145, 12, 207, 255),
         (((250, 30), (250, 230)), ((165, 195), (300, 195)), ((195, 210), (192, 250))),
         (((351, 62), (333, 190), (312, 250)), ((288, 228), (335, 228)), ((225, 258), (270, 258)),
          ((150, 262), (160, 262)))),
        ("spoon", (268, 52, 98, 228), (((351, 62), (333, 190), (310, 245)),), (((364, 110), (350, 205)),)),
        ("saucer", (62, 60, 350, 272), (), ()),
    ),
    "astronaut": (
        ("helmet", (275, 340, 237, 172), (), ()),
        ("person", (15, 12, 350, 500), (((225, 30), (225, 300)), ((130, 200), (300, 200))),
         (((10, 10), (90, 10), (90, 215), (10, 215), (10, 10)), ((50, 10), (50, 215)))),
        ("flag", (0, 0, 100, 512), (), ()),
        ("shuttle", (350, 0, 120, 290),
         (((395, 90), (395, 240)), ((368, 222), (450, 222)), ((445, 50), (445, 250)),
          ((386, 50), (386, 110))), ()),
    ),
    "chelsea": (("cat", (0, 0, 470, 341), (), ()),),
}
GRABCUT_ITERATIONS = 5
STROKE = 5


def photo(name: str, side: int = SIDE) -> np.ndarray:
    """scikit-image photo `name` as uint8 RGB [H, W, 3], scaled (bilinear) to `side` px on its longer side."""
    from skimage import data

    pixels = getattr(data, name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    im = Image.fromarray(pixels[..., :3])
    scale = side / max(im.size)
    return np.asarray(im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR))


def _annotation(mask: np.ndarray, ann_id: int, image_id: str, category_id: int) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": 0,
            "area": int(mask.sum()), "segmentation": mask_to_rle(mask),
            "bbox": [int(v) for v in xyxy_to_xywh(mask_to_box_xyxy(mask))]}


def coins_pseudo_gt(pixels: np.ndarray, min_area: int = 64) -> dict:
    """scikit-image's region-based segmentation of `coins` -> COCO GT (image id "coins"), a mask per coin."""
    from scipy import ndimage as ndi
    from skimage.filters import sobel
    from skimage.segmentation import watershed

    grey = pixels[..., 0]
    markers = np.zeros(grey.shape, np.uint8)
    markers[grey < 30] = 1
    markers[grey > 150] = 2
    coins = ndi.binary_fill_holes(watershed(sobel(grey), markers) == 2)
    labels, n = ndi.label(coins)
    h, w = grey.shape
    anns = []
    for k in range(1, n + 1):
        m = labels == k
        if m.sum() >= min_area:
            anns.append(_annotation(m, len(anns) + 1, "coins", 1))
    return {"images": [{"id": "coins", "file_name": "coins.png", "height": h, "width": w}],
            "annotations": anns, "categories": [{"id": 1, "name": "coin"}]}


def grabcut_mask(pixels: np.ndarray, rect, fg_strokes, bg_strokes, exclude: np.ndarray) -> np.ndarray:
    """One object's mask by GrabCut (OpenCV RNG seeded 0, `GRABCUT_ITERATIONS` rounds) from its hints:
    the largest connected foreground component, holes filled, minus `exclude` (bool [H, W])."""
    import cv2
    from scipy import ndimage as ndi

    cv2.setRNGSeed(0)
    hints = np.full(pixels.shape[:2], cv2.GC_BGD, np.uint8)
    x, y, w, h = rect
    hints[y:y + h, x:x + w] = cv2.GC_PR_FGD
    for label, strokes in ((cv2.GC_BGD, bg_strokes), (cv2.GC_FGD, fg_strokes)):
        for line in strokes:
            cv2.polylines(hints, [np.array(line, np.int32)], False, int(label), STROKE)
    hints[exclude] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(np.ascontiguousarray(pixels[..., ::-1]), hints, None, bgd, fgd, GRABCUT_ITERATIONS,
                cv2.GC_INIT_WITH_MASK)
    labels, n = ndi.label((hints == cv2.GC_FGD) | (hints == cv2.GC_PR_FGD))
    if n == 0:
        return np.zeros(pixels.shape[:2], bool)
    largest = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
    return ndi.binary_fill_holes(largest) & ~exclude


def grabcut_pseudo_gt(names=tuple(GRABCUT_OBJECTS)) -> dict:
    """COCO GT (image ids = photo names, a category per object name) of the GrabCut objects of `names`."""
    categories = sorted({obj[0] for name in names for obj in GRABCUT_OBJECTS[name]})
    category_ids = {c: k + 1 for k, c in enumerate(categories)}
    images, anns = [], []
    for name in names:
        pixels = photo(name)
        taken = np.zeros(pixels.shape[:2], bool)
        for obj, *hints in GRABCUT_OBJECTS[name]:
            mask = grabcut_mask(pixels, *hints, taken)
            taken |= mask
            anns.append(_annotation(mask, len(anns) + 1, name, category_ids[obj]))
        images.append({"id": name, "file_name": f"{name}.png", "height": pixels.shape[0],
                       "width": pixels.shape[1]})
    return {"images": images, "annotations": anns,
            "categories": [{"id": category_ids[c], "name": c} for c in categories]}


def scale_gt(gt: dict, sizes: dict) -> dict:
    """COCO GT with its RLE masks rescaled to `sizes[image_id] = (height, width)`: each mask resampled
    bilinearly, a pixel kept where some object's value is >= 0.5 and given to the object with the highest
    value (so the masks stay disjoint); bbox and area from the scaled masks; a vanished mask is left out."""
    images, anns = [], []
    for im in gt["images"]:
        h, w = sizes[im["id"]]
        images.append({**im, "height": h, "width": w})
        own = [a for a in gt["annotations"] if a["image_id"] == im["id"]]
        if not own:
            continue
        values = np.stack([np.asarray(Image.fromarray(
            rle_to_mask(a["segmentation"], im["height"], im["width"]).astype(np.float32)).resize(
            (w, h), Image.BILINEAR)) for a in own])
        owner = np.where(values.max(0) >= 0.5, values.argmax(0), -1)
        for k, a in enumerate(own):
            if (owner == k).any():
                anns.append(_annotation(owner == k, a["id"], a["image_id"], a["category_id"]))
    return {**gt, "images": images, "annotations": anns}


def photo_set(side: int = SIDE, names=PHOTO_SET) -> tuple[dict, dict[str, np.ndarray]]:
    """(COCO GT, {name: uint8 RGB}) of the photos `names`, scaled to `side` px on the longer side, their masks
    from both fixtures (scaled with them; ids renumbered, categories merged by name)."""
    gts = [load_json(COINS_FIXTURE, "coins pseudo ground truth"),
           load_json(PHOTOS_FIXTURE, "photos pseudo ground truth")]
    missing = set(names) - {im["id"] for gt in gts for im in gt["images"]}
    if missing:
        raise ValueError(f"no pseudo ground truth for {sorted(missing)} in {COINS_FIXTURE.name} or "
                         f"{PHOTOS_FIXTURE.name}")
    images, anns, category_ids = [], [], {}
    for gt in gts:
        cat_names = {c["id"]: c["name"] for c in gt["categories"]}
        for c in gt["categories"]:
            category_ids.setdefault(c["name"], len(category_ids) + 1)
        images += [im for im in gt["images"] if im["id"] in names]
        for a in gt["annotations"]:
            if a["image_id"] in names:
                category = category_ids[cat_names[a["category_id"]]]
                anns.append({**a, "id": len(anns) + 1, "category_id": category})
    images.sort(key=lambda im: names.index(im["id"]))
    categories = [{"id": k, "name": c} for c, k in category_ids.items()]
    merged = {"images": images, "annotations": anns, "categories": categories}
    pixels = {name: photo(name, side) for name in names}
    return scale_gt(merged, {name: p.shape[:2] for name, p in pixels.items()}), pixels
