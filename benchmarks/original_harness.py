"""Runs the ORIGINAL unMORE object reasoning (`vLAR-group/unMORE`, fetched by the user; never vendored) on
one image at a time, with the project's predictors answering for its networks.

The original module is executed from its own source with these harness-only changes, each listed in
`SHIMS` / `PATCHES`:
- its imports of the training code (`datasets`, `models.objectness_net`) and of packages it imports but
  never calls for reasoning (`seaborn`) are stubbed; `torchmetrics.functional.image_gradients` (not
  installed here) gets a stand-in with torchmetrics' definition (forward differences, last row / column 0);
- `transforms.Resize` becomes the non-antialiased bilinear resize of the torchvision it pinned (0.14; newer
  torchvision antialiases tensors), or, for the ground-truth oracle, a crop that only carries its pixel box
  (recovered from the slice's storage offset) so that the oracle answers for exactly the boxes it crops;
- crash guards: where no proposal fails the singularity check the original leaves a Python list `[]` of
  split proposals and crashes (`cc_cat_on_empty_list` with `--analyze_cc`, `existence_check_on_empty_list`
  in the existence re-check of an empty list); there the list is taken as empty and each firing is counted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
import tempfile
import time
import types
from argparse import Namespace
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from reasoning.predict import EXISTENCE, FIELDS, Predictor

SOURCES = ("object_reasoning.py", "utils/misc.py", "utils/vis.py")
# (where, text that must occur exactly once, text inserted before it)
PATCHES = (
    ("center_reasoning: empty split list",
     "        if self.args.analyze_cc:\n            ## analyse connected component",
     "        if isinstance(splited_new_proposals, list):\n"
     "            splited_new_proposals = _harness_empty_split(self, proposals)\n"),
)
SHIMS = ("datasets (stub)", "models.objectness_net (stub)", "seaborn (stub)",
         "torchmetrics.functional.image_gradients", "transforms.Resize (antialias=False / oracle box)",
         "NpEncoder (NumPy 2)", "find_objects of a bool mask (SciPy >= 1.11)")


def read_source(repo: Path, rel: str) -> str:
    """A file of the original repository: a checkout (`repo/rel`) or a bare git directory (HEAD)."""
    path = repo / rel
    if path.is_file():
        return path.read_text()
    out = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{rel}"], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise FileNotFoundError(f"{rel} not found in {repo} (checkout or bare git dir of vLAR-group/unMORE)")
    return out.stdout


def _image_gradients(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torchmetrics' image_gradients: [N, C, H, W] -> (dy, dx), forward differences, last row/col 0."""
    dy = torch.zeros_like(img)
    dx = torch.zeros_like(img)
    dy[..., :-1, :] = img[..., 1:, :] - img[..., :-1, :]
    dx[..., :, :-1] = img[..., :, 1:] - img[..., :, :-1]
    return dy, dx


def _find_objects(input: np.ndarray, max_label: int = 0):
    """scipy.ndimage.find_objects of a bool mask (SciPy >= 1.11 only takes integer labels)."""
    return ndimage.find_objects(input.astype(np.int32) if input.dtype == bool else input, max_label)


class _NpEncoder(json.JSONEncoder):
    def default(self, obj):
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            return obj.item()
        return super().default(obj)


class _Resize:
    """transforms.Resize((S, S)) of torchvision 0.14 on a tensor crop; in oracle mode the crop's pixel box
    `[1, 1, 4]` instead (the crop is a view `image[:, y1:y2, x1:x2]` of a contiguous image)."""

    oracle = False

    def __init__(self, size, interpolation=None):
        self.size = tuple(size)

    def __call__(self, crop: torch.Tensor) -> torch.Tensor:
        if _Resize.oracle:
            width = crop.stride(1)
            y1, x1 = divmod(crop.storage_offset(), width)
            h, w = crop.shape[-2:]
            return torch.tensor([[[x1, y1, x1 + w, y1 + h]]], dtype=torch.float64)
        return F.interpolate(crop[None], size=self.size, mode="bilinear", align_corners=False,
                             antialias=False)[0]


