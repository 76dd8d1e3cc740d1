"""Box annotations of extra objects -> a COCO dataset dict with boxes only.

Inputs:
- VGG Image Annotator (VIA) JSON: 1.x/2.x "export annotations as JSON" (`{key: {filename, regions, ...}}`,
  `regions` a list (2.x) or a dict (1.x)), a 2.x project file (the same under `_via_img_metadata`), or a
  3.x project file (`file`, `view`, `metadata`, `attribute`). Regions must be rectangles
  (`shape_attributes` `{name: rect, x, y, width, height}`; VIA 3 `xy = [2, x, y, w, h]`); the category
  is the region attribute named by `category_attribute` (text, dropdown/radio, or a checkbox with one
  option ticked).
- COCO JSON with boxes (`images`, `annotations` with `bbox` xywh and `category_id`, `categories`).

With a `reference` COCO dataset (e.g. `instances_val2017.json`), VIA file names are matched to its images
(id, height, width) and category names to its categories (case-insensitive); new names get fresh ids after
the largest reference id. Without one, an image id is the number in the file name (`000000397133.jpg` ->
397133) or a running index, and categories are numbered 1..N in order of appearance.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from utils.io import DataError, load_json

VIA3_RECTANGLE = 2


def _category_value(value: Any, options: dict | None = None) -> list[str]:
    """Names ticked/typed in one region attribute value (VIA text, dropdown, radio or checkbox)."""
    if value is None:
        return []
    if isinstance(value, dict):  # checkbox: {option: true}
        names = [k for k, v in value.items() if v]
    elif isinstance(value, list):
        names = [str(v) for v in value]
    else:
        names = [p for p in str(value).split(",")] if options else [str(value)]
    if options:
        names = [options.get(n.strip(), n) for n in names]
    return [n.strip() for n in names if str(n).strip()]


def _region_category(attrs: dict, attribute: str, where: str, options: dict | None = None) -> str:
    if not isinstance(attrs, dict) or attribute not in attrs:
        present = sorted(attrs) if isinstance(attrs, dict) else []
        raise DataError(f"{where}: no '{attribute}' region attribute (present: {present}); "
                        "set --category_attribute to the attribute holding the category")
    names = _category_value(attrs[attribute], options)
    if len(names) != 1:
        raise DataError(f"{where}: '{attribute}' must name exactly one category, got {attrs[attribute]!r}")
    return names[0]


def _rect(shape: dict, where: str) -> list[float]:
    if not isinstance(shape, dict) or shape.get("name") != "rect":
        name = shape.get("name") if isinstance(shape, dict) else shape
        raise DataError(f"{where}: region shape is {name!r}; only rectangles ('rect') are boxes")
    try:
        x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{where}: rectangle needs numeric x, y, width, height: {shape!r}") from e
    return [x, y, w, h]


def _via2_regions(data: dict, source: str, attribute: str) -> list[tuple[str, list[tuple[list, str]]]]:
    entries = data.get("_via_img_metadata", data)
    out = []
    for key, entry in entries.items():
        if not isinstance(entry, dict) or "filename" not in entry:
            raise DataError(f"{source}: entry {key!r} is not a VIA image record (no 'filename')")
        regions = entry.get("regions", [])
        if isinstance(regions, dict):  # VIA 1.x
            regions = [regions[k] for k in sorted(regions, key=lambda s: int(s) if str(s).isdigit() else s)]
        boxes = []
        for k, region in enumerate(regions):
            where = f"{source}: image {entry['filename']!r} region {k}"
            box = _rect(region.get("shape_attributes"), where)
            boxes.append((box, _region_category(region.get("region_attributes", {}), attribute, where)))
        out.append((entry["filename"], boxes))
    return out


def _via3_regions(data: dict, source: str, attribute: str) -> list[tuple[str, list[tuple[list, str]]]]:
    attr_id, options = None, None
    for aid, spec in data.get("attribute", {}).items():
        if spec.get("aname") == attribute:
            attr_id, options = str(aid), spec.get("options") or None
    files = {str(f.get("fid", k)): f.get("fname") for k, f in data.get("file", {}).items()}
    view_file = {str(v): files.get(str((spec.get("fid_list") or [None])[0]))
                 for v, spec in data.get("view", {}).items()}
    per_file: dict[str, list] = {name: [] for name in files.values()}
    for mid, meta in data.get("metadata", {}).items():
        fname = view_file.get(str(meta.get("vid")))
        if fname is None:
            raise DataError(f"{source}: metadata {mid!r} refers to unknown view {meta.get('vid')!r}")
        k = len(per_file[fname])
        where = f"{source}: image {fname!r} region {k} ({mid})"
        xy = meta.get("xy", [])
        if not xy or xy[0] != VIA3_RECTANGLE or len(xy) != 5:
            raise DataError(f"{where}: region shape {xy[:1]} is not a rectangle [2, x, y, w, h]")
        if meta.get("z") not in (None, []):
            raise DataError(f"{where}: temporal (video) segments are not supported")
        av = {} if attr_id is None else {attribute: meta.get("av", {}).get(attr_id)}
        if attr_id is not None and av[attribute] in (None, ""):
            av = {}
        per_file[fname].append(([float(v) for v in xy[1:]], _region_category(av, attribute, where, options)))
    return list(per_file.items())


def _image_id_from_name(file_name: str) -> int | None:
    stem = Path(file_name).stem
    digits = stem.rsplit("_", 1)[-1]
    return int(digits) if digits.isdigit() else None


def parse_via(data: dict, category_attribute: str = "category", reference: dict | None = None,
              source: str = "VIA file") -> dict:
    """VIA JSON (any version above) -> boxes-only COCO dataset dict."""
    if not isinstance(data, dict):
        raise DataError(f"{source}: not a VIA JSON object")
    if "metadata" in data and "file" in data:
        per_image = _via3_regions(data, source, category_attribute)
    else:
        per_image = _via2_regions(data, source, category_attribute)
    ref_images = {os.path.basename(img["file_name"]): img for img in (reference or {}).get("images", [])}
    ref_cats = {c["name"].lower(): c for c in (reference or {}).get("categories", [])}
    categories: dict[str, dict] = {}
    next_cat = max((c["id"] for c in ref_cats.values()), default=0) + 1
    images, annotations, used_ids = [], [], set()
    for file_name, boxes in per_image:
        ref = ref_images.get(os.path.basename(file_name))
        if reference is not None and ref is None:
            raise DataError(f"{source}: image {file_name!r} is not among the reference images")
        if ref is not None:
            image = {k: ref[k] for k in ("id", "file_name", "height", "width") if k in ref}
        else:
            image_id = _image_id_from_name(file_name)
            if image_id is None or image_id in used_ids:
                image_id = max(used_ids, default=0) + 1
            image = {"id": image_id, "file_name": file_name}
        if image["id"] in used_ids:
            raise DataError(f"{source}: image {file_name!r} appears twice")
        used_ids.add(image["id"])
        images.append(image)
        for box, name in boxes:
            key = name.lower()
            if key not in categories:
                if key in ref_cats:
                    categories[key] = {"id": ref_cats[key]["id"], "name": ref_cats[key]["name"]}
                else:
                    categories[key] = {"id": next_cat, "name": name}
                    next_cat += 1
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"],
                                "category_id": categories[key]["id"], "bbox": box, "iscrowd": 0})
    return {"images": images, "annotations": annotations,
            "categories": sorted(categories.values(), key=lambda c: c["id"])}


def parse_coco_boxes(data: dict, source: str = "COCO box file") -> dict:
    """COCO JSON with boxes -> boxes-only COCO dataset dict (segmentations are dropped)."""
    if not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        raise DataError(f"{source}: a COCO box file needs 'images' and 'annotations' lists")
    image_ids = {img.get("id") for img in data["images"]}
    cat_ids = {c.get("id") for c in data.get("categories", [])}
    anns = []
    for i, ann in enumerate(data["annotations"]):
        where = f"{source}: annotation {ann.get('id', f'#{i}')!r} (image {ann.get('image_id')!r})"
        box = ann.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
            raise DataError(f"{where}: 'bbox' must be [x, y, w, h], got {box!r}")
        if "category_id" not in ann:
            raise DataError(f"{where}: no 'category_id'")
        if ann["category_id"] not in cat_ids:
            raise DataError(f"{where}: category_id {ann['category_id']!r} is not in 'categories'")
        if ann.get("image_id") not in image_ids:
            raise DataError(f"{where}: image is not in 'images'")
        new = {k: v for k, v in ann.items() if k not in ("segmentation", "area")}
        new["bbox"] = [float(v) for v in box]
        new.setdefault("iscrowd", 0)
        anns.append(new)
    ids = [a.get("id") for a in anns]
    if None in ids or len(set(ids)) != len(ids):
        for k, a in enumerate(anns):
            a["id"] = k + 1
    return {"images": list(data["images"]), "annotations": anns,
            "categories": list(data.get("categories", []))}


def check_boxes(dataset: dict, source: str) -> None:
    """Every box must have positive width and height."""
    for ann in dataset["annotations"]:
        x, y, w, h = ann["bbox"]
        if w <= 0 or h <= 0:
            raise DataError(f"{source}: box {ann['bbox']} of image {ann['image_id']!r} "
                            f"(annotation {ann['id']}) has no area")


def load_box_annotations(path: str | os.PathLike, category_attribute: str = "category",
                         reference: dict | None = None) -> dict:
    """Read a VIA or COCO box file (format detected from its content) -> boxes-only COCO dataset dict."""
    data = load_json(path, "box annotation file")
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        dataset = parse_coco_boxes(data, str(path))
    else:
        dataset = parse_via(data, category_attribute, reference, str(path))
    check_boxes(dataset, str(path))
    return dataset
