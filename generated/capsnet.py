(
    'capsnet, variants mnist, no_decoder: written by `archc emit` from capsnet.yaml. Edit the '
    'spec, not this file.'
)
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

VARIANT = 'mnist'


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


class CapsnetOutputs(NamedTuple):
    lengths: Tensor
    reconstruction: Tensor


class Primary(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(256, 256, 9, stride=2)
        self.add_module('4', Squash(-1))

    def forward(self, x):
        x = self.conv(x)  # N x 256 x 6 x 6
        x = x.reshape(x.shape[0], 32, 8, 6, 6)  # N x 32 x 8 x 6 x 6
        x = x.permute(0, 1, 3, 4, 2)  # N x 32 x 6 x 6 x 8
        x = x.reshape(x.shape[0], 1152, 8)  # N x 1152 x 8
        x = getattr(self, '4')(x)  # N x 1152 x 8
        return x


class Capsnet(nn.Module):
    (
        'CapsNet (Sabour, Frosst & Hinton, 2017) for 28x28 MNIST digits. Conv1: 256 9x9 filters and '
        'ReLU (20x20). PrimaryCaps: a 9x9/2 conv to 32 capsule types of 8 dims on a 6x6 grid, read '
        'as 1,152 8-D capsules and squashed. DigitCaps: 10 16-D capsules from every primary capsule '
        'by routing-by-agreement (3 iterations) through W (1152 x 10 x 16 x 8, no bias); their '
        'lengths are the class scores. The reconstruction decoder (FC 512, 1024, 784 with sigmoid) '
        "sees only one digit capsule: the label's in training (the second input, one-hot) and the "
        'longest one in eval. 8,215,568 parameters with the decoder (paper 8.2M), 6,804,224 without '
        '(paper 6.8M).'
    )

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 256, 9)
        self.primary = Primary()
        self.digit = CapsuleRouting(1152, 8, 10, 16, 3)
        self.masked = CapsuleMask(10)
        self.decoder = nn.Sequential(
            nn.Linear(160, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, 1024),
            nn.ReLU(inplace=True),
            nn.Linear(1024, 784),
            nn.Sigmoid(),
        )

    def forward(self, image, label):
        torch._assert(
            image.shape[2] == 28,
            'this network takes input image height H = 28 only (archc follows the sizes of a '
            "network's only input; this one has 2)",
        )
        torch._assert(
            image.shape[3] == 28,
            'this network takes input image width W = 28 only (archc follows the sizes of a '
            "network's only input; this one has 2)",
        )
        image = self.conv1(image)  # N x 256 x 20 x 20
        image = torch.relu_(image)  # N x 256 x 20 x 20
        image = self.primary(image)  # N x 1152 x 8
        image = self.digit(image)  # N x 10 x 16
        lengths = torch.linalg.vector_norm(image, dim=-1)  # N x 10
        out = self.masked(image, label)  # N x 10 x 16
        out = torch.flatten(out, 1)  # N x 160
        out = self.decoder(out)  # N x 784
        return CapsnetOutputs(lengths=lengths, reconstruction=out)


class CapsnetNoDecoder(nn.Module):
    'The network of variant no_decoder.'

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 256, 9)
        self.primary = Primary()
        self.digit = CapsuleRouting(1152, 8, 10, 16, 3)

    def forward(self, image, label):
        torch._assert(
            image.shape[2] == 28,
            'this network takes input image height H = 28 only (archc follows the sizes of a '
            "network's only input; this one has 2)",
        )
        torch._assert(
            image.shape[3] == 28,
            'this network takes input image width W = 28 only (archc follows the sizes of a '
            "network's only input; this one has 2)",
        )
        image = self.conv1(image)  # N x 256 x 20 x 20
        image = torch.relu_(image)  # N x 256 x 20 x 20
        image = self.primary(image)  # N x 1152 x 8
        image = self.digit(image)  # N x 10 x 16
        image = torch.linalg.vector_norm(image, dim=-1)  # N x 10
        return image


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'mnist': (Capsnet, {}),
    'no_decoder': (CapsnetNoDecoder, {}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ()

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
)


def init_weights(model: nn.Module, empty: bool = False, variant=VARIANT) -> None:
    """Initialise the weights as the spec says, module by module (a seeded run is reproducible).

    `empty`: the model's tensors are still uninitialised (create() allocates them so, to draw
    each weight once): a module holding a tensor that no rule sets is first given PyTorch's
    own default initialisation, its `reset_parameters()`.
    """
    plan = _init_plan(model, empty, INIT)
    if plan is None:
        raise ValueError("a module holds tensors that neither an init rule nor its reset_parameters() sets")
    _run(plan)