def load_original(repo: str | Path) -> types.ModuleType:
    """The original `object_reasoning` module, patched as the module docstring says."""
    repo = Path(repo)
    src = {rel: read_source(repo, rel) for rel in SOURCES}
    code = src["object_reasoning.py"]
    for where, anchor, insert in PATCHES:
        if code.count(anchor) != 1:
            raise RuntimeError(f"original source changed: cannot apply the harness patch '{where}'")
        code = code.replace(anchor, insert + anchor)
    stubs = {name: types.ModuleType(name) for name in ("datasets", "models", "models.objectness_net",
                                                        "seaborn", "utils")}
    stubs["models.objectness_net"].ObjectnessNet = stubs["models.objectness_net"].Binary_Classifier = object
    if importlib.util.find_spec("torchmetrics") is None:  # the original imports it; not a dependency of ours
        tm, tmf = types.ModuleType("torchmetrics"), types.ModuleType("torchmetrics.functional")
        tmf.image_gradients = _image_gradients
        tm.functional = tmf
        stubs.update({"torchmetrics": tm, "torchmetrics.functional": tmf})
    names = list(stubs) + ["utils.misc", "utils.vis"]
    saved = {name: sys.modules.get(name) for name in names}
    try:
        sys.modules.update(stubs)
        for rel in ("utils/misc.py", "utils/vis.py"):
            name = rel[:-3].replace("/", ".")
            mod = types.ModuleType(name)
            exec(compile(src[rel], f"unMORE/{rel}", "exec"), mod.__dict__)
            sys.modules[name] = mod
        original = types.ModuleType("unmore_object_reasoning")
        exec(compile(code, "unMORE/object_reasoning.py", "exec"), original.__dict__)
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod
    original.transforms = types.SimpleNamespace(Resize=_Resize)
    original.NpEncoder = _NpEncoder
    original.find_objects = _find_objects
    return original


class _Answer(torch.nn.Module):
    """Stands in for one of the original's networks: crops -> the predictor's answer, counting crops."""

    def __init__(self, run: OriginalRun, kind: str):
        super().__init__()
        self.run, self.kind = run, kind

    def forward(self, crops: torch.Tensor):
        run = self.run
        run.counts[self.kind] += crops.shape[0]
        if _Resize.oracle:
            boxes = crops[:, 0, 0, :].to(torch.float64)
            pred = run.predictor.predict(run.image, boxes, {self.kind}, run.image_id)
        else:
            net = run.networks[0] if self.kind == FIELDS else run.networks[1]
            out = net(crops.to(run.predictor.device))
            if self.kind == EXISTENCE:
                return out
            return {"sdf_maps": out["sdf_maps"].float(), "center_fields": out["center_fields"].float()}
        if self.kind == EXISTENCE:
            return pred["existence"][:, None]
        return {"sdf_maps": pred["sdf_maps"][:, None], "center_fields": pred["center_fields"]}


class OriginalRun:
    """The original `Object_Discovery` on one image at a time, answered by `predictor` (oracle) or by the
    objectness / existence `networks` (the same modules our path uses)."""

    def __init__(self, original: types.ModuleType, predictor: Predictor, config: dict,
                 networks: tuple[torch.nn.Module, torch.nn.Module] | None = None):
        self.predictor, self.networks = predictor, networks
        self.counts: Counter = Counter()
        self.crashes: Counter = Counter()
        self.image: torch.Tensor | None = None
        self.image_id = None
        run = self

        class Discovery(original.Object_Discovery):
            def existence_checking(self, image, proposals):
                if len(proposals) == 0:  # the original crashes on torch.cat([]) here
                    run.crashes["existence_check_on_empty_list"] += 1
                    return {"existence_scores": torch.zeros(0)}
                return super().existence_checking(image, proposals)

        def empty_split(obj, proposals):
            if obj.args.analyze_cc:
                run.crashes["cc_cat_on_empty_list"] += 1
            return proposals.new_zeros((0, 4))

        original._harness_empty_split = empty_split
        obj = Discovery.__new__(Discovery)
        obj.args = Namespace(seed=0, **config)
        obj.device = predictor.device
        obj.objectness_model = _Answer(self, FIELDS)
        obj.binary_classifier_model = _Answer(self, EXISTENCE)
        self.tmp = tempfile.TemporaryDirectory(prefix="unmore_original_")
        obj.result_folder = self.tmp.name
        self.obj = obj

    def discover(self, image: torch.Tensor, image_id, oracle: bool) -> dict:
        """image float [3, H, W] in [0, 1] -> {"boxes": [K, 4] float64 (the original's order), "seconds",
        "evaluations": {kind: crops}, "crashes": {guard: times}}."""
        self.image, self.image_id = image.contiguous(), image_id
        self.counts.clear()
        self.crashes.clear()
        label = {"image_id": torch.tensor(0)}
        self.obj.test_dataset = _OneImage(self.image, label)
        _Resize.oracle = oracle
        out = Path(self.tmp.name) / "discovery_results.json"
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self.obj.main_object_discovery()
        seconds = time.perf_counter() - start
        found = json.loads(out.read_text()).get("0", [])
        return {"boxes": np.asarray(found, dtype=np.float64).reshape(-1, 4), "seconds": seconds,
                "evaluations": {"objectness": self.counts[FIELDS], "existence": self.counts[EXISTENCE]},
                "crashes": dict(self.crashes)}


class _OneImage:
    """The original's dataset interface for one image."""

    def __init__(self, image: torch.Tensor, label: dict):
        self.image, self.label = image, label

    def __len__(self) -> int:
        return 1

    def get_image_with_index(self, index: int):
        return self.image, self.label

