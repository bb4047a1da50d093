(
    'fractalnet, variants c3, c4: written by `archc emit` from fractalnet.yaml. Edit the spec, '
    'not this file.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'c3'


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


class Conv(nn.Module):
    def __init__(self, in_channels, planes, drop=0.0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, planes, 3, padding=1)
        if drop > 0:
            self.dropout = nn.Dropout(drop)
        else:
            self.dropout = None
        self.bn = nn.BatchNorm2d(planes, affine=False)

    def forward(self, x):
        x = self.conv(x)
        if self.dropout is not None:
            x = self.dropout(x)
        x = self.bn(x)
        x = torch.relu_(x)
        return x


class Fractal2(nn.Module):
    def __init__(self, in_channels, planes, drop, p_local):
        super().__init__()
        self.deep1 = Conv(in_channels, planes, drop=drop)
        self.join = FractalJoin(p_local, (False,), 1)
        self.deep2 = Conv(planes, planes, drop=drop)
        self.shallow = Conv(in_channels, planes, drop=drop)
        self.columns = Columns((False, False))

    def forward(self, x):
        out = self.deep1(x)
        out = self.join(out)
        out = self.deep2(out)
        shallow = self.shallow(x)
        out = self.columns(out, shallow)
        return out


class Fractal3(nn.Module):
    def __init__(self, in_channels, planes, drop, p_local):
        super().__init__()
        self.deep1 = Fractal2(in_channels, planes, drop, p_local)
        self.join = FractalJoin(p_local, (True,), 2)
        self.deep2 = Fractal2(planes, planes, drop, p_local)
        self.shallow = Conv(in_channels, planes, drop=drop)
        self.columns = Columns((True, False))

    def forward(self, x):
        out = self.deep1(x)
        out = self.join(out)
        out = self.deep2(out)
        shallow = self.shallow(x)
        out = self.columns(out, shallow)
        return out


class Fractal4(nn.Module):
    def __init__(self, in_channels, planes, drop, p_local):
        super().__init__()
        self.deep1 = Fractal3(in_channels, planes, drop, p_local)
        self.join = FractalJoin(p_local, (True,), 3)
        self.deep2 = Fractal3(planes, planes, drop, p_local)
        self.shallow = Conv(in_channels, planes, drop=drop)
        self.columns = Columns((True, False))

    def forward(self, x):
        out = self.deep1(x)
        out = self.join(out)
        out = self.deep2(out)
        shallow = self.shallow(x)
        out = self.columns(out, shallow)
        return out


class Fractalnet(nn.Module):
    (
        'FractalNet (Larsson, Maire & Shakhnarovich, 2016) for CIFAR: B = 5 fractal blocks of 64, '
        '128, 256, 512, 512 filters, each followed by 2x2 max-pooling, and a linear classifier. A '
        'block with C columns follows the expansion rule f_1(z) = conv(z), f_C+1(z) = '
        'join(f_C(f_C(z)), conv(z)), where a join takes the element-wise mean of the columns that '
        "end there (so joins deeper in the block merge up to C columns, as in the paper's Figure 1: "
        "`columns` gathers a sub-fractal's column outputs for its parent's join). Each conv is 3x3 "
        'conv (bias), dropout (0, .1, .2, .3, .4 by block), batch norm without scale or shift (the '
        "authors' Caffe) and ReLU. In training, each mini-batch uses local drop-path (every join "
        'drops each input with probability 0.15, keeping at least one) or, for half of them, global '
        'drop-path (one column, drawn once, is the only path through every block). C=3 (20 layers): '
        '33,714,314 parameters; C=4 (40 layers): 76,084,554. archc blocks cannot call themselves, '
        'so each level of the rule is a block of its own (fractal2 .. fractal4); a deeper C needs '
        'one more such block of four lines.'
    )

    def __init__(self, global_fraction=0.5, p_local=0.15, num_classes=10):
        super().__init__()
        self.drop_path = DropPathPlan(3, global_fraction)
        self.features = nn.Sequential(
            nn.Sequential(OrderedDict([
                ('fractal', Fractal3(3, 64, 0.0, p_local)),
                ('join', FractalJoin(p_local, (True,), 3)),
                ('pool', nn.MaxPool2d(2)),
            ])),
            nn.Sequential(OrderedDict([
                ('fractal', Fractal3(64, 128, 0.1, p_local)),
                ('join', FractalJoin(p_local, (True,), 3)),
                ('pool', nn.MaxPool2d(2)),
            ])),
            nn.Sequential(OrderedDict([
                ('fractal', Fractal3(128, 256, 0.2, p_local)),
                ('join', FractalJoin(p_local, (True,), 3)),
                ('pool', nn.MaxPool2d(2)),
            ])),
            nn.Sequential(OrderedDict([
                ('fractal', Fractal3(256, 512, 0.3, p_local)),
                ('join', FractalJoin(p_local, (True,), 3)),
                ('pool', nn.MaxPool2d(2)),
            ])),
            nn.Sequential(OrderedDict([
                ('fractal', Fractal3(512, 512, 0.4, p_local)),
                ('join', FractalJoin(p_local, (True,), 3)),
                ('pool', nn.MaxPool2d(2)),
            ])),
        )
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] == 32,
            'this network takes input height H = 32 only (`fc` (a linear): its parameter '
            'count depends on the input size)',
        )
        torch._assert(
            x.shape[3] == 32,
            'this network takes input width W = 32 only (`fc` (a linear): its parameter '
            'count depends on the input size)',
        )
        x = self.drop_path(x)  # N x 3 x 32 x 32
        x = self.features(x)  # N x 512 x 1 x 1
        x = torch.flatten(x, 1)  # N x 512
        x = self.fc(x)  # N x 10
        return x


