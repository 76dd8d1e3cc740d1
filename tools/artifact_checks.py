"""Checks of the artifacts in `utils/artifacts.py` as they sit on this machine (used by tools/check_setup.py).

`check_artifact(artifact, ...)` returns a `Finding`: `ok` (present and checked), `missing`, `broken` (present
but unreadable or of the wrong layout/schema) or `unchecked` (present, too large to parse under the size
limit). Checkpoints are loaded strictly (stage-1 networks rebuilt on the meta device from the memory-mapped
file; the detector's names and shapes aligned onto the recipe's model); COCO JSONs are validated
(`coco_tools.checker`: schema, unique and consistent ids) and a sample of their image files looked up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from utils.artifacts import ARTIFACTS, Artifact
from utils.config import option

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
RECIPE = (Path(__file__).resolve().parents[1] / "cad" / "model_zoo" / "configs" / "unMORE-IN+COCO"
          / "cascade_mask_rcnn_R_50_FPN.yaml")


@dataclass(frozen=True)
class Finding:
    status: str  # ok | missing | broken | unchecked
    path: Path
    detail: str


@dataclass(frozen=True)
class Roots:
    """Where artifacts are looked for, and how thoroughly."""

    data: Path = Path("data")
    weights: Path = Path("weights")
    repo: Path = Path(".")
    sample: int = 20  # image files looked up per annotation JSON
    max_json_mb: float = 200.0  # larger JSONs are reported present but not parsed
    detector_config: Path = RECIPE  # the layout a detector checkpoint must have


def _one_line(error: BaseException, limit: int = 300) -> str:
    """An error message on one line, cut at `limit` characters."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_image(folder: Path, budget: int = 5000) -> Path | None:
    """Some image file under `folder` (breadth-first, at most `budget` directory entries looked at)."""
    queue = [folder]
    while queue and budget > 0:
        try:
            entries = sorted(os.scandir(queue.pop(0)), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            budget -= 1
            if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES):
                return Path(entry.path)
            if entry.is_dir():
                queue.append(Path(entry.path))
    return None


def _image_candidates(file_name: str, folders: Iterable[Path]) -> Iterable[Path]:
    """Where an annotation's image may be: full relative path, basename, ImageNet `<wnid>/<name>`."""
    name = Path(file_name).name
    for folder in folders:
        yield folder / file_name
        yield folder / name
        if "_" in name:
            yield folder / name.split("_")[0] / name


