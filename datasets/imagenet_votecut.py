"""ImageNet + VoteCut top-1 masks: the center/boundary training set of stage 1.

Layout: `<imagenet_root>/train/<wnid>/<name>.JPEG` and `<mask_root>/<wnid>/<name>.png` (0/255), with
`mask_root` defaulting to `<imagenet_root>/masks_top1_single_component`.

Every sample's randomness comes from a numpy Generator seeded by `(seed, key)`, where the key is the
sample's position in the training stream (see `training.sampler.StreamSampler`) or its index; samples
are therefore identical whatever the number of DataLoader workers, and a resumed run sees the same data.
A bad file (missing/corrupt image, missing mask, size mismatch not fixed by the rotate rule) yields a
`SkippedSample` that `collate_samples` drops and reports, so it never stops a worker or the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from datasets.objectness_targets import (
    PRE_CROP_SIZE,
    CropBox,
    crop,
    crop_targets,
    normalized_distance,
    resize_image,
    resize_mask,
    sample_crop_box,
)
from utils.io import DataError, load_image_rgb, load_mask

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
DEFAULT_MASK_DIRNAME = "masks_top1_single_component"


@dataclass(frozen=True)
class SkippedSample:
    """Placeholder for a sample whose files could not be used."""

    name: str
    reason: str


def default_mask_root(imagenet_root: str | os.PathLike) -> Path:
    return Path(imagenet_root) / DEFAULT_MASK_DIRNAME


def resolve_image_and_mask_roots(
    imagenet_root: str | os.PathLike, mask_root: str | os.PathLike | None
) -> tuple[Path, Path, list[str]]:
    """Check the data roots and list the images: (imagenet_root, mask_root, relative image names).

    Raises DataError naming the missing folder.
    """
    imagenet_root = Path(imagenet_root)
    mask_root = Path(mask_root) if mask_root else default_mask_root(imagenet_root)
    if not imagenet_root.is_dir():
        raise DataError(f"--imagenet_root not found: {imagenet_root}")
    if not mask_root.is_dir():
        hint = "run tools/preprocess_votecut.py or pass --mask_root"
        raise DataError(f"mask folder not found: {mask_root} ({hint})")
    return imagenet_root, mask_root, list_images(imagenet_root)


def list_images(imagenet_root: str | os.PathLike) -> list[str]:
    """Sorted relative paths `<wnid>/<name>.<ext>` of the images below `<imagenet_root>/train`.

    Raises DataError when the folder is missing or holds no image.
    """
    train_dir = Path(imagenet_root) / "train"
    if not train_dir.is_dir():
        raise DataError(f"ImageNet train folder not found: {train_dir} (expected train/<wnid>/<name>.JPEG)")
    names = []
    for class_dir in sorted(os.scandir(train_dir), key=lambda e: e.name):
        if not class_dir.is_dir():
            continue
        for entry in os.scandir(class_dir.path):
            if entry.name.lower().endswith(IMAGE_EXTENSIONS):
                names.append(f"{class_dir.name}/{entry.name}")
    if not names:
        raise DataError(f"no images found below {train_dir} (expected train/<wnid>/<name>.JPEG)")
    return sorted(names)


def mask_name(image_name: str) -> str:
    """`<wnid>/<name>.JPEG` -> `<wnid>/<name>.png`."""
    return str(Path(image_name).with_suffix(".png").as_posix())


def align_mask(mask: np.ndarray, image_shape: tuple[int, int], mask_path: str | os.PathLike) -> np.ndarray:
    """Return `mask` matching `image_shape` (H, W); a mask with swapped H/W is rotated 90 degrees clockwise.

    Any other size mismatch raises DataError naming the mask.
    """
    if mask.shape == tuple(image_shape):
        return mask
    if mask.shape[::-1] == tuple(image_shape):
        return np.ascontiguousarray(np.rot90(mask, k=-1))
    raise DataError(
        f"mask {mask_path} has size {mask.shape[0]}x{mask.shape[1]} but its image is "
        f"{image_shape[0]}x{image_shape[1]} (not fixed by a 90-degree rotation)"
    )


def load_image_and_mask(
    imagenet_root: str | os.PathLike, mask_root: str | os.PathLike, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB image [H, W, 3] and aligned bool mask [H, W] of `<wnid>/<name>`; DataError when unusable."""
    image = load_image_rgb(Path(imagenet_root) / "train" / name)
    mask_path = Path(mask_root) / mask_name(name)
    mask = align_mask(load_mask(mask_path), image.shape[:2], mask_path)
    return image, mask


