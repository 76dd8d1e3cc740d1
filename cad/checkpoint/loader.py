"""Read Detectron2 ``.pth``/``.pkl`` checkpoints, map names onto our (Detectron2-named) modules, export."""

from __future__ import annotations

import logging
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utils.checkpoint import unwrap_model
from utils.io import DataError, atomic_torch_save, atomic_write_bytes

logger = logging.getLogger(__name__)

# Basenames of the recipe's weight files -> where to get them.
DOWNLOADS = {
    "dino_RN50_pretrain_d2_format.pkl": "http://dl.fbaipublicfiles.com/cutler/checkpoints/dino_RN50_pretrain_d2_format.pkl",
    "unMORE_model.pth": "https://1drv.ms/u/c/63dc39902c38c526/EXPiaGx7tQ9Nqg_1ej6IlKoBjMSbSjT0PG_dMaqxWFZw_g?e=9GDJce",
}

# Names that may appear in old Detectron2 checkpoints but are not parameters of the model.
_IGNORED_CKPT_KEYS = re.compile(r"(^|\.)(pixel_mean|pixel_std)$|anchor_generator\.cell_anchors")


@dataclass
class LoadReport:
    """What ``load_weights`` did. ``missing`` excludes BN ``num_batches_tracked`` counters (listed apart)."""

    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    missing_counters: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Loaded {len(self.loaded)} tensors from {self.path}"]
        if self.missing:
            lines.append(
                f"{len(self.missing)} model keys not in the checkpoint (left as initialised): "
                + _compact(self.missing)
            )
        if self.unexpected:
            lines.append(
                f"{len(self.unexpected)} checkpoint keys not used by the model: " + _compact(self.unexpected)
            )
        for k, a, b in self.shape_mismatch:
            lines.append(f"skipped {k}: checkpoint shape {a} != model shape {b}")
        return "\n".join(lines)


def _compact(keys: list[str], limit: int = 12) -> str:
    return ", ".join(keys[:limit]) + (f", ... (+{len(keys) - limit})" if len(keys) > limit else "")


def missing_weights_message(path: str) -> str:
    """What to do about a weights file that does not exist: where to download it when it is one of the
    recipe's files (``DOWNLOADS``), else which files MODEL.WEIGHTS usually names."""
    name = os.path.basename(path)
    parts = [f"MODEL.WEIGHTS file not found: {path}."]
    if name in DOWNLOADS:
        parts.append(f"Download it from {DOWNLOADS[name]} and save it as {path}.")
    else:
        dino = DOWNLOADS["dino_RN50_pretrain_d2_format.pkl"]
        parts.append(
            f"Point MODEL.WEIGHTS to a local checkpoint, for example the DINO ResNet-50 initialisation "
            f"({dino}) or the released unMORE detector unMORE_model.pth ({DOWNLOADS['unMORE_model.pth']}), "
            "or pass MODEL.WEIGHTS '' to start from random weights."
        )
    return " ".join(parts)


def check_weights_path(path: str | os.PathLike) -> None:
    """FileNotFoundError when ``path`` is a URL (nothing is downloaded at run time) or does not exist."""
    path = os.fspath(path)
    if "://" in path:
        raise FileNotFoundError(
            f"MODEL.WEIGHTS is a URL ({path}); nothing is downloaded at run time. Download the file, "
            "then set MODEL.WEIGHTS to its local path."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(missing_weights_message(path))


def _to_tensor(v):
    if isinstance(v, torch.Tensor):
        return v
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v if v.flags.c_contiguous else v.copy())
    if isinstance(v, (int, float, np.integer, np.floating)):
        return torch.as_tensor(np.asarray(v))
    return v