def _check_images_of(data: dict, folders: list[Path], sample: int) -> str | None:
    """None when every sampled image file exists, else what is missing."""
    images = data.get("images", [])
    if not images or sample <= 0:
        return None
    step = max(1, len(images) // sample)
    picked = images[::step][:sample]
    absent = [im.get("file_name", "?") for im in picked
              if not any(p.is_file() for p in _image_candidates(str(im.get("file_name", "")), folders))]
    if absent:
        where = ", ".join(str(f) for f in folders)
        return f"{len(absent)}/{len(picked)} sampled images not found under {where} (e.g. {absent[0]})"
    return None


def _load_json(path: Path, roots: Roots) -> tuple[object, Finding | None]:
    size_mb = path.stat().st_size / 2**20
    if size_mb > roots.max_json_mb:
        return None, Finding("unchecked", path, f"{size_mb:.0f} MB, over --max_json_mb {roots.max_json_mb:g}")
    try:
        return json.loads(path.read_text()), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, Finding("broken", path, f"not valid JSON: {e}")


def check_coco_file(path: Path, image_folders: list[Path], roots: Roots) -> Finding:
    from coco_tools.checker import check_coco

    data, problem = _load_json(path, roots)
    if problem:
        return problem
    lists = isinstance(data, dict) and all(isinstance(data.get(k), list) for k in ("images", "annotations"))
    if not lists:
        return Finding("broken", path, "not a COCO dataset (needs `images` and `annotations` lists)")
    defects = check_coco(data, check_rle_counts=False)
    if defects:
        return Finding("broken", path, f"{len(defects)} defects, first: {defects[0]} "
                                       f"(python tools/check_coco_json.py {path} lists all)")
    missing = _check_images_of(data, image_folders, roots.sample)
    if missing:
        return Finding("broken", path, missing)
    return Finding("ok", path, f"{len(data['images'])} images, {len(data['annotations'])} annotations")


def check_results_file(path: Path, roots: Roots) -> Finding:
    data, problem = _load_json(path, roots)
    if problem:
        return problem
    if isinstance(data, dict) and "annotations" not in data:  # discovery format {image_id: [[x1,y1,x2,y2]]}
        if all(isinstance(v, list) for v in data.values()):
            return Finding("ok", path, f"boxes of {len(data)} images (discovery format)")
    items = data.get("annotations") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return Finding("broken", path, "expected a list of results or a COCO dict with `annotations`")
    bad = next((i for i, r in enumerate(items) if not isinstance(r, dict) or "image_id" not in r
                or not ("bbox" in r or "segmentation" in r)), None)
    if bad is not None:
        return Finding("broken", path, f"entry {bad} has no image_id with a bbox or segmentation")
    return Finding("ok", path, f"{len(items)} results on {len({r['image_id'] for r in items})} images")


def check_stage1_checkpoint(path: Path, kind: str) -> Finding:
    from models.checkpoint import build_existence_net_from_checkpoint, build_objectness_net_from_checkpoint

    try:
        if kind == "objectness":
            net = build_objectness_net_from_checkpoint(path)
            arch = f"{net.backbone_type}, sdf {net.sdf_activation}, bg sdf {net.use_bg_sdf}"
        else:
            net = build_existence_net_from_checkpoint(path)
            arch = net.arch
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        return Finding("broken", path, f"strict load failed: {_one_line(e)}")
    return Finding("ok", path, f"strict load: {arch}, {len(net.state_dict())} tensors")


def check_detector_checkpoint(path: Path, config: Path) -> Finding:
    import torch

    from cad.checkpoint.loader import _IGNORED_CKPT_KEYS, align_state_dict, load_checkpoint_file
    from cad.config import get_cfg
    from cad.modeling import GeneralizedRCNN

    try:
        data = load_checkpoint_file(path)
    except (OSError, ValueError, RuntimeError) as e:
        return Finding("broken", path, f"unreadable: {_one_line(e)}")
    cfg = get_cfg()
    cfg.merge_from_file(str(config))
    cfg.MODEL.DEVICE = "cpu"
    with torch.device("meta"):
        own = GeneralizedRCNN(cfg).state_dict()
    ckpt = {k: v for k, v in data["model"].items() if not _IGNORED_CKPT_KEYS.search(k)}
    mapped, unused = align_state_dict(list(own), ckpt, bool(data.get("matching_heuristics", False)))
    missing = [k for k in own if k not in mapped and not k.endswith("num_batches_tracked")]
    shapes = [k for k, v in mapped.items() if tuple(v.shape) != tuple(own[k].shape)]
    problems = [f"{len(x)} {what} (e.g. {x[0]})" for x, what in
                ((missing, "missing"), (unused, "unexpected"), (shapes, "of another shape")) if x]
    if problems:
        return Finding("broken", path, f"not the layout of {config.name}: " + "; ".join(problems))
    return Finding("ok", path, f"strict layout of {config.name}: {len(mapped)} tensors")


def check_vit_weights(path: Path) -> Finding:
    import torch

    from models.backbones import backbone_weight_target, build_backbone
    from models.backbones.weights import read_weight_file

    try:
        weights = read_weight_file(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported, whatever the reader raised
        return Finding("broken", path, f"unreadable: {_one_line(e)}")
    with torch.device("meta"):
        target, _ = backbone_weight_target(build_backbone("dpt_large")[0])
    own = target.state_dict()
    fits = [k for k, v in weights.items()
            if k in own and (tuple(v.shape) == tuple(own[k].shape) or k == "pos_embed")]
    absent = [k for k in own if k not in weights]
    if absent:
        return Finding("broken", path, f"{len(absent)} ViT-L tensors missing (e.g. {absent[0]}); "
                                       f"{len(fits)}/{len(own)} fit")
    return Finding("ok", path, f"{len(fits)}/{len(own)} ViT-L/16 tensors")


def check_artifact(artifact: Artifact, roots: Roots) -> Finding:
    """What is at the artifact's place, and whether it is usable."""
    path = artifact.location(roots.data, roots.weights, roots.repo)
    if artifact.kind == "vit":
        from models.backbones.weights import original_weight_files

        found = [p for p in original_weight_files("dpt_large", roots.weights) if p.is_file()]
        path = found[0] if found else path
    if not path.exists():
        return Finding("missing", path, artifact.url)
    if artifact.kind == "images":
        image = _first_image(path)
        return Finding("ok", path, f"images, e.g. {image.relative_to(path)}") if image else Finding(
            "broken", path, "no image file found in it")
    if artifact.kind == "coco":
        return check_coco_file(path, [roots.data / f for f in artifact.images], roots)
    if artifact.kind == "results":
        return check_results_file(path, roots)
    if artifact.kind in ("objectness", "existence"):
        return check_stage1_checkpoint(path, artifact.kind)
    if artifact.kind == "detector":
        return check_detector_checkpoint(path, roots.detector_config)
    if artifact.kind == "vit":
        return check_vit_weights(path)
    size = path.stat().st_size
    return Finding("ok" if size else "broken", path, f"{size / 2**20:.1f} MB" if size else "empty file")


STEPS = tuple(dict.fromkeys(a.stage for a in ARTIFACTS))


@dataclass(frozen=True)
class CheckSetupConfig:
    """The command line of tools/check_setup.py (typed config, see utils/config.py)."""

    data_root: str = option("data", "the data root (datasets, annotations, results)")
    weights_dir: str = option("weights", "folder of the checkpoints and backbone weights")
    repo: str = option(".", "the repository (for checkpoints/ of the detector's init)")
    steps: list[str] = option(list(STEPS), "steps to check", choices=STEPS)
    sample: int = option(20, "image files looked up per annotation JSON")
    max_json_mb: float = option(
        200.0, "JSON files larger than this are reported present but not parsed (COCO train2017 instances: "
        "450 MB, about a minute to check)", finite=False)
    detector_config: str = option(str(RECIPE), "config whose model layout a detector checkpoint must have")
    downloads: bool = option(False, "print the downloads table (Markdown) and exit")
