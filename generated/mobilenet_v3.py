(
    'mobilenet_v3, variants large, small: written by `archc emit` from mobilenet_v3.yaml. Edit '
    'the spec, not this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'large'


def make_divisible(v, divisor=8, min_value=None):
    """torchvision's _make_divisible: v rounded to a multiple of divisor, never down by over 10%."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBnAct(nn.Sequential):
    def __init__(self, in_channels, out, kernel, stride=1, groups=1):
        super().__init__(
            nn.Conv2d(in_channels, out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out, eps=0.001, momentum=0.01),
            nn.Hardswish(inplace=True),
        )


class ConvBnAct_2(nn.Sequential):
    def __init__(self, in_channels, out, kernel, stride=1, groups=1):
        super().__init__(
            nn.Conv2d(in_channels, out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out, eps=0.001, momentum=0.01),
            nn.ReLU(inplace=True),
        )


class ConvBnAct_3(nn.Sequential):
    def __init__(self, in_channels, out):
        super().__init__(nn.Conv2d(in_channels, out, 1, bias=False), nn.BatchNorm2d(out, eps=0.001, momentum=0.01))


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.activation = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.scale_activation = nn.Hardsigmoid(inplace=True)

    def forward(self, x):
        out = self.avgpool(x)
        out = self.fc1(out)
        out = self.activation(out)
        out = self.fc2(out)
        out = self.scale_activation(out)
        out = out * x
        return out


class Bneck_2(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(ConvBnAct_2(16, 16, 3, groups=16), ConvBnAct_3(16, 16))

    def forward(self, x):
        block = self.block(x)  # N x 16 x 112 x 112
        add = x + block  # N x 16 x 112 x 112
        return add


class Bneck_3(nn.Module):
    def __init__(self, expanded):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct_2(16, expanded, 1),
            ConvBnAct_2(expanded, expanded, 3, stride=2, groups=expanded),
            ConvBnAct_3(expanded, 24),
        )

    def forward(self, x):
        x = self.block(x)
        return x


class Bneck_4(nn.Module):
    def __init__(self, expanded):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct_2(24, expanded, 1),
            ConvBnAct_2(expanded, expanded, 3, groups=expanded),
            ConvBnAct_3(expanded, 24),
        )

    def forward(self, x):
        block = self.block(x)
        add = x + block
        return add


class Bneck_5(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct_2(24, 72, 1),
            ConvBnAct_2(72, 72, 5, stride=2, groups=72),
            SqueezeExcitation(72, 24),
            ConvBnAct_3(72, 40),
        )

    def forward(self, x):
        x = self.block(x)  # N x 40 x 28 x 28
        return x


class Bneck_6(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct_2(40, 120, 1),
            ConvBnAct_2(120, 120, 5, groups=120),
            SqueezeExcitation(120, 32),
            ConvBnAct_3(120, 40),
        )

    def forward(self, x):
        block = self.block(x)  # N x 40 x 28 x 28
        add = x + block  # N x 40 x 28 x 28
        return add


class Bneck_7(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(40, 240, 1),
            ConvBnAct(240, 240, 3, stride=2, groups=240),
            ConvBnAct_3(240, 80),
        )

    def forward(self, x):
        x = self.block(x)  # N x 80 x 14 x 14
        return x


class Bneck_8(nn.Module):
    def __init__(self, expanded):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(80, expanded, 1),
            ConvBnAct(expanded, expanded, 3, groups=expanded),
            ConvBnAct_3(expanded, 80),
        )

    def forward(self, x):
        block = self.block(x)  # N x 80 x 14 x 14
        add = x + block  # N x 80 x 14 x 14
        return add


class Bneck_9(nn.Module):
    def __init__(self, in_channels, kernel, expanded, out, stride):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(in_channels, expanded, 1),
            ConvBnAct(expanded, expanded, kernel, stride=stride, groups=expanded),
            SqueezeExcitation(expanded, make_divisible(expanded // 4)),
            ConvBnAct_3(expanded, out),
        )

    def forward(self, x):
        x = self.block(x)
        return x


class Bneck(nn.Module):
    def __init__(self, kernel, expanded, out):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(out, expanded, 1),
            ConvBnAct(expanded, expanded, kernel, groups=expanded),
            SqueezeExcitation(expanded, make_divisible(expanded // 4)),
            ConvBnAct_3(expanded, out),
        )

    def forward(self, x):
        block = self.block(x)
        add = x + block
        return add


class Bneck_10(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct_2(16, 16, 3, stride=2, groups=16),
            SqueezeExcitation(16, 8),
            ConvBnAct_3(16, 16),
        )

    def forward(self, x):
        x = self.block(x)  # N x 16 x 56 x 56
        return x


class MobilenetV3(nn.Module):
    (
        'MobileNetV3 (Howard et al., 2019) as torchvision builds it: inverted residual "bneck" '
        'blocks with optional squeeze-and-excitation (hard-sigmoid gate) and ReLU or hard-swish, '
        "one row per block as in the paper's Tables 1 (large) and 2 (small); batch norm with eps "
        '0.001 and momentum 0.01.'
    )

    def __init__(self, dropout=0.2, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            ConvBnAct(3, 16, 3, stride=2),
            Bneck_2(),
            Bneck_3(64),
            Bneck_4(72),
            Bneck_5(),
            *[Bneck_6() for _ in range(2)],
            Bneck_7(),
            Bneck_8(200),
            *[Bneck_8(184) for _ in range(2)],
            Bneck_9(80, 3, 480, 112, 1),
            Bneck(3, 672, 112),
            Bneck_9(112, 5, 672, 160, 2),
            *[Bneck(5, 960, 160) for _ in range(2)],
            ConvBnAct(160, 960, 1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(960, 1280),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(1280, num_classes),
        )

    def forward(self, x):
        x = self.features(x)  # N x 960 x 7 x 7
        x = self.avgpool(x)  # N x 960 x 1 x 1
        x = torch.flatten(x, 1)  # N x 960
        x = self.classifier(x)  # N x 1000
        return x


class MobilenetV3Small(nn.Module):
    'The network of variant small.'

    def __init__(self, dropout=0.2, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            ConvBnAct(3, 16, 3, stride=2),
            Bneck_10(),
            Bneck_3(72),
            Bneck_4(88),
            Bneck_9(24, 5, 96, 40, 2),
            *[Bneck(5, 240, 40) for _ in range(2)],
            Bneck_9(40, 5, 120, 48, 1),
            Bneck(5, 144, 48),
            Bneck_9(48, 5, 288, 96, 2),
            *[Bneck(5, 576, 96) for _ in range(2)],
            ConvBnAct(96, 576, 1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(576, 1024),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x):
        x = self.features(x)  # N x 576 x 7 x 7
        x = self.avgpool(x)  # N x 576 x 1 x 1
        x = torch.flatten(x, 1)  # N x 576
        x = self.classifier(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'large': (MobilenetV3, {}),
    'small': (MobilenetV3Small, {}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('dropout', 'num_classes')

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'leaky_relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, 'BatchNorm2d'),
    ('bias', 'zeros_', {}, 'Linear'),
    ('bias', 'zeros_', {}, ('features.4.block.2.fc1', 'features.4.block.2.fc2', 'features.5.block.2.fc1',
        'features.5.block.2.fc2', 'features.6.block.2.fc1', 'features.6.block.2.fc2', 'features.11.block.2.fc1',
        'features.11.block.2.fc2', 'features.12.block.2.fc1', 'features.12.block.2.fc2', 'features.13.block.2.fc1',
        'features.13.block.2.fc2', 'features.14.block.2.fc1', 'features.14.block.2.fc2', 'features.15.block.2.fc1',
        'features.15.block.2.fc2')),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
    ('weight', 'normal_', {'mean': 0, 'std': 0.01}, 'Linear'),
)
# The variants whose init rules give other arguments (computed from their params).
VARIANT_INIT = {
    'small': (
        ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'leaky_relu'}, 'Conv2d'),
        ('bias', 'zeros_', {}, 'BatchNorm2d'),
        ('bias', 'zeros_', {}, 'Linear'),
        ('bias', 'zeros_', {}, ('features.1.block.1.fc1', 'features.1.block.1.fc2', 'features.4.block.2.fc1',
        'features.4.block.2.fc2', 'features.5.block.2.fc1', 'features.5.block.2.fc2', 'features.6.block.2.fc1',
        'features.6.block.2.fc2', 'features.7.block.2.fc1', 'features.7.block.2.fc2', 'features.8.block.2.fc1',
        'features.8.block.2.fc2', 'features.9.block.2.fc1', 'features.9.block.2.fc2', 'features.10.block.2.fc1',
        'features.10.block.2.fc2', 'features.11.block.2.fc1', 'features.11.block.2.fc2')),
        ('weight', 'ones_', {}, 'BatchNorm2d'),
        ('weight', 'normal_', {'mean': 0, 'std': 0.01}, 'Linear'),
    ),
}


def init_weights(model: nn.Module, empty: bool = False, variant=VARIANT) -> None:
    """Initialise the weights as the spec says, module by module (a seeded run is reproducible).

    `empty`: the model's tensors are still uninitialised (create() allocates them so, to draw
    each weight once): a module holding a tensor that no rule sets is first given PyTorch's
    own default initialisation, its `reset_parameters()`.
    """
    plan = _init_plan(model, empty, VARIANT_INIT.get(variant, INIT))
    if plan is None:
        raise ValueError("a module holds tensors that neither an init rule nor its reset_parameters() sets")
    _run(plan)


def create(variant=None, **params) -> nn.Module:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('large')`."""
    variant = VARIANT if variant is None else variant
    if variant not in VARIANTS:
        raise ValueError(f"no variant {variant!r} in this file; it holds {', '.join(map(str, VARIANTS))}")
    unknown = [name for name in params if name not in PARAMS]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is no parameter of this file: `archc emit --set {unknown[0]}=...` writes one")
    network, arguments = VARIANTS[variant]
    params = {**arguments, **params}
    init = VARIANT_INIT.get(variant, INIT)
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




def mobilenet_v3_large(**params) -> nn.Module:
    return create('large', **params)


def mobilenet_v3_small(**params) -> nn.Module:
    return create('small', **params)
