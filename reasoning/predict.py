"""The one crop-and-predict path: boxes -> crops -> {center_fields, sdf_maps, existence}.

Reasoning, scoring and the benchmark all call `Predictor.predict`; the ground-truth oracle
(`reasoning.oracle.OraclePredictor`) implements the same interface, so the algorithm never knows whether
networks or exact fields answer. Counting and timing are `reasoning.stats.CountingPredictor`'s job.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from itertools import accumulate
from typing import NamedTuple

import torch
import torch.nn.functional as F

from models.inference import inference_copy
from models.objectness_net import ObjectnessNet
from reasoning.crops import CROP_SIZE, crop_resize_batched, crop_resize_loop, pixel_boxes
from utils.device import autocast

FIELDS = "fields"      # center fields and boundary (sdf) maps
SDF = "sdf"            # the boundary maps alone (boundary reasoning): the center head is not run
EXISTENCE = "existence"
CROP_MODES = ("batched", "loop")
PRECISIONS = ("fp32", "bf16", "fp16")
CPU_BATCH = 64  # `--batch_size auto` on a CPU: larger batches spill the caches and are slower per crop
Prediction = dict[str, torch.Tensor]
log = logging.getLogger(__name__)


class Request(NamedTuple):
    """One image's boxes to predict: image [3, H, W], boxes [N, 4] (float image pixels), its id."""

    image: torch.Tensor
    boxes: torch.Tensor
    image_id: int | str | None