def sample_rng(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(key)])


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float [3, H, W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def center_boundary_sample(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator | None,
    image_size: int = 128,
    use_bg_sdf: bool = True,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    mask_resize: str = "nearest_exact",
) -> dict[str, torch.Tensor]:
    """Training sample of one image; `mask_resize` as in `objectness_targets.resize_mask`.

    Image and mask are resized to 400x400, the whole-object foreground distance is computed there, one
    random resized crop (or the full image when `rng` is None) is cut and resized to `image_size`.
    Returns `image` [3, S, S] in [0, 1], `center_field` [2, S, S], `sdf` [1, S, S], `saliency_mask`
    [1, S, S] (0/1 float) and `object_center` [2] (row, col in crop pixels).
    """
    image400 = resize_image(image, PRE_CROP_SIZE)
    mask400 = resize_mask(mask, PRE_CROP_SIZE, mask_resize)
    if rng is None:
        box = CropBox(0, 0, PRE_CROP_SIZE, PRE_CROP_SIZE)
    else:
        box = sample_crop_box(rng, PRE_CROP_SIZE, PRE_CROP_SIZE, scale=crop_scale)
    targets = crop_targets(
        mask400, box, image_size, use_bg_sdf=use_bg_sdf, fg_distance=normalized_distance(mask400),
        mask_resize=mask_resize,
    )
    crop_image = resize_image(np.ascontiguousarray(crop(image400, box)), image_size)
    return {
        "image": image_to_tensor(crop_image),
        "center_field": torch.from_numpy(targets["center_field"]),
        "sdf": torch.from_numpy(targets["sdf"])[None],
        "saliency_mask": torch.from_numpy(targets["saliency_mask"].astype(np.float32))[None],
        "object_center": torch.from_numpy(targets["object_center"]),
    }


class ImageNetVoteCutDataset(Dataset):
    """Center/boundary samples from ImageNet images and their VoteCut top-1 single-component masks.

    `dataset[key]` with `key` an int (index, also the RNG key) or a pair `(index, stream_position)`;
    returns a dict (see `center_boundary_sample`, plus `name`) or a `SkippedSample`.
    `random_crop=False` gives the deterministic full-image sample (held-out evaluation).
    """

    def __init__(
        self,
        imagenet_root: str | os.PathLike,
        mask_root: str | os.PathLike | None = None,
        image_size: int = 128,
        use_bg_sdf: bool = True,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        random_crop: bool = True,
        seed: int = 0,
        mask_resize: str = "nearest_exact",
    ):
        roots = resolve_image_and_mask_roots(imagenet_root, mask_root)
        self.imagenet_root, self.mask_root, self.names = roots
        self.image_size = image_size
        self.use_bg_sdf = use_bg_sdf
        self.crop_scale = crop_scale
        self.random_crop = random_crop
        self.seed = seed
        self.mask_resize = mask_resize

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key):
        index, stream_key = key if isinstance(key, tuple) else (key, key)
        name = self.names[index]
        try:
            image, mask = load_image_and_mask(self.imagenet_root, self.mask_root, name)
            rng = sample_rng(self.seed, stream_key) if self.random_crop else None
            sample = center_boundary_sample(
                image, mask, rng, self.image_size, self.use_bg_sdf, self.crop_scale, self.mask_resize
            )
        except (DataError, cv2.error) as e:
            return SkippedSample(name, str(e))
        sample["name"] = name
        return sample


def collate_samples(batch: list) -> dict:
    """Stack the tensors of the usable samples; `skipped` lists (name, reason) of the others.

    The result always has `names`, `skipped` and `size` (number of usable samples, possibly 0).
    """
    good = [s for s in batch if not isinstance(s, SkippedSample)]
    out: dict = {
        "skipped": [(s.name, s.reason) for s in batch if isinstance(s, SkippedSample)],
        "names": [s["name"] for s in good],
        "size": len(good),
    }
    if good:
        for k, v in good[0].items():
            if isinstance(v, torch.Tensor):
                out[k] = torch.stack([s[k] for s in good])
    return out
