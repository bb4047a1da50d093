"""PyTorch backend: the classes and functions that generated code uses besides torch's own.

Emitted files carry a copy of each one they use (archc/backends/python/emit.py reads this
file's source), so every definition here is self-contained: it may use only `torch`, `nn`,
`F` and the standard library modules the emitted file imports.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

def make_divisible(v, divisor=8, min_value=None):
    """torchvision's _make_divisible: v rounded to a multiple of divisor, never down by over 10%."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def scale_width(channels, width_mult, divisor=8):
    """EfficientNet's adjust_channels."""
    return make_divisible(channels * width_mult, divisor)


def scale_depth(num_layers, depth_mult):
    """EfficientNet's adjust_depth (ceil, as the reference code)."""
    return int(math.ceil(num_layers * depth_mult))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle, exactly as torchvision computes it."""
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batch, channels, height, width)


class StochasticDepth(nn.Module):
    """Randomly drops a residual branch in training, as torchvision.ops.StochasticDepth."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class ChannelAffine(nn.Module):
    """x * scale[c] + shift[c]; GoogLeNet's transform_input is one of these."""

    def __init__(self, scale: tuple[float, ...], shift: tuple[float, ...], rank: int) -> None:
        super().__init__()
        view = (1, len(scale)) + (1,) * (rank - 1)
        # Not persistent: constants of the architecture, not learned state.
        self.register_buffer("scale", torch.tensor(scale).view(view), persistent=False)
        self.register_buffer("shift", torch.tensor(shift).view(view), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


# Classes an op's Ctor may name besides torch.nn's.
RUNTIME_CLASSES = {"StochasticDepth": StochasticDepth, "ChannelAffine": ChannelAffine}


def learnable_tensor(shape: tuple[int, ...], init: str = "zeros", scale: float = 1.0) -> nn.Parameter:
    """A learnable tensor a block holds under the node's name (timm's `cls_token`, `gamma`).

    `init`: "zeros", "ones", "constant" (every value `scale`), "normal" (std `scale`) or
    "trunc_normal" (std `scale`, cut at -2 and 2, as timm's trunc_normal_).
    """
    data = torch.zeros(shape)
    with torch.no_grad():
        if init == "ones":
            data.fill_(1.0)
        elif init == "constant":
            data.fill_(scale)
        elif init == "normal":
            data.normal_(0.0, scale)
        elif init == "trunc_normal":
            nn.init.trunc_normal_(data, 0.0, scale, -2.0, 2.0)
    return nn.Parameter(data)


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens, with timm's `Attention` layout (`qkv`, `proj`)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, proj_bias: bool = True) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(batch, tokens, dim))

    def extra_repr(self) -> str:
        return f"heads={self.heads}"


class DropPath(nn.Module):
    """Drops a residual branch per sample in training, scaling the kept ones, as timm's DropPath."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        if keep > 0.0:
            noise.div_(keep)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map, as ConvNeXt's (timm's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


RUNTIME_CLASSES.update(
    {"learnable_tensor": learnable_tensor, "SelfAttention": SelfAttention, "DropPath": DropPath, "LayerNorm2d": LayerNorm2d}
)


# Paper-only networks (archc/ops/lenet.py, fractal.py): LeNet-5's units and FractalNet's joins -


class TrainableSubsample(nn.Module):
    """LeNet-5's S2/S4: sum over each window, times a trainable coefficient, plus a bias, per map."""

    def __init__(self, channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = F.avg_pool2d(x, self.kernel, self.stride, divisor_override=1)
        return total * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class TableConv2d(nn.Module):
    """A convolution whose output map j sees only the input maps table[j] (LeNet-5's C3).

    `weight` holds one k x k kernel per connection, in table order; the input maps are gathered
    by connection, convolved depthwise, and summed into their output maps.
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel: int, bias: bool = True) -> None:
        super().__init__()
        sources = [i for inputs in table for i in inputs]
        owners = [j for j, inputs in enumerate(table) for _ in inputs]
        self.out_channels = len(table)
        self.register_buffer("sources", torch.tensor(sources), persistent=False)
        self.register_buffer("owners", torch.tensor(owners), persistent=False)
        fan_in = kernel * kernel * max(len(t) for t in table)
        bound = 1.0 / fan_in ** 0.5  # as nn.Conv2d's default initialisation, per output map's fan-in
        self.weight = nn.Parameter(torch.empty(len(sources), 1, kernel, kernel).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(len(table)).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_connection = F.conv2d(x.index_select(1, self.sources), self.weight, groups=self.weight.shape[0])
        out = per_connection.new_zeros(x.shape[0], self.out_channels, *per_connection.shape[2:])
        out = out.index_add(1, self.owners, per_connection)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class RBF(nn.Module):
    """Euclidean RBF output units: y_i = sum_j (x_j - centres_ij)^2, fixed centres (a buffer).

    LeNet-5 drew its centres as 7x12 bitmaps of the characters (+-1); here they start as a fixed
    pseudo-random +-1 code, the same in every build; load your own with load_state_dict.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        codes = torch.randint(0, 2, (out_features, in_features), generator=torch.Generator().manual_seed(0))
        self.register_buffer("centres", codes.float() * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(1) - self.centres).pow(2).sum(-1)


class DropPathPlan(nn.Module):
    """FractalNet: per training mini-batch, local drop-path or one global column for all joins.

    The draw is published on the class for the joins run next in the same forward pass.
    """

    current: tuple[bool, int] = (False, 0)

    def __init__(self, columns: int, global_fraction: float = 0.5) -> None:
        super().__init__()
        self.columns, self.global_fraction = columns, global_fraction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            is_global = bool(torch.rand(()) < self.global_fraction)
            DropPathPlan.current = (is_global, int(torch.randint(self.columns, ())))
        return x

    def extra_repr(self) -> str:
        return f"columns={self.columns}, global_fraction={self.global_fraction}"


class Columns(nn.Module):
    """The inputs of a FractalNet join, kept apart as a stack (deepest column first).

    `stacked[k]` says whether input k is already a stack (N x K x C x H x W) or one map.
    """

    def __init__(self, stacked: tuple[bool, ...]) -> None:
        super().__init__()
        self.stacked = stacked

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat([x if s else x.unsqueeze(1) for x, s in zip(xs, self.stacked)], 1)


class FractalJoin(nn.Module):
    """FractalNet's join: the mean of its input columns; drop-path in training (Larsson et al.).

    Local mini-batches drop each input with probability p_local, keeping one at random if all
    would go; global ones keep input k (counted from the deepest column) when column k was drawn
    by DropPathPlan, and the plain mean elsewhere (a join off the column's path is not used).
    """

    def __init__(self, p_local: float, stacked: tuple[bool, ...], count: int) -> None:
        super().__init__()
        self.p_local, self.stacked, self.count = p_local, stacked, count

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        x = torch.cat([t if s else t.unsqueeze(1) for t, s in zip(xs, self.stacked)], 1)
        if not self.training or self.count == 1:
            return x.mean(1)
        is_global, column = DropPathPlan.current
        if is_global:
            return x[:, column] if column < self.count else x.mean(1)
        keep = (torch.rand(self.count) >= self.p_local).to(x.dtype)
        if not bool(keep.any()):
            keep[int(torch.randint(self.count, ()))] = 1.0
        weights = (keep / keep.sum()).to(x.device).view(1, self.count, 1, 1, 1)
        return (x * weights).sum(1)

    def extra_repr(self) -> str:
        return f"p_local={self.p_local}"


RUNTIME_CLASSES.update({
    "TrainableSubsample": TrainableSubsample, "TableConv2d": TableConv2d, "RBF": RBF,
    "DropPathPlan": DropPathPlan, "Columns": Columns, "FractalJoin": FractalJoin,
})


# CapsNet (archc/ops/capsule.py) -----------------------------------------------------------


class Squash(nn.Module):
    """Sabour et al. eq. 1: v = |s|^2 / (1 + |s|^2) * s / |s| (a tiny epsilon keeps s = 0 finite)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        squared = s.pow(2).sum(self.dim, keepdim=True)
        return s * (squared / (1 + squared) / torch.sqrt(squared + 1e-8))


class CapsuleRouting(nn.Module):
    """Routing-by-agreement (Sabour et al., Procedure 1) with W: in_caps x caps x dim x in_dim."""

    def __init__(self, in_caps: int, in_dim: int, capsules: int, dim: int, iterations: int = 3) -> None:
        super().__init__()
        self.iterations = iterations
        self.W = nn.Parameter(0.01 * torch.randn(in_caps, capsules, dim, in_dim))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u_hat = torch.einsum("ijdk,nik->nijd", self.W, u)  # predictions of every input capsule
        b = u_hat.new_zeros(u_hat.shape[:3])
        for r in range(self.iterations):
            c = b.softmax(2)  # coupling: each input capsule spreads over the output capsules
            s = (c.unsqueeze(-1) * u_hat).sum(1)
            squared = s.pow(2).sum(-1, keepdim=True)
            v = s * (squared / (1 + squared) / torch.sqrt(squared + 1e-8))
            if r < self.iterations - 1:
                b = b + (u_hat * v.unsqueeze(1)).sum(-1)  # agreement
        return v

    def extra_repr(self) -> str:
        in_caps, capsules, dim, in_dim = self.W.shape
        return f"{in_caps}x{in_dim} -> {capsules}x{dim}, iterations={self.iterations}"


class CapsuleMask(nn.Module):
    """Zeroes all capsules but one: the label's (one-hot) in training, the longest in eval."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def forward(self, capsules: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if self.training and label is not None:
            mask = label.to(capsules.dtype)
        else:
            mask = F.one_hot(capsules.norm(dim=-1).argmax(1), self.count).to(capsules.dtype)
        return capsules * mask.unsqueeze(-1)


RUNTIME_CLASSES.update({"Squash": Squash, "CapsuleRouting": CapsuleRouting, "CapsuleMask": CapsuleMask})


def same_pad(sizes: list[int], kernel: int, stride: int, dilation: int = 1) -> list[int]:
    """TensorFlow's 'SAME' padding of a map of these sizes, as F.pad widths (last dim first):
    the output has ceil(size / stride) positions, and an odd total puts the extra one after,
    as timm's pad_same computes it in forward."""
    widths = []
    for size in reversed(sizes):
        total = torch.sym_max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        widths += [total // 2, total - total // 2]
    return widths


def center_crop(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The centre of x's height and width, cut to like's (U-Net's crop of an encoder map to the
    upsampled one)."""
    top = (x.shape[2] - like.shape[2]) // 2
    left = (x.shape[3] - like.shape[3]) // 2
    return x[:, :, top:top + like.shape[2], left:left + like.shape[3]]



