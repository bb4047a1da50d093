(
    'mnasnet, variants 1_0, 0_5, 0_75, 1_3: written by `archc emit` from mnasnet.yaml. Edit the '
    'spec, not this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '1_0'


def make_divisible(v, divisor=8, min_value=None):
    """torchvision's _make_divisible: v rounded to a multiple of divisor, never down by over 10%."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class InvertedResidual_2(nn.Module):
    def __init__(self, in_channels, expand, kernel, stride, out):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, in_channels * expand, 1, bias=False),
            nn.BatchNorm2d(in_channels * expand, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                in_channels * expand,
                in_channels * expand,
                kernel,
                stride=stride,
                padding=kernel // 2,
                groups=in_channels * expand,
                bias=False,
            ),
            nn.BatchNorm2d(in_channels * expand, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels * expand, out, 1, bias=False),
            nn.BatchNorm2d(out, momentum=0.00029999999999996696),
        )

    def forward(self, x):
        x = self.layers(x)
        return x


class InvertedResidual(nn.Module):
    def __init__(self, kernel, out, out_channels):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(out, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel, padding=kernel // 2, groups=out_channels, bias=False),
            nn.BatchNorm2d(out_channels, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out, 1, bias=False),
            nn.BatchNorm2d(out, momentum=0.00029999999999996696),
        )

    def forward(self, x):
        layers = self.layers(x)
        add = x + layers
        return add


class Stack(nn.Sequential):
    def __init__(self, in_channels, expand, kernel, out, out_channels, count, alpha=1.0):
        out_2 = make_divisible(out * alpha)
        super().__init__(
            InvertedResidual_2(in_channels, expand, kernel, 2, out_2),
            *[InvertedResidual(kernel, out_2, out_channels) for _ in range(count)],
        )


class Stack_2(nn.Sequential):
    def __init__(self, in_channels, out, out_channels, alpha=1.0):
        out_2 = make_divisible(out * alpha)
        super().__init__(InvertedResidual_2(in_channels, 6, 3, 1, out_2), InvertedResidual(3, out_2, out_channels))


class Stack_3(nn.Sequential):
    def __init__(self, in_channels, out, alpha=1.0):
        super().__init__(InvertedResidual_2(in_channels, 6, 3, 1, make_divisible(out * alpha)))


class Mnasnet(nn.Module):
    (
        'MNASNet-B1 (Tan et al., 2019) as torchvision builds it: a separable-conv stem, then stacks '
        'of MobileNetV2-style inverted residuals (ReLU, identity shortcut where the shape is kept), '
        'every width scaled by the depth multiplier alpha and rounded to a multiple of 8 (up, '
        'unless that adds more than 10%).'
    )

    def __init__(
        self,
        in_channels=24,
        out_channels=32,
        out_channels_2=16,
        out_channels_3=72,
        alpha=1.0,
        out_channels_4=120,
        in_channels_2=40,
        out_channels_5=480,
        in_channels_3=80,
        out_channels_6=576,
        in_channels_4=96,
        out_channels_7=1152,
        in_channels_5=192,
        in_channels_6=320,
        dropout=0.2,
        num_classes=1000,
    ):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, out_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, groups=out_channels, bias=False),
            nn.BatchNorm2d(out_channels, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels_2, 1, bias=False),
            nn.BatchNorm2d(out_channels_2, momentum=0.00029999999999996696),
            Stack(out_channels_2, 3, 3, 24, out_channels_3, 2, alpha=alpha),
            Stack(in_channels, 3, 5, 40, out_channels_4, 2, alpha=alpha),
            Stack(in_channels_2, 6, 5, 80, out_channels_5, 2, alpha=alpha),
            Stack_2(in_channels_3, 96, out_channels_6, alpha=alpha),
            Stack(in_channels_4, 6, 5, 192, out_channels_7, 3, alpha=alpha),
            Stack_3(in_channels_5, 320, alpha=alpha),
            nn.Conv2d(in_channels_6, 1280, 1, bias=False),
            nn.BatchNorm2d(1280, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = self.layers(x)  # N x 1280 x 7 x 7
        x = x.mean([2, 3])  # N x 1280
        x = self.classifier(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    '1_0': (Mnasnet, {}),
    '0_5': (Mnasnet, {'in_channels': 16, 'out_channels': 16, 'out_channels_2': 8, 'out_channels_3': 48,
        'alpha': 0.5, 'out_channels_4': 72, 'in_channels_2': 24, 'out_channels_5': 240, 'in_channels_3': 40,
        'out_channels_6': 288, 'in_channels_4': 48, 'out_channels_7': 576, 'in_channels_5': 96, 'in_channels_6': 160}),
    '0_75': (Mnasnet, {'out_channels': 24, 'alpha': 0.75, 'out_channels_4': 96, 'in_channels_2': 32,
        'out_channels_5': 384, 'in_channels_3': 64, 'out_channels_6': 432, 'in_channels_4': 72, 'out_channels_7': 864,
        'in_channels_5': 144, 'in_channels_6': 240}),
    '1_3': (Mnasnet, {'in_channels': 32, 'out_channels': 40, 'out_channels_2': 24, 'out_channels_3': 96,
        'alpha': 1.3, 'out_channels_4': 168, 'in_channels_2': 56, 'out_channels_5': 624, 'in_channels_3': 104,
        'out_channels_6': 768, 'in_channels_4': 128, 'out_channels_7': 1488, 'in_channels_5': 248,
        'in_channels_6': 416}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('dropout', 'num_classes')

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, 'BatchNorm2d'),
    ('bias', 'zeros_', {}, 'Linear'),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
    ('weight', 'kaiming_uniform_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'sigmoid'}, 'Linear'),
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


def create(variant=None, **params) -> Mnasnet:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('1_0')`."""
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




def mnasnet_1_0(**params) -> Mnasnet:
    return create('1_0', **params)


def mnasnet_0_5(**params) -> Mnasnet:
    return create('0_5', **params)


def mnasnet_0_75(**params) -> Mnasnet:
    return create('0_75', **params)


def mnasnet_1_3(**params) -> Mnasnet:
    return create('1_3', **params)
