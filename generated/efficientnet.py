(
    'efficientnet, variant b0: written by `archc emit` from efficientnet.yaml. Edit the spec, '
    'not this file. The other variants (b1, b2, b3, b4, b5, b6, b7) have network classes of '
    'their own: `archc emit --variant NAME`.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'b0'


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


class ConvBnAct(nn.Sequential):
    def __init__(self, in_channels, out, kernel, stride, groups, bn_eps, bn_momentum):
        super().__init__(
            nn.Conv2d(in_channels, out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out, eps=bn_eps, momentum=bn_momentum),
            nn.SiLU(inplace=True),
        )


class ConvBnAct_2(nn.Sequential):
    def __init__(self, in_channels, out, bn_eps, bn_momentum):
        super().__init__(
            nn.Conv2d(in_channels, out, 1, bias=False),
            nn.BatchNorm2d(out, eps=bn_eps, momentum=bn_momentum),
        )


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.activation = nn.SiLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x):
        out = self.avgpool(x)
        out = self.fc1(out)
        out = self.activation(out)
        out = self.fc2(out)
        out = self.scale_activation(out)
        out = out * x
        return out


class MbconvWithoutStochasticDepth(nn.Module):
    def __init__(self, bn_eps, bn_momentum):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(32, 32, 3, 1, 32, bn_eps, bn_momentum),
            SqueezeExcitation(32, 8),
            ConvBnAct_2(32, 16, bn_eps, bn_momentum),
        )

    def forward(self, x):
        x = self.block(x)  # N x 16 x 112 x 112
        return x


