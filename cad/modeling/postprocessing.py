"""Detectron2 output post-processing: rescale to the original size and paste 28x28 mask probabilities."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..structures import Boxes, Instances


def _do_paste_mask(masks: torch.Tensor, boxes: torch.Tensor, img_h: int, img_w: int, skip_empty: bool):
    """masks [N,1,M,M] float, boxes [N,4] continuous -> ([N,h,w] pasted probabilities, spatial slices).

    Each output pixel centre (x + 0.5, y + 0.5) is mapped into the box's normalised [-1, 1] frame and sampled
    bilinearly (grid_sample, align_corners=False, zeros outside)."""
    device = masks.device
    if skip_empty:
        x0_int, y0_int = torch.clamp(boxes.min(dim=0).values.floor()[:2] - 1, min=0).to(dtype=torch.int32)
        x1_int = torch.clamp(boxes[:, 2].max().ceil() + 1, max=img_w).to(dtype=torch.int32)
        y1_int = torch.clamp(boxes[:, 3].max().ceil() + 1, max=img_h).to(dtype=torch.int32)
        x0_int, y0_int, x1_int, y1_int = int(x0_int), int(y0_int), int(x1_int), int(y1_int)
    else:
        x0_int, y0_int, x1_int, y1_int = 0, 0, img_w, img_h
    x0, y0, x1, y1 = torch.split(boxes, 1, dim=1)
    n = masks.shape[0]
    img_y = torch.arange(y0_int, y1_int, device=device, dtype=torch.float32) + 0.5
    img_x = torch.arange(x0_int, x1_int, device=device, dtype=torch.float32) + 0.5
    img_y = (img_y - y0) / (y1 - y0) * 2 - 1
    img_x = (img_x - x0) / (x1 - x0) * 2 - 1
    gx = img_x[:, None, :].expand(n, img_y.size(1), img_x.size(1))
    gy = img_y[:, :, None].expand(n, img_y.size(1), img_x.size(1))
    grid = torch.stack([gx, gy], dim=3)
    if not masks.dtype.is_floating_point:
        masks = masks.float()
    img_masks = F.grid_sample(masks, grid.to(masks.dtype), align_corners=False)
    if skip_empty:
        return img_masks[:, 0], (slice(y0_int, y1_int), slice(x0_int, x1_int))
    return img_masks[:, 0], ()


def paste_masks_in_image(
    masks: torch.Tensor, boxes: torch.Tensor, image_shape: tuple[int, int], threshold: float = 0.5
) -> torch.Tensor:
    """masks [N, M, M] probabilities, boxes [N, 4] in image coords -> bool [N, H, W] (prob >= threshold)."""
    n = len(masks)
    img_h, img_w = int(image_shape[0]), int(image_shape[1])
    if n == 0:
        return masks.new_zeros((0, img_h, img_w), dtype=torch.bool)
    device = boxes.device
    skip_empty = device.type == "cpu"
    if skip_empty:
        num_chunks = n
    else:  # bound GPU memory to about 1 GB of float32 per chunk
        num_chunks = int(min(n, max(1, -(-n * img_h * img_w * 4 // (1024**3)))))
    out = torch.zeros(n, img_h, img_w, device=device, dtype=torch.bool)
    for inds in torch.chunk(torch.arange(n, device=device), num_chunks):
        chunk, spatial = _do_paste_mask(masks[inds, None, :, :], boxes[inds], img_h, img_w, skip_empty)
        out[(inds,) + spatial] = chunk >= threshold
    return out


def detector_postprocess(
    results: Instances, output_height: int, output_width: int, mask_threshold: float = 0.5
) -> Instances:
    """Rescale boxes from the network input size to (output_height, output_width), clip, drop empty boxes
    and paste masks at that size (Detectron2 ``detector_postprocess``)."""
    scale_x = output_width / results.image_size[1]
    scale_y = output_height / results.image_size[0]
    out = Instances((output_height, output_width), **results.get_fields())
    boxes = Boxes(out.pred_boxes.tensor.clone())
    boxes.scale(scale_x, scale_y)
    boxes.clip(out.image_size)
    out.pred_boxes = boxes
    out = out[boxes.nonempty()]
    if out.has("pred_masks"):
        m = out.pred_masks
        if m.dim() == 4:
            m = m[:, 0]
        out.pred_masks = paste_masks_in_image(
            m, out.pred_boxes.tensor, (output_height, output_width), mask_threshold
        )
    return out