class FractalnetC4(nn.Module):
    'The network of variant c4.'

    def __init__(self, global_fraction=0.5, p_local=0.15, num_classes=10):
        super().__init__()
        self.drop_path = DropPathPlan(4, global_fraction)
        self.features = nn.Sequential(
            nn.Sequential(OrderedDict([
                ('fractal', Fractal4(3, 64, 0.0, p_local)),
                ('join', FractalJoin(p_local, (True,), 4)),
                ('pool', nn.MaxPool2d(2)),
            ])),
            nn.Sequential(OrderedDict([
                ('fractal', Fractal4(64, 128, 0.1, p_local)),
                ('join', FractalJoin(p_local, (True,), 4)),
                ('pool', nn.MaxPool2d(2)),
            ])),
            nn.Sequential(OrderedDict([
                ('fractal', Fractal4(128, 256, 0.2, p_local)),
                ('join', FractalJoin(p_local, (True,), 4)),
                ('pool', nn.MaxPool2d(2)),
            ])),
            nn.Sequential(OrderedDict([
                ('fractal', Fractal4(256, 512, 0.3, p_local)),
                ('join', FractalJoin(p_local, (True,), 4)),
                ('pool', nn.MaxPool2d(2)),
            ])),
            nn.Sequential(OrderedDict([
                ('fractal', Fractal4(512, 512, 0.4, p_local)),
                ('join', FractalJoin(p_local, (True,), 4)),
                ('pool', nn.MaxPool2d(2)),
            ])),
        )
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] == 32,
            'this network takes input height H = 32 only (`fc` (a linear): its parameter '
            'count depends on the input size)',
        )
        torch._assert(
            x.shape[3] == 32,
            'this network takes input width W = 32 only (`fc` (a linear): its parameter '
            'count depends on the input size)',
        )
        x = self.drop_path(x)  # N x 3 x 32 x 32
        x = self.features(x)  # N x 512 x 1 x 1
        x = torch.flatten(x, 1)  # N x 512
        x = self.fc(x)  # N x 10
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'c3': (Fractalnet, {}),
    'c4': (FractalnetC4, {}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('global_fraction', 'p_local', 'num_classes')

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
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('c3')`."""
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




def fractalnet_c3(**params) -> nn.Module:
    return create('c3', **params)


def fractalnet_c4(**params) -> nn.Module:
    return create('c4', **params)