class MbconvWithoutStochasticDepth_2(nn.Module):
    def __init__(self, in_channels, expand, kernel, stride, out, bn_eps, bn_momentum):
        super().__init__()
        out_2 = scale_width(in_channels, expand)
        self.block = nn.Sequential(
            ConvBnAct(in_channels, out_2, 1, 1, 1, bn_eps, bn_momentum),
            ConvBnAct(out_2, out_2, kernel, stride, out_2, bn_eps, bn_momentum),
            SqueezeExcitation(out_2, max(1, in_channels // 4)),
            ConvBnAct_2(out_2, out, bn_eps, bn_momentum),
        )

    def forward(self, x):
        x = self.block(x)
        return x


class Mbconv(nn.Module):
    def __init__(self, kernel, out, out_2, bn_eps, bn_momentum, squeeze, stochastic_depth_p):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(out, out_2, 1, 1, 1, bn_eps, bn_momentum),
            ConvBnAct(out_2, out_2, kernel, 1, out_2, bn_eps, bn_momentum),
            SqueezeExcitation(out_2, squeeze),
            ConvBnAct_2(out_2, out, bn_eps, bn_momentum),
        )
        self.stochastic_depth = StochasticDepth(stochastic_depth_p, 'row')

    def forward(self, x):
        out = self.block(x)
        out = self.stochastic_depth(out)
        out = out.add_(x)
        return out


class Stage_2(nn.Sequential):
    def __init__(self, bn_eps, bn_momentum):
        super().__init__(MbconvWithoutStochasticDepth(bn_eps, bn_momentum))


class Stage(nn.Sequential):
    def __init__(self, in_channels, kernel, out, bn_eps, bn_momentum, out_2, squeeze, stochastic_depth_p):
        out_3 = scale_width(out, 1.0)
        super().__init__(
            MbconvWithoutStochasticDepth_2(in_channels, 6, kernel, 2, out_3, bn_eps, bn_momentum),
            Mbconv(kernel, out_3, out_2, bn_eps, bn_momentum, squeeze, stochastic_depth_p),
        )


class Stage_3(nn.Sequential):
    def __init__(
        self,
        in_channels,
        kernel,
        stride,
        out,
        bn_eps,
        bn_momentum,
        out_2,
        squeeze,
        stochastic_depth_p,
        stochastic_depth_p_2,
    ):
        out_3 = scale_width(out, 1.0)
        super().__init__(
            MbconvWithoutStochasticDepth_2(in_channels, 6, kernel, stride, out_3, bn_eps, bn_momentum),
            Mbconv(kernel, out_3, out_2, bn_eps, bn_momentum, squeeze, stochastic_depth_p),
            Mbconv(kernel, out_3, out_2, bn_eps, bn_momentum, squeeze, stochastic_depth_p_2),
        )


class Stage_4(nn.Sequential):
    def __init__(self, bn_eps, bn_momentum):
        super().__init__(
            MbconvWithoutStochasticDepth_2(112, 6, 5, 2, 192, bn_eps, bn_momentum),
            Mbconv(5, 192, 1152, bn_eps, bn_momentum, 48, 0.15000000000000002),
            Mbconv(5, 192, 1152, bn_eps, bn_momentum, 48, 0.1625),
            Mbconv(5, 192, 1152, bn_eps, bn_momentum, 48, 0.17500000000000002),
        )


class Stage_5(nn.Sequential):
    def __init__(self, bn_eps, bn_momentum):
        super().__init__(MbconvWithoutStochasticDepth_2(192, 6, 3, 1, 320, bn_eps, bn_momentum))


class Efficientnet(nn.Module):
    (
        'EfficientNet B0-B7 (Tan & Le, 2019) as torchvision builds them: one table of MBConv stages '
        '(inverted residual, depthwise conv, squeeze-and-excitation, SiLU), scaled in width and '
        'depth per variant, with stochastic depth growing linearly over the blocks.'
    )

    def __init__(self, bn_eps=1e-05, bn_momentum=0.1, dropout=0.2, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            ConvBnAct(3, 32, 3, 2, 1, bn_eps, bn_momentum),
            Stage_2(bn_eps, bn_momentum),
            Stage(16, 3, 24, bn_eps, bn_momentum, 144, 6, 0.025),
            Stage(24, 5, 40, bn_eps, bn_momentum, 240, 10, 0.05),
            Stage_3(40, 3, 2, 80, bn_eps, bn_momentum, 480, 20, 0.07500000000000001, 0.08750000000000001),
            Stage_3(80, 5, 1, 112, bn_eps, bn_momentum, 672, 28, 0.1125, 0.125),
            Stage_4(bn_eps, bn_momentum),
            Stage_5(bn_eps, bn_momentum),
            ConvBnAct(320, 1280, 1, 1, 1, bn_eps, bn_momentum),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = self.features(x)  # N x 1280 x 7 x 7
        x = self.avgpool(x)  # N x 1280 x 1 x 1
        x = torch.flatten(x, 1)  # N x 1280
        x = self.classifier(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'b0': (Efficientnet, {}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('bn_eps', 'bn_momentum', 'dropout', 'num_classes')

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'leaky_relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, 'BatchNorm2d'),
    ('bias', 'zeros_', {}, 'Linear'),
    ('bias', 'zeros_', {}, ('features.1.0.block.1.fc1', 'features.1.0.block.1.fc2', 'features.2.0.block.2.fc1',
        'features.2.0.block.2.fc2', 'features.2.1.block.2.fc1', 'features.2.1.block.2.fc2', 'features.3.0.block.2.fc1',
        'features.3.0.block.2.fc2', 'features.3.1.block.2.fc1', 'features.3.1.block.2.fc2', 'features.4.0.block.2.fc1',
        'features.4.0.block.2.fc2', 'features.4.1.block.2.fc1', 'features.4.1.block.2.fc2', 'features.4.2.block.2.fc1',
        'features.4.2.block.2.fc2', 'features.5.0.block.2.fc1', 'features.5.0.block.2.fc2', 'features.5.1.block.2.fc1',
        'features.5.1.block.2.fc2', 'features.5.2.block.2.fc1', 'features.5.2.block.2.fc2', 'features.6.0.block.2.fc1',
        'features.6.0.block.2.fc2', 'features.6.1.block.2.fc1', 'features.6.1.block.2.fc2', 'features.6.2.block.2.fc1',
        'features.6.2.block.2.fc2', 'features.6.3.block.2.fc1', 'features.6.3.block.2.fc2', 'features.7.0.block.2.fc1',
        'features.7.0.block.2.fc2')),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
    ('weight', 'uniform_', {'a': -0.03162277660168379, 'b': 0.03162277660168379}, 'Linear'),
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


def create(variant=None, **params) -> Efficientnet:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('b0')`."""
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




def efficientnet_b0(**params) -> Efficientnet:
    return create('b0', **params)