def load_checkpoint_file(path: str | os.PathLike) -> dict:
    """Load a checkpoint, auto-detecting the format by extension and content.

    Returns a dict with ``model`` (name -> tensor) and ``matching_heuristics`` (True for model-zoo ``.pkl``
    files, whose names are aligned by suffix); other entries of the file (``optimizer``, ``iteration``, ...)
    are kept as they are.
    """
    path = os.fspath(path)
    check_weights_path(path)
    if path.endswith(".pkl"):
        try:
            with open(path, "rb") as f:
                data = pickle.load(f, encoding="latin1")
        except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as e:
            raise DataError(f"cannot read checkpoint {path}: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a dict in the pickle, got {type(data).__name__}")
        if "model" in data and "__author__" in data:
            out = dict(data)
            out.setdefault("matching_heuristics", False)
        else:  # Caffe2/Detectron1 style: blobs or a flat dict of arrays
            blobs = data.get("blobs", data)
            out = {
                "model": {k: v for k, v in blobs.items() if not k.endswith("_momentum")},
                "__author__": "Caffe2",
                "matching_heuristics": True,
            }
    else:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            logger.warning(
                "%s holds non-tensor Python objects; loading it with weights_only=False "
                "(only do this for files you trust)",
                path,
            )
            try:
                data = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as e:  # noqa: BLE001 - any unreadable file is the same input error
                raise DataError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}") from None
        except (RuntimeError, EOFError, OSError) as e:  # not a torch file at all, or truncated
            raise DataError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a dict checkpoint, got {type(data).__name__}")
        out = _unwrap_weights(data)
    model = out["model"]
    if hasattr(model, "state_dict") and not isinstance(model, dict):
        model = model.state_dict()
    model = {k: _to_tensor(v) for k, v in model.items()}
    bad = [k for k, v in model.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path}: non-array entries in the model weights: {_compact(bad)}")
    out["model"] = _strip_common_prefixes(model)
    return out


def _unwrap_weights(data: dict) -> dict:
    """Find the weights in a torch checkpoint: ``model`` (Detectron2/ours), ``state_dict`` (many trainers),
    ``teacher`` (DINO), else the dict itself."""
    if "model" in data:
        out = dict(data)
    else:
        for key in ("state_dict", "teacher"):
            if isinstance(data.get(key), dict):
                out = {"model": data[key]}
                break
        else:
            out = {"model": data}
    out.setdefault("matching_heuristics", False)
    return out


def _strip_common_prefixes(model: dict) -> dict:
    """Drop wrapper prefixes shared by every key (``module.`` from DDP, ``backbone.``/``model.``/``encoder.``
    from backbone-only exports); names are then aligned to ours by suffix."""
    changed = True
    while model and changed:
        changed = False
        for prefix in ("module.", "backbone.", "model.", "encoder."):
            if all(k.startswith(prefix) for k in model):
                model = {k[len(prefix) :]: v for k, v in model.items()}
                changed = True
    return model


def torchvision_resnet_to_d2(state: dict) -> dict:
    """Rename torchvision ResNet keys to Detectron2's (conv1 -> stem.conv1, bn1 -> stem.conv1.norm,
    layerN -> res(N+1), bnK -> convK.norm, downsample.0/1 -> shortcut(.norm)); drops ``fc``."""
    out = {}
    for k, v in state.items():
        if k.startswith("fc."):
            continue
        n = k
        if not n.startswith("layer"):
            n = "stem." + n
        n = re.sub(r"^layer(\d)", lambda m: f"res{int(m.group(1)) + 1}", n)
        n = re.sub(r"bn(\d)", r"conv\1.norm", n)
        n = n.replace("downsample.0", "shortcut").replace("downsample.1", "shortcut.norm")
        out[n] = v
    return out


def _looks_like_torchvision_resnet(keys) -> bool:
    keys = set(keys)
    return "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys)


def align_state_dict(model_keys: list[str], ckpt: dict, matching_heuristics: bool) -> tuple[dict, list[str]]:
    """Map checkpoint names onto model names.

    Identity for names that exist in the model. With ``matching_heuristics`` (or when names do not match),
    an unmatched checkpoint key ``k`` is assigned to the model key that equals it or ends with ``"." + k``
    (the longest such checkpoint key wins per model key; a key matching several model keys is ambiguous
    and left unused). Returns (mapped state, unused checkpoint keys).
    """
    model_set = set(model_keys)
    mapped, unused = {}, []
    rest = {}
    for k, v in ckpt.items():
        if k in model_set:
            mapped[k] = v
        else:
            rest[k] = v
    if rest and (matching_heuristics or not mapped):
        free = [m for m in model_keys if m not in mapped]
        best: dict[str, str] = {}
        for ck in sorted(rest, key=len, reverse=True):
            cands = [m for m in free if m.endswith("." + ck)]
            if len(cands) != 1:
                unused.append(ck)
                continue
            m = cands[0]
            if m in best:
                unused.append(ck)
                continue
            best[m] = ck
        for m, ck in best.items():
            mapped[m] = rest[ck]
    else:
        unused.extend(rest)
    return mapped, sorted(unused)