def create(variant=None, **params) -> nn.Module:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('mnist')`."""
    variant = VARIANT if variant is None else variant
    if variant not in VARIANTS:
        raise ValueError(f"no variant {variant!r} in this file; it holds {', '.join(map(str, VARIANTS))}")
    unknown = [name for name in params if name not in PARAMS]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is no parameter of this file: `archc emit --set {unknown[0]}=...` writes one")
    network, arguments = VARIANTS[variant]
    params = {**arguments, **params}
    init = INIT
    if not init:
        return network(**params)  # PyTorch's default initialisation throughout: drawn once
    # Constructed without drawing (PyTorch's default, then the spec's rule would draw each weight
    # twice): tensors are allocated uninitialised, and each gets its value once, below.
    with _Undrawn():
        model = network(**params)
    plan = _init_plan(model, True, init)
    if plan is None:
        model = network(**params)  # a module sets tensors that no reset_parameters() redoes
        init_weights(model, variant=variant)
        return model
    _run(plan)
    return model


class _Undrawn(torch.overrides.TorchFunctionMode):
    """Construction that leaves the random state as it was and skips torch.nn.init's draws.

    Calls of torch.nn.init's functions return their tensor as it is (uninitialised memory),
    which is most of what reset_parameters() draws; anything else a constructor draws is drawn
    from a copy of the random state, which is then put back. As on the meta device, but cheaper:
    the tensors are allocated where they stay, with no meta kernels and no second allocation.

    What the constructors' tensor calls return is kept until construction ends. Freed one by
    one (the tensors that constructors wrap into parameters), they let glibc's malloc return
    to the system the heap that a model freed before, and every weight then faulted in fresh
    pages: ResNet-152's build took a third longer in some processes.
    """

    # torch.nn.init's initialisers (each returns its tensor): those that dispatch to this mode.
    INITS = frozenset(f for name, f in vars(nn.init).items() if name.endswith("_") and not name.startswith("_"))

    def __enter__(self):
        device = torch.get_default_device()
        self.rng = torch.random.fork_rng([] if device.type == "cpu" else [device], device_type=device.type)
        self.rng.__enter__()
        self.kept = []
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.kept = None
        return self.rng.__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.INITS:
            return args[0] if args else kwargs["tensor"]
        result = func(*args, **kwargs) if kwargs else func(*args)
        self.kept.append(result)
        return result


def _run(plan: list) -> None:
    with torch.no_grad():
        for module, calls, reset in plan:
            if reset is not None:
                reset()
            for tensor, function, kwargs in calls:
                _initialise(getattr(module, tensor), function, kwargs)


def _initialise(tensor: torch.Tensor, function: str, kwargs: dict) -> None:
    """torch.nn.init.<function>(tensor, **kwargs).

    Constants are filled as torch.nn.init fills them (fill_ under no_grad, which _run holds)
    without its wrapper, a third of DenseNet-121's init time outside the draws. trunc_normal_
    with both bounds 8 or more standard deviations out is drawn by normal_ (then clamped): the
    same distribution, as the mass cut off is 1e-15, four times faster than its inverse-CDF
    sampling (GoogLeNet's std 0.01 within +-2 cuts at 200 standard deviations).
    """
    if function in ("zeros_", "ones_", "constant_"):
        tensor.fill_(kwargs["val"] if function == "constant_" else float(function == "ones_"))
        return
    if function == "trunc_normal_":
        mean, std, a, b = kwargs["mean"], kwargs["std"], kwargs["a"], kwargs["b"]
        if min(b - mean, mean - a) >= 8 * std:
            tensor.normal_(mean, std).clamp_(a, b)
            return
    getattr(nn.init, function)(tensor, **kwargs)


def _init_plan(model: nn.Module, empty: bool, init: tuple) -> list | None:
    """[(module, its init calls, the reset to run first or None)], in module order.

    None when `empty` and a module holds a tensor that neither a rule nor a reset sets.
    """
    rules = _init_rules(init)
    plan = []
    for path, module in model.named_modules():
        by_path, by_type = rules.get(path), rules.get("type " + type(module).__name__, [])
        calls = by_type if by_path is None else sorted(by_path + by_type, key=lambda call: call[0])
        reset = _reset(module, calls) if empty else None
        if reset is _NO_RESET:
            return None
        if calls or reset is not None:
            plan.append((module, calls, reset))
    return plan


def _init_rules(init: tuple) -> dict:
    """{module path, or "type " and a class name: [(tensor, init function, arguments)] in tensor order}."""
    rules = {}
    for tensor, function, kwargs, where in init:
        for key in ((f"type {where}",) if isinstance(where, str) else where):
            rules.setdefault(key, []).append((tensor, function, kwargs))
    return {key: sorted(calls, key=lambda call: call[0]) for key, calls in rules.items()}


_NO_RESET = object()

# torch.nn's normalisation layers set their running statistics with tensor ops, which _Undrawn
# runs, not with torch.nn.init's functions: they need no second reset.
_STATS_SET = frozenset({nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
                        nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d})


def _reset(module: nn.Module, calls: list):
    """What gives the module's tensors that no rule sets their default values: None where
    there are none; its running statistics' reset where the rules set every parameter (none
    where its constructor set them, _STATS_SET), else
    reset_parameters(), which is trusted with buffers only where it resets running statistics;
    else _NO_RESET. (Read from the module's own tables, as named_parameters() reads them:
    that generator costs more than the rest of the walk.)"""
    has_buffers = any(buffer is not None for buffer in module._buffers.values())
    ruled = {tensor for tensor, _, _ in calls}
    default = [name for name, p in module._parameters.items() if p is not None and name not in ruled]
    if not has_buffers and not default:
        return None
    stats = getattr(module, "reset_running_stats", None)
    if stats is not None and not default:
        return None if type(module) in _STATS_SET else stats
    if hasattr(module, "reset_parameters") and (not has_buffers or stats is not None):
        return module.reset_parameters
    return _NO_RESET




def capsnet_mnist(**params) -> nn.Module:
    return create('mnist', **params)


def capsnet_no_decoder(**params) -> nn.Module:
    return create('no_decoder', **params)