def synchronize(device: torch.device | None) -> None:
    """Wait for queued CUDA work on `device`, so wall times are real (no-op elsewhere)."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


class PhaseTimer:
    """Accumulates wall time per phase name (synchronising CUDA so times are real)."""

    def __init__(self, device: torch.device | None = None):
        self.device = device
        self.seconds: Counter = Counter()

    def add(self, phase: str, start: float) -> float:
        """Add the time since `start` to `phase`; returns now (the next phase's start)."""
        synchronize(self.device)
        now = time.perf_counter()
        self.seconds[phase] += now - start
        return now


def auto_batch_size(networks: list[torch.nn.Module], device: torch.device, input_size: int = CROP_SIZE,
                    precision: str = "fp32", cap: int = 1024, probe: int = 8) -> int:
    """Crops per network call chosen by memory (`--batch_size auto`).

    CUDA: run each network on `probe` blank crops [probe, 3, input_size, input_size], take the largest
    peak-memory growth per crop and return the largest power of two (<= `cap`) whose batch uses at most
    70% of the free device memory. Elsewhere: `CPU_BATCH` (a CPU is fastest per crop with cache-sized
    batches: 256 crops per call were 2-4x slower per crop than 64 on the main job's networks).
    """
    if device.type != "cuda":
        return CPU_BATCH
    synchronize(device)
    per_crop = 1.0
    crops = torch.zeros((probe, 3, input_size, input_size), device=device)
    for net in networks:
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with torch.no_grad(), autocast(device, precision):
            net(crops)
        synchronize(device)
        per_crop = max(per_crop, (torch.cuda.max_memory_allocated(device) - base) / probe)
    free, _ = torch.cuda.mem_get_info(device)
    fits = int(0.7 * free / per_crop)
    return max(1, min(cap, 1 << max(fits, 1).bit_length() - 1))


def batch_size_flag(text: str | int) -> int | str:
    """`--batch_size`: a positive integer or `auto` (as an argparse type, a bad value is a usage error)."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 or auto, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


class Predictor:
    """Interface: `predict(image, boxes, want, image_id)` for boxes [N, 4] (float image pixels).

    `image` is float RGB [3, H, W] in [0, 1] on `self.device`; `want` is a set of `FIELDS`/`SDF`/`EXISTENCE`.
    Returns a dict with, as requested, `center_fields` [N, 2, S, S] (`FIELDS`), `sdf_maps` [N, S, S]
    (`FIELDS` or `SDF`; float32, on the device; S = `size`) and `existence` [N] (float32).
    """

    size: int = CROP_SIZE

    def __init__(self, device: torch.device):
        self.device = device

    def predict(self, image: torch.Tensor, boxes: torch.Tensor, want: set[str],
                image_id: int | str | None = None) -> Prediction:
        raise NotImplementedError

    def predict_many(self, requests: list[Request], want: set[str]) -> list[Prediction]:
        """The predictions of several images' boxes (one `predict` each here; batched where it pays)."""
        return [self.predict(r.image, r.boxes, want, r.image_id) for r in requests]


def concat_chunks(chunks: list[Prediction], want: set[str], size: int, device: torch.device) -> Prediction:
    """Per-batch predictions -> one prediction (empty tensors of the right shape for no chunks)."""
    out: Prediction = {}
    keys = []
    if FIELDS in want:
        keys += [("center_fields", (2, size, size)), ("sdf_maps", (size, size))]
    elif SDF in want:
        keys.append(("sdf_maps", (size, size)))
    if EXISTENCE in want:
        keys.append(("existence", ()))
    for key, shape in keys:
        if chunks:
            out[key] = torch.cat([c[key] for c in chunks], dim=0)
        else:
            out[key] = torch.zeros((0, *shape), device=device)
    return out


class NetworkPredictor(Predictor):
    """Frozen stage-1 networks on crops cut in batches (`crop_mode="batched"`) or one by one (`"loop"`).

    Crops are cut at `input_size` (the networks' training crop size); fields predicted at another size than
    the reasoning grid `size` (128) are resampled to it bilinearly (align_corners=False). `timer` splits the
    time into its "crop" and "network" phases.

    `fold_batchnorm`: the predictor runs copies of the networks with every BatchNorm folded into its
    convolution (`models.inference.inference_copy`; the networks passed in are not changed) and, on a CPU,
    with channels-last weights and crops; the outputs are the same up to float rounding, each crop is several
    times cheaper on a CPU.
    """

    def __init__(self, objectness: torch.nn.Module | None, existence: torch.nn.Module | None,
                 device: torch.device, *, batch_size: int | str, precision: str, crop_mode: str,
                 input_size: int = CROP_SIZE, fold_batchnorm: bool = False):
        super().__init__(device)
        self.input_size = int(input_size)
        if crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode must be one of {CROP_MODES}, got {crop_mode!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.timer = PhaseTimer(device)
        self.channels_last = fold_batchnorm and device.type == "cpu"
        self.folded: dict[str, int] = {}
        self.objectness = self._prepare(objectness, "objectness", fold_batchnorm)
        self._heads = isinstance(self.objectness, ObjectnessNet)  # can run one head alone
        self.existence = self._prepare(existence, "existence", fold_batchnorm)
        size = batch_size_flag(batch_size)
        networks = [net for net in (self.objectness, self.existence) if net is not None]
        self.batch_size = (auto_batch_size(networks, device, self.input_size, precision) if size == "auto"
                           else size)
        self.precision = precision
        self.crop_mode = crop_mode

    def _prepare(self, net: torch.nn.Module | None, name: str, fold: bool) -> torch.nn.Module | None:
        """`net` in eval mode on the device; with `fold`, its inference copy (`folded[name]`: BatchNorm
        layers folded, -1 if the copy did not reproduce the network and `net` itself is used)."""
        if net is None:
            return None
        net = net.to(self.device).eval()
        if fold:
            example = torch.zeros((2, 3, self.input_size, self.input_size), device=self.device)
            net, self.folded[name] = inference_copy(net, example, channels_last=self.channels_last)
            if self.folded[name] < 0:
                log.warning("%s network: its folded copy did not reproduce it, running it as trained", name)
        return net

    def _crop(self, image: torch.Tensor, pix: torch.Tensor) -> torch.Tensor:
        """image [3, H, W], pixel boxes [n, 4] -> crops [n, 3, input_size, input_size]."""
        if self.crop_mode == "batched":
            crops = crop_resize_batched(image, pix, self.input_size)
        else:
            crops = crop_resize_loop(image, pix, self.input_size)
        return crops.contiguous(memory_format=torch.channels_last) if self.channels_last else crops

    def _to_grid(self, fields: torch.Tensor) -> torch.Tensor:
        """[N, C, s, s] network output -> [N, C, size, size] on the reasoning grid."""
        if fields.shape[-1] == self.size:
            return fields
        return F.interpolate(fields, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def predict(self, image: torch.Tensor, boxes: torch.Tensor, want: set[str],
                image_id: int | str | None = None) -> Prediction:
        return self.predict_many([Request(image, boxes, image_id)], want)[0]

    @torch.no_grad()
    def predict_many(self, requests: list[Request], want: set[str]) -> list[Prediction]:
        """Every request's crops in batches of `batch_size` (a batch may mix images), split back."""
        pix = [pixel_boxes(r.boxes, r.image.shape[1], r.image.shape[2]) for r in requests]
        ends = list(accumulate(p.shape[0] for p in pix))
        starts = [0] + ends[:-1]
        chunks = []
        for lo in range(0, ends[-1] if ends else 0, self.batch_size):
            hi = min(lo + self.batch_size, ends[-1])
            t = time.perf_counter()
            pieces = [self._crop(r.image, p[max(lo - a, 0):min(hi, b) - a].to(r.image.device))
                      for r, p, a, b in zip(requests, pix, starts, ends) if a < hi and b > lo]
            crops = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
            t = self.timer.add("crop", t)
            chunks.append(self._run_networks(crops, want))
            self.timer.add("network", t)
        out = concat_chunks(chunks, want, self.size, self.device)
        return [{k: v[a:b] for k, v in out.items()} for a, b in zip(starts, ends)]

    def _run_networks(self, crops: torch.Tensor, want: set[str]) -> Prediction:
        """crops [n, 3, input_size, input_size] -> the wanted outputs on the reasoning grid."""
        chunk: Prediction = {}
        with autocast(self.device, self.precision):
            if FIELDS in want or SDF in want:
                if self.objectness is None:
                    raise RuntimeError("no objectness network loaded (--objectness_resume)")
                if FIELDS in want or not self._heads:
                    out = self.objectness(crops)
                else:  # an ObjectnessNet runs only its boundary head
                    out = self.objectness(crops, heads=("sdf_maps",))
                if FIELDS in want:
                    chunk["center_fields"] = self._to_grid(out["center_fields"].float()).contiguous()
                chunk["sdf_maps"] = self._to_grid(out["sdf_maps"].float())[:, 0].contiguous()
            if EXISTENCE in want:
                if self.existence is None:
                    raise RuntimeError("no existence network loaded (--binary_classifier_resume)")
                chunk["existence"] = self.existence(crops)[:, 0].float()
        return chunk
