"""Building blocks with Detectron2's parameter layout: conv with an attached ``norm`` sub-module, norm
factories (BN, SyncBN that also works with gloo on CPU, FrozenBN, GN) and Caffe2-style initialisers."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` followed by an optional ``norm`` module and ``activation`` (state-dict keys
    ``<name>.weight``, ``<name>.norm.*`` as in Detectron2)."""

    def __init__(self, *args, norm: nn.Module | None = None, activation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine parameters (buffers, no gradients)."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.view(1, -1, 1, 1).to(x.dtype) + bias.view(1, -1, 1, 1).to(x.dtype)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def __repr__(self) -> str:
        return f"FrozenBatchNorm2d(num_features={self.num_features}, eps={self.eps})"

    @classmethod
    def convert_frozen_batchnorm(cls, module: nn.Module) -> nn.Module:
        """Replace every BatchNorm2d/SyncBatchNorm in ``module`` (or ``module`` itself) by a frozen copy."""
        if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            res = cls(module.num_features, module.eps)
            if module.affine:
                res.weight.data = module.weight.data.clone().detach()
                res.bias.data = module.bias.data.clone().detach()
            res.running_mean.data = module.running_mean.data.clone()
            res.running_var.data = module.running_var.data.clone()
            return res
        for name, child in module.named_children():
            new_child = cls.convert_frozen_batchnorm(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module


class _DifferentiableAllReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class NaiveSyncBatchNorm(nn.BatchNorm2d):
    """Synchronised BatchNorm over all processes of the default group (NCCL or gloo, so CPU works too).

    Batch statistics are averaged across processes (equal per-process batch sizes assumed, as in Detectron2);
    the running variance uses the unbiased estimate over all processes like ``nn.SyncBatchNorm``. Outside
    training or with one process it is an ordinary BatchNorm2d. Same state-dict keys as BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if world == 1 or not self.training:
            return super().forward(x)
        n, c = x.shape[:2]
        xf = x.float()
        mean = xf.mean(dim=[0, 2, 3])
        meansqr = (xf * xf).mean(dim=[0, 2, 3])
        vec = _DifferentiableAllReduce.apply(torch.cat([mean, meansqr], dim=0)) * (1.0 / world)
        mean, meansqr = torch.split(vec, c)
        var = (meansqr - mean * mean).clamp(min=0)
        count = n * x.shape[2] * x.shape[3] * world
        with torch.no_grad():
            unbiased = var * (count / max(count - 1, 1))
            self.num_batches_tracked += 1
            # momentum None = cumulative average, as in nn.BatchNorm2d
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean += m * (mean.detach() - self.running_mean)
            self.running_var += m * (unbiased.detach() - self.running_var)
        invstd = torch.rsqrt(var + self.eps)
        scale = self.weight * invstd
        bias = self.bias - mean * scale
        return (xf * scale.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)).to(x.dtype)


def get_norm(norm: str, out_channels: int) -> nn.Module | None:
    """Detectron2 norm names: "" (none), "BN", "SyncBN", "FrozenBN", "GN", "nnSyncBN"."""
    if not norm:
        return None
    if norm == "BN":
        return nn.BatchNorm2d(out_channels)
    if norm == "SyncBN":
        return NaiveSyncBatchNorm(out_channels)
    if norm == "nnSyncBN":
        return nn.SyncBatchNorm(out_channels)
    if norm == "FrozenBN":
        return FrozenBatchNorm2d(out_channels)
    if norm == "GN":
        return nn.GroupNorm(32, out_channels)
    raise ValueError(f"Unknown norm {norm!r}; expected one of '', BN, SyncBN, nnSyncBN, FrozenBN, GN")


def c2_xavier_fill(module: nn.Module) -> None:
    """Caffe2 XavierFill as in Detectron2: kaiming-uniform with a=1, zero bias."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def c2_msra_fill(module: nn.Module) -> None:
    """Caffe2 MSRAFill: kaiming-normal (fan_out, relu), zero bias."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


class ScaleGradient(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``scale`` backward (cascade feature sharing)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None
