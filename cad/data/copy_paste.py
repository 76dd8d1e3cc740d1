"""Copy-paste augmentation between the images of a mini-batch (CutLER/unMORE recipe, CAD_SPEC B.3).

Runs on whatever device the batch is on, with tensor ops only, after resize/flip and before normalisation.
Target image ``i`` receives objects of source image ``B-1-i`` (sources are the pre-paste images):

1. a random subset of the source objects (1..n-1 of n when ``random_num``, else all),
2. the whole source image and those masks are rescaled to ``(floor(r*H_t), floor(r*W_t))`` with
   ``r ~ U(min_ratio, max_ratio)`` (bilinear; masks: any non-zero value is foreground) and placed at a
   random offset inside the target,
3. a pasted object is kept only if it covers less than half of every existing object
   (``|pasted & existing| / |existing| < 0.5``),
4. existing masks lose the pixels the kept objects cover; fully covered existing objects are dropped,
5. every box is recomputed as the tight box of its mask (x2 = last column + 1); scores and classes are
   carried along.

Differences from the original code, on purpose: pasted objects that end up empty are dropped, and the
empty-target case gets boxes from masks (the original keeps boxes with x/y offsets swapped there).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from cad.data.transforms import masks_to_boxes
from cad.structures import Boxes, Instances

COVER_THRESHOLD = 0.5


def _resize_source(image: torch.Tensor, masks: torch.Tensor, nh: int,
                   nw: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [3, H, W] and bool [K, H, W] -> [3, nh, nw] uint8 (truncated) and bool [K, nh, nw]."""
    img = F.interpolate(image[None].float(), size=(nh, nw), mode="bilinear", align_corners=False)[0]
    img = img.clamp(0, 255).to(torch.uint8)
    if masks.shape[0]:
        m = F.interpolate(masks[:, None].float(), size=(nh, nw), mode="bilinear", align_corners=False)
        m = m[:, 0] > 0
    else:
        m = masks.new_zeros((0, nh, nw))
    return img, m


def paste(target_image: torch.Tensor, target: Instances, source_image: torch.Tensor, source: Instances,
          chosen: torch.Tensor, ratio: float, dx: int, dy: int) -> tuple[torch.Tensor, Instances]:
    """Paste the ``chosen`` source instances onto the target (deterministic core of the augmentation).

    target_image/source_image: uint8 [3, H, W]; instances carry gt_boxes, gt_masks (bool [N, H, W]),
    gt_classes and gt_scores. ``ratio`` scales the source to the target size; (dx, dy) is the top-left
    corner of the pasted window. Returns the new image and instances (inputs are not modified).
    """
    ht, wt = target_image.shape[-2:]
    nh, nw = int(ratio * ht), int(ratio * wt)
    if nh < 1 or nw < 1 or len(chosen) == 0:
        return target_image, target
    if not (0 <= dx <= wt - nw and 0 <= dy <= ht - nh):
        raise ValueError(f"paste offset ({dx}, {dy}) puts a {nh}x{nw} window outside a {ht}x{wt} image")
    src_img, src_masks = _resize_source(source_image, source.gt_masks[chosen], nh, nw)
    canvas = torch.zeros_like(target_image)
    canvas[:, dy:dy + nh, dx:dx + nw] = src_img
    pasted = torch.zeros((len(chosen), ht, wt), dtype=torch.bool, device=target_image.device)
    pasted[:, dy:dy + nh, dx:dx + nw] = src_masks
    nonempty = pasted.flatten(1).any(dim=1)
    pasted = pasted[nonempty]
    p_classes = source.gt_classes[chosen][nonempty]
    p_scores = source.gt_scores[chosen][nonempty]

    existing = target.gt_masks
    if existing.shape[0] and pasted.shape[0]:
        e_flat = existing.flatten(1).float()
        inter = pasted.flatten(1).float() @ e_flat.T  # [P, E]
        cover = inter / e_flat.sum(dim=1).clamp(min=1)[None]
        keep = (cover < COVER_THRESHOLD).all(dim=1)
        pasted, p_classes, p_scores = pasted[keep], p_classes[keep], p_scores[keep]
    if pasted.shape[0] == 0:
        return target_image, target

    alpha = pasted.any(dim=0)
    image = torch.where(alpha[None], canvas, target_image)
    remaining = existing & ~alpha[None]
    survive = remaining.flatten(1).any(dim=1)
    masks = torch.cat([remaining[survive], pasted], dim=0)
    out = Instances(
        (ht, wt),
        gt_boxes=Boxes(masks_to_boxes(masks)),
        gt_classes=torch.cat([target.gt_classes[survive], p_classes.to(target.gt_classes.dtype)]),
        gt_masks=masks,
        gt_scores=torch.cat([target.gt_scores[survive], p_scores.to(target.gt_scores.dtype)]),
    )
    return image, out


def copy_paste_batch(batch: list[dict], rate: float = 1.0, random_num: bool = True, min_ratio: float = 0.3,
                     max_ratio: float = 1.0, rng: random.Random | None = None) -> list[dict]:
    """Apply copy-paste to a list of mapped inputs (``image`` uint8 [3, H, W], ``instances``).

    Returns new dicts (the inputs are the sources and stay untouched). ``rate`` is the probability that a
    target receives objects.
    """
    rng = rng or random.Random()
    out = []
    b = len(batch)
    for i, tgt in enumerate(batch):
        src = batch[b - 1 - i]
        n = len(src["instances"])
        new = dict(tgt)
        if n == 0 or rng.random() > rate:
            out.append(new)
            continue
        n_copy = (1 if n == 1 else rng.randint(1, n - 1)) if random_num else n
        chosen = torch.tensor(sorted(rng.sample(range(n), n_copy)), device=src["image"].device)
        ratio = rng.uniform(min_ratio, max_ratio)
        ht, wt = tgt["image"].shape[-2:]
        nh, nw = int(ratio * ht), int(ratio * wt)
        dx, dy = rng.randint(0, max(wt - nw, 0)), rng.randint(0, max(ht - nh, 0))
        new["image"], new["instances"] = paste(tgt["image"], tgt["instances"], src["image"], src["instances"],
                                               chosen, ratio, dx, dy)
        out.append(new)
    return out
