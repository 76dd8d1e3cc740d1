"""Inference-only rewrites of a frozen network that keep its outputs (up to float rounding).

- `fold_batchnorm(net, example)`: every eval-mode BatchNorm2d that directly normalises a Conv2d's output is
  folded into that convolution (scaled weights, shifted bias) and removed. A network in training mode is
  refused: there BatchNorm uses the batch's statistics, which no fixed weights can express.
- `collapse_linear_convs(net)`: a run of convolutions with nothing between them inside an `nn.Sequential`
  (the boundary head with a tanh/sine/linear output: 1x1, 3x3, 1x1, 1x1) is one linear map: one k x k
  convolution plus a bias map (the zero padding of the inner k x k convolution makes the bias depend on the
  position near the border; it is the run's output for a zero input, computed once per feature size).
- `inference_copy(net, example)`: a copy with both rewrites (and optionally channels-last weights), checked
  against the original on one batch.
"""

from __future__ import annotations

import torch
from torch import nn


class _ActOnly(nn.Module):
    """What is left of a norm+activation layer (timm's BatchNormAct2d) once its normalisation is folded."""

    def __init__(self, drop: nn.Module, act: nn.Module):
        super().__init__()
        self.drop = drop
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(x))


def _replacement(bn: nn.Module) -> nn.Module | None:
    """The module that stands in for `bn` after folding, or None when `bn` cannot be folded."""
    if type(bn) is nn.BatchNorm2d:
        return nn.Identity()
    if isinstance(bn, nn.BatchNorm2d) and type(bn).__name__ == "BatchNormAct2d" and hasattr(bn, "act"):
        return _ActOnly(getattr(bn, "drop", nn.Identity()), bn.act)
    return None