# --eval-only and the demo evaluate the network as loaded: nearly every tensor must come from MODEL.WEIGHTS
INFERENCE_MIN_LOADED = 0.9


def load_weights(model: nn.Module, path: str | os.PathLike, log: bool = True,
                 min_loaded: float = 0.0) -> LoadReport | None:
    """Load MODEL.WEIGHTS into ``model`` (the one entry point for it): a Detectron2 ``.pth``/``.pkl``, one of
    our checkpoints or a torchvision ResNet, names aligned onto the model (wrappers such as DDP unwrapped).

    ``""`` keeps the random initialisation and returns None. A URL or a missing file raises FileNotFoundError
    with a download hint. Tensors with a different shape are skipped and listed in the returned report.
    Weights of which no tensor fits the model (another network), or that fill less than `min_loaded` of the
    model's tensors, raise DataError.
    """
    if not os.fspath(path):
        logger.info("MODEL.WEIGHTS is empty: starting from random initialisation")
        return None
    model = unwrap_model(model)
    data = load_checkpoint_file(path)
    ckpt = data["model"]
    if _looks_like_torchvision_resnet(ckpt):
        ckpt = torchvision_resnet_to_d2(ckpt)
    ckpt = {k: v for k, v in ckpt.items() if not _IGNORED_CKPT_KEYS.search(k)}
    own = model.state_dict()
    mapped, unused = align_state_dict(list(own), ckpt, bool(data.get("matching_heuristics", False)))
    report = LoadReport(path=os.fspath(path), unexpected=unused)
    to_load = {}
    for k, v in mapped.items():
        target = own[k]
        if tuple(v.shape) != tuple(target.shape):
            report.shape_mismatch.append((k, tuple(v.shape), tuple(target.shape)))
            continue
        to_load[k] = v.to(dtype=target.dtype)
    model.load_state_dict(to_load, strict=False)
    report.loaded = sorted(to_load)
    for k in own:
        if k not in to_load:
            (report.missing_counters if k.endswith("num_batches_tracked") else report.missing).append(k)
    wanted = len(report.loaded) + len(report.missing)
    if not to_load or len(report.loaded) < min_loaded * wanted:
        raise DataError(f"MODEL.WEIGHTS {os.fspath(path)}: only {len(report.loaded)} of the model's "
                        f"{wanted} tensors match ({len(report.shape_mismatch)} of another shape, "
                        f"{len(unused)} unused): these are not weights of this network")
    if log:
        logger.info(report.summary())
    return report


def export_d2_checkpoint(state_dict: dict, path: str | os.PathLike, author: str = "unMORE-cad") -> None:
    """Write ``state_dict`` in Detectron2's layout: ``.pkl`` -> ``{"model": numpy arrays, "__author__",
    "matching_heuristics": True}``; anything else -> ``torch.save({"model": tensors})``. Atomic."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in state_dict.items()}
    if path.suffix == ".pkl":
        payload = {
            "model": {k: (v.float() if v.dtype == torch.bfloat16 else v).numpy() for k, v in state.items()},
            "__author__": author,
            "matching_heuristics": True,
        }
        atomic_write_bytes(path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    else:
        atomic_torch_save({"model": state}, path)


def convert_checkpoint(
    src: str | os.PathLike, dst: str | os.PathLike, model: nn.Module | None = None
) -> LoadReport | None:
    """Convert between formats: read ``src`` (Detectron2 ``.pkl``/``.pth``, our training checkpoint, or a
    torchvision ResNet), write the weights to ``dst`` in Detectron2 layout (``.pkl`` numpy or ``.pth``).

    With ``model``, the weights are first loaded into it (names aligned, shapes checked) and its full
    ``state_dict()`` is written; the load report is returned. Trainer state (optimizer, ...) is dropped.
    """
    if not os.path.isfile(src):
        raise FileNotFoundError(f"Checkpoint file not found: {src}.")
    if model is not None:
        report = load_weights(model, src, log=False)
        export_d2_checkpoint(model.state_dict(), dst)
        return report
    state = load_checkpoint_file(src)["model"]
    if _looks_like_torchvision_resnet(state):
        state = torchvision_resnet_to_d2(state)
    export_d2_checkpoint(state, dst)
    return None