def _conv_bn_pairs(net: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(conv name, bn name) pairs where the BN's input tensor is the conv's output tensor in a forward pass
    of `example`, and that output feeds nothing else that is a module (checked by counting its uses)."""
    names = {m: n for n, m in net.named_modules()}
    produced: dict[int, str] = {}   # id(output tensor) -> conv name
    consumers: dict[int, list[str]] = {}  # id(tensor) -> names of leaf modules that took it as input
    keep_alive: list[torch.Tensor] = []  # ids stay unique while the tensors live
    hooks = []

    def on_output(module, _inputs, output):
        if isinstance(output, torch.Tensor):
            produced[id(output)] = names[module]
            keep_alive.append(output)

    def on_input(module, inputs):
        for t in inputs:
            if isinstance(t, torch.Tensor):
                consumers.setdefault(id(t), []).append(names[module])
                keep_alive.append(t)

    for module in net.modules():
        if next(module.children(), None) is not None and not isinstance(module, nn.BatchNorm2d):
            continue  # leaves, and norm+activation layers (whose activation is a child)
        hooks.append(module.register_forward_pre_hook(on_input))
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(on_output))
    try:
        with torch.no_grad():
            net(example)
    finally:
        for h in hooks:
            h.remove()
    modules = dict(net.named_modules())
    pairs = []
    for key, conv_name in produced.items():
        users = consumers.get(key, [])
        if len(users) == 1 and isinstance(modules[users[0]], nn.BatchNorm2d):
            pairs.append((conv_name, users[0]))
    return pairs


def _fold_into(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """conv then bn (eval) -> conv alone: s = g / sqrt(v + eps), w' = w * s, b' = (b - m) * s + beta."""
    with torch.no_grad():
        scale = bn.running_var.double().add(bn.eps).rsqrt()
        if bn.weight is not None:
            scale = scale * bn.weight.double()
        bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
        bias = (bias - bn.running_mean.double()) * scale
        if bn.bias is not None:
            bias = bias + bn.bias.double()
        weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.dim() - 1)))
        conv.weight.copy_(weight.to(conv.weight.dtype))
        if conv.bias is None:
            conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)
        else:
            conv.bias.copy_(bias.to(conv.bias.dtype))


def _set_module(net: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, attr, module)


def fold_batchnorm(net: nn.Module, example: torch.Tensor) -> int:
    """Fold every BatchNorm2d that only normalises one Conv2d's output into that conv, in place.

    `example` is an input batch the network accepts (its values do not matter): one forward pass finds the
    conv -> BN pairs by following the tensors. Returns the number of folded pairs. Raises ValueError for a
    network in training mode.
    """
    if net.training:
        raise ValueError("fold_batchnorm needs a network in eval mode (in training, BatchNorm uses the "
                         "batch's statistics)")
    modules = dict(net.named_modules())
    folded = 0
    for conv_name, bn_name in _conv_bn_pairs(net, example):
        conv, bn = modules[conv_name], modules[bn_name]
        replacement = _replacement(bn)
        if replacement is None or bn.running_mean is None:
            continue
        if conv.out_channels != bn.num_features:
            continue
        _fold_into(conv, bn)
        _set_module(net, bn_name, replacement)
        folded += 1
    return folded


class CollapsedConvs(nn.Module):
    """A run of stride-1, ungrouped, undilated convolutions (1x1 except at most one odd k x k one with zero
    'same' padding) computed as one k x k convolution with weights `weight` plus the run's response to a
    zero input (`bias_map`, cached per input size). Keeps the original run for that bias map."""

    def __init__(self, convs: list[nn.Conv2d]):
        super().__init__()
        self.run = nn.Sequential(*convs)
        with torch.no_grad():
            kernel = max(c.kernel_size[0] for c in convs)
            total = torch.eye(convs[0].in_channels, dtype=torch.float64)[:, :, None, None]
            total = nn.functional.pad(total, [kernel // 2] * 4)  # [in, in, k, k]: identity at the center
            for c in convs:  # compose: total[o, i, y, x] = sum_a W_c[o, a, ...] * total[a, i, ...]
                w = c.weight.double()
                if c.kernel_size[0] == 1:
                    total = torch.einsum("oa,aiyx->oiyx", w[:, :, 0, 0], total)
                else:  # the one k x k conv: its taps land where the identity sat (1x1 convs before it)
                    total = torch.einsum("oayx,ai->oiyx", w, total[:, :, kernel // 2, kernel // 2])
        self.padding = kernel // 2
        self.register_buffer("weight", total.to(convs[0].weight.dtype), persistent=False)
        self._bias: dict = {}

    @staticmethod
    def accepts(convs: list[nn.Module]) -> bool:
        if len(convs) < 2 or not all(type(c) is nn.Conv2d for c in convs):
            return False
        big = [c for c in convs if c.kernel_size != (1, 1)]
        if len(big) > 1:
            return False
        for c in convs:
            k = c.kernel_size[0]
            if (c.stride != (1, 1) or c.dilation != (1, 1) or c.groups != 1 or c.kernel_size != (k, k)
                    or k % 2 == 0 or c.padding != (k // 2, k // 2) or c.padding_mode != "zeros"):
                return False
        return all(a.out_channels == b.in_channels for a, b in zip(convs, convs[1:]))

    def bias_map(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape[-2:]), x.device, x.dtype)
        if key not in self._bias:
            zeros = x.new_zeros((1, x.shape[1], *x.shape[-2:]))
            with torch.no_grad():
                self._bias[key] = self.run(zeros)
        return self._bias[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight, padding=self.padding) + self.bias_map(x)


def collapse_linear_convs(net: nn.Module) -> int:
    """Replace, in place, every run of two or more adjacent convolutions in an `nn.Sequential` of `net` that
    `CollapsedConvs` accepts by one `CollapsedConvs`. Returns the number of runs replaced."""
    replaced = 0
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        items = list(seq)
        out, i = [], 0
        while i < len(items):
            j = i
            while j < len(items) and type(items[j]) is nn.Conv2d:
                j += 1
            if j - i >= 2 and CollapsedConvs.accepts(items[i:j]):
                out.append(CollapsedConvs(items[i:j]))
                replaced += 1
                i = j
            else:
                out.append(items[i])
                i += 1
        if len(out) != len(items):
            for name in list(seq._modules):
                del seq._modules[name]
            for k, m in enumerate(out):
                seq.add_module(str(k), m)
    return replaced


def _outputs(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [out[k] for k in sorted(out)]
    return list(out)


def inference_copy(net: nn.Module, example: torch.Tensor, channels_last: bool = False,
                   rtol: float = 1e-3, atol: float = 1e-4) -> tuple[nn.Module, int]:
    """A copy of the eval-mode `net` for inference: BatchNorm folded (`fold_batchnorm`), runs of linear
    convolutions collapsed (`collapse_linear_convs`) and, with
    `channels_last`, its 4-d weights stored channels-last (faster convolutions on a CPU; feed it channels-last
    inputs). `net` itself is left alone.

    The copy is checked against `net` on `example` (values in [0, 1] are drawn in its shape); if their outputs
    differ by more than rtol/atol (a structure the folding does not understand) `net` is returned unchanged.
    Returns (network, number of folded BatchNorm layers; -1 when the check failed).
    """
    import copy

    fast = copy.deepcopy(net)
    folded = fold_batchnorm(fast, example)
    collapse_linear_convs(fast)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    probe = torch.rand(example.shape, generator=torch.Generator().manual_seed(0)).to(example)
    with torch.no_grad():
        ref = _outputs(net(probe))
        got = _outputs(fast(probe.contiguous(memory_format=torch.channels_last) if channels_last else probe))
    same = len(ref) == len(got) and all(a.shape == b.shape and torch.allclose(a.float(), b.float(), rtol=rtol,
                                                                               atol=atol)
                                        for a, b in zip(ref, got))
    if not same:
        return net, -1
    return fast, folded
