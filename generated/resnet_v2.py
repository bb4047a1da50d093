(
    'resnet_v2, variants 50, 101, 152: written by `archc emit` from resnet_v2.yaml. Edit the '
    'spec, not this file.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '50'


class PreactBottleneckWithDownsample(nn.Module):
    def __init__(self, in_channels, planes, stride=1):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(OrderedDict([('conv', nn.Conv2d(
            in_channels,
            planes * 4,
            1,
            stride=stride,
            bias=False,
        ))]))
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.norm3 = nn.BatchNorm2d(planes)
        self.act3 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)

    def forward(self, x):
        x = self.norm1(x)
        x = self.act1(x)
        downsample = self.downsample(x)
        out = self.conv1(x)
        out = self.norm2(out)
        out = self.act2(out)
        out = self.conv2(out)
        out = self.norm3(out)
        out = self.act3(out)
        out = self.conv3(out)
        out = out.add_(downsample)
        return out


class PreactBottleneck(nn.Module):
    def __init__(self, in_channels, planes):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.norm3 = nn.BatchNorm2d(planes)
        self.act3 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, in_channels, 1, bias=False)

    def forward(self, x):
        out = self.norm1(x)
        out = self.act1(out)
        out = self.conv1(out)
        out = self.norm2(out)
        out = self.act2(out)
        out = self.conv2(out)
        out = self.norm3(out)
        out = self.act3(out)
        out = self.conv3(out)
        out = out.add_(x)
        return out


class Stage(nn.Module):
    def __init__(self, in_channels, planes, stride, in_channels_2, blocks_count):
        super().__init__()
        self.blocks = nn.Sequential(
            PreactBottleneckWithDownsample(in_channels, planes, stride=stride),
            *[PreactBottleneck(in_channels_2, planes) for _ in range(blocks_count)],
        )

    def forward(self, x):
        x = self.blocks(x)
        return x


class ResnetV2(nn.Module):
    (
        'Pre-activation residual networks (He et al., 2016, "Identity mappings in deep residual '
        'networks") as timm builds them (resnetv2_50/101/152): batch norm and ReLU come before each '
        'conv, the shortcut is the clean input (or a strided 1x1 projection of the pre-activated '
        "input in each stage's first block), and a final batch norm + ReLU precedes the classifier, "
        'a 1x1 conv.'
    )

    def __init__(self, blocks_count=3, blocks_count_2=5):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict([
            ('conv', nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
            ('pool', nn.MaxPool2d(3, stride=2, padding=1)),
        ]))
        self.stages = nn.Sequential(
            Stage(64, 64, 1, 256, 2),
            Stage(256, 128, 2, 512, blocks_count),
            Stage(512, 256, 2, 1024, blocks_count_2),
            Stage(1024, 512, 2, 2048, 2),
        )
        self.norm = nn.BatchNorm2d(2048)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Sequential(OrderedDict([
            ('global_pool', nn.AdaptiveAvgPool2d(1)),
            ('fc', nn.Conv2d(2048, 1000, 1)),
            ('2', nn.Flatten()),
        ]))

    def forward(self, x):
        x = self.stem(x)  # N x 64 x 56 x 56
        x = self.stages(x)  # N x 2048 x 7 x 7
        x = self.norm(x)  # N x 2048 x 7 x 7
        x = self.act(x)  # N x 2048 x 7 x 7
        x = self.head(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    '50': (ResnetV2, {}),
    '101': (ResnetV2, {'blocks_count_2': 22}),
    '152': (ResnetV2, {'blocks_count': 7, 'blocks_count_2': 35}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ()

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, ('stem.conv',
        'stages.0.blocks.0.downsample.conv', 'stages.0.blocks.0.conv1', 'stages.0.blocks.0.conv2',
        'stages.0.blocks.0.conv3', 'stages.0.blocks.1.conv1', 'stages.0.blocks.1.conv2', 'stages.0.blocks.1.conv3',
        'stages.0.blocks.2.conv1', 'stages.0.blocks.2.conv2', 'stages.0.blocks.2.conv3',
        'stages.1.blocks.0.downsample.conv', 'stages.1.blocks.0.conv1', 'stages.1.blocks.0.conv2',
        'stages.1.blocks.0.conv3', 'stages.1.blocks.1.conv1', 'stages.1.blocks.1.conv2', 'stages.1.blocks.1.conv3',
        'stages.1.blocks.2.conv1', 'stages.1.blocks.2.conv2', 'stages.1.blocks.2.conv3', 'stages.1.blocks.3.conv1',
        'stages.1.blocks.3.conv2', 'stages.1.blocks.3.conv3', 'stages.2.blocks.0.downsample.conv',
        'stages.2.blocks.0.conv1', 'stages.2.blocks.0.conv2', 'stages.2.blocks.0.conv3', 'stages.2.blocks.1.conv1',
        'stages.2.blocks.1.conv2', 'stages.2.blocks.1.conv3', 'stages.2.blocks.2.conv1', 'stages.2.blocks.2.conv2',
        'stages.2.blocks.2.conv3', 'stages.2.blocks.3.conv1', 'stages.2.blocks.3.conv2', 'stages.2.blocks.3.conv3',
        'stages.2.blocks.4.conv1', 'stages.2.blocks.4.conv2', 'stages.2.blocks.4.conv3', 'stages.2.blocks.5.conv1',
        'stages.2.blocks.5.conv2', 'stages.2.blocks.5.conv3', 'stages.3.blocks.0.downsample.conv',
        'stages.3.blocks.0.conv1', 'stages.3.blocks.0.conv2', 'stages.3.blocks.0.conv3', 'stages.3.blocks.1.conv1',
        'stages.3.blocks.1.conv2', 'stages.3.blocks.1.conv3', 'stages.3.blocks.2.conv1', 'stages.3.blocks.2.conv2',
        'stages.3.blocks.2.conv3')),
    ('bias', 'zeros_', {}, 'BatchNorm2d'),
    ('bias', 'zeros_', {}, ('head.fc',)),
    ('weight', 'normal_', {'mean': 0, 'std': 0.01}, ('head.fc',)),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
)
# The variants whose init rules give other arguments (computed from their params).
VARIANT_INIT = {
    '101': (
        ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, ('stem.conv',
        'stages.0.blocks.0.downsample.conv', 'stages.0.blocks.0.conv1', 'stages.0.blocks.0.conv2',
        'stages.0.blocks.0.conv3', 'stages.0.blocks.1.conv1', 'stages.0.blocks.1.conv2', 'stages.0.blocks.1.conv3',
        'stages.0.blocks.2.conv1', 'stages.0.blocks.2.conv2', 'stages.0.blocks.2.conv3',
        'stages.1.blocks.0.downsample.conv', 'stages.1.blocks.0.conv1', 'stages.1.blocks.0.conv2',
        'stages.1.blocks.0.conv3', 'stages.1.blocks.1.conv1', 'stages.1.blocks.1.conv2', 'stages.1.blocks.1.conv3',
        'stages.1.blocks.2.conv1', 'stages.1.blocks.2.conv2', 'stages.1.blocks.2.conv3', 'stages.1.blocks.3.conv1',
        'stages.1.blocks.3.conv2', 'stages.1.blocks.3.conv3', 'stages.2.blocks.0.downsample.conv',
        'stages.2.blocks.0.conv1', 'stages.2.blocks.0.conv2', 'stages.2.blocks.0.conv3', 'stages.2.blocks.1.conv1',
        'stages.2.blocks.1.conv2', 'stages.2.blocks.1.conv3', 'stages.2.blocks.2.conv1', 'stages.2.blocks.2.conv2',
        'stages.2.blocks.2.conv3', 'stages.2.blocks.3.conv1', 'stages.2.blocks.3.conv2', 'stages.2.blocks.3.conv3',
        'stages.2.blocks.4.conv1', 'stages.2.blocks.4.conv2', 'stages.2.blocks.4.conv3', 'stages.2.blocks.5.conv1',
        'stages.2.blocks.5.conv2', 'stages.2.blocks.5.conv3', 'stages.2.blocks.6.conv1', 'stages.2.blocks.6.conv2',
        'stages.2.blocks.6.conv3', 'stages.2.blocks.7.conv1', 'stages.2.blocks.7.conv2', 'stages.2.blocks.7.conv3',
        'stages.2.blocks.8.conv1', 'stages.2.blocks.8.conv2', 'stages.2.blocks.8.conv3', 'stages.2.blocks.9.conv1',
        'stages.2.blocks.9.conv2', 'stages.2.blocks.9.conv3', 'stages.2.blocks.10.conv1', 'stages.2.blocks.10.conv2',
        'stages.2.blocks.10.conv3', 'stages.2.blocks.11.conv1', 'stages.2.blocks.11.conv2', 'stages.2.blocks.11.conv3',
        'stages.2.blocks.12.conv1', 'stages.2.blocks.12.conv2', 'stages.2.blocks.12.conv3', 'stages.2.blocks.13.conv1',
        'stages.2.blocks.13.conv2', 'stages.2.blocks.13.conv3', 'stages.2.blocks.14.conv1', 'stages.2.blocks.14.conv2',
        'stages.2.blocks.14.conv3', 'stages.2.blocks.15.conv1', 'stages.2.blocks.15.conv2', 'stages.2.blocks.15.conv3',
        'stages.2.blocks.16.conv1', 'stages.2.blocks.16.conv2', 'stages.2.blocks.16.conv3', 'stages.2.blocks.17.conv1',
        'stages.2.blocks.17.conv2', 'stages.2.blocks.17.conv3', 'stages.2.blocks.18.conv1', 'stages.2.blocks.18.conv2',
        'stages.2.blocks.18.conv3', 'stages.2.blocks.19.conv1', 'stages.2.blocks.19.conv2', 'stages.2.blocks.19.conv3',
        'stages.2.blocks.20.conv1', 'stages.2.blocks.20.conv2', 'stages.2.blocks.20.conv3', 'stages.2.blocks.21.conv1',
        'stages.2.blocks.21.conv2', 'stages.2.blocks.21.conv3', 'stages.2.blocks.22.conv1', 'stages.2.blocks.22.conv2',
        'stages.2.blocks.22.conv3', 'stages.3.blocks.0.downsample.conv', 'stages.3.blocks.0.conv1',
        'stages.3.blocks.0.conv2', 'stages.3.blocks.0.conv3', 'stages.3.blocks.1.conv1', 'stages.3.blocks.1.conv2',
        'stages.3.blocks.1.conv3', 'stages.3.blocks.2.conv1', 'stages.3.blocks.2.conv2', 'stages.3.blocks.2.conv3')),
        ('bias', 'zeros_', {}, 'BatchNorm2d'),
        ('bias', 'zeros_', {}, ('head.fc',)),
        ('weight', 'normal_', {'mean': 0, 'std': 0.01}, ('head.fc',)),
        ('weight', 'ones_', {}, 'BatchNorm2d'),
    ),
    '152': (
        ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, ('stem.conv',
        'stages.0.blocks.0.downsample.conv', 'stages.0.blocks.0.conv1', 'stages.0.blocks.0.conv2',
        'stages.0.blocks.0.conv3', 'stages.0.blocks.1.conv1', 'stages.0.blocks.1.conv2', 'stages.0.blocks.1.conv3',
        'stages.0.blocks.2.conv1', 'stages.0.blocks.2.conv2', 'stages.0.blocks.2.conv3',
        'stages.1.blocks.0.downsample.conv', 'stages.1.blocks.0.conv1', 'stages.1.blocks.0.conv2',
        'stages.1.blocks.0.conv3', 'stages.1.blocks.1.conv1', 'stages.1.blocks.1.conv2', 'stages.1.blocks.1.conv3',
        'stages.1.blocks.2.conv1', 'stages.1.blocks.2.conv2', 'stages.1.blocks.2.conv3', 'stages.1.blocks.3.conv1',
        'stages.1.blocks.3.conv2', 'stages.1.blocks.3.conv3', 'stages.1.blocks.4.conv1', 'stages.1.blocks.4.conv2',
        'stages.1.blocks.4.conv3', 'stages.1.blocks.5.conv1', 'stages.1.blocks.5.conv2', 'stages.1.blocks.5.conv3',
        'stages.1.blocks.6.conv1', 'stages.1.blocks.6.conv2', 'stages.1.blocks.6.conv3', 'stages.1.blocks.7.conv1',
        'stages.1.blocks.7.conv2', 'stages.1.blocks.7.conv3', 'stages.2.blocks.0.downsample.conv',
        'stages.2.blocks.0.conv1', 'stages.2.blocks.0.conv2', 'stages.2.blocks.0.conv3', 'stages.2.blocks.1.conv1',
        'stages.2.blocks.1.conv2', 'stages.2.blocks.1.conv3', 'stages.2.blocks.2.conv1', 'stages.2.blocks.2.conv2',
        'stages.2.blocks.2.conv3', 'stages.2.blocks.3.conv1', 'stages.2.blocks.3.conv2', 'stages.2.blocks.3.conv3',
        'stages.2.blocks.4.conv1', 'stages.2.blocks.4.conv2', 'stages.2.blocks.4.conv3', 'stages.2.blocks.5.conv1',
        'stages.2.blocks.5.conv2', 'stages.2.blocks.5.conv3', 'stages.2.blocks.6.conv1', 'stages.2.blocks.6.conv2',
        'stages.2.blocks.6.conv3', 'stages.2.blocks.7.conv1', 'stages.2.blocks.7.conv2', 'stages.2.blocks.7.conv3',
        'stages.2.blocks.8.conv1', 'stages.2.blocks.8.conv2', 'stages.2.blocks.8.conv3', 'stages.2.blocks.9.conv1',
        'stages.2.blocks.9.conv2', 'stages.2.blocks.9.conv3', 'stages.2.blocks.10.conv1', 'stages.2.blocks.10.conv2',
        'stages.2.blocks.10.conv3', 'stages.2.blocks.11.conv1', 'stages.2.blocks.11.conv2', 'stages.2.blocks.11.conv3',
        'stages.2.blocks.12.conv1', 'stages.2.blocks.12.conv2', 'stages.2.blocks.12.conv3', 'stages.2.blocks.13.conv1',
        'stages.2.blocks.13.conv2', 'stages.2.blocks.13.conv3', 'stages.2.blocks.14.conv1', 'stages.2.blocks.14.conv2',
        'stages.2.blocks.14.conv3', 'stages.2.blocks.15.conv1', 'stages.2.blocks.15.conv2', 'stages.2.blocks.15.conv3',
        'stages.2.blocks.16.conv1', 'stages.2.blocks.16.conv2', 'stages.2.blocks.16.conv3', 'stages.2.blocks.17.conv1',
        'stages.2.blocks.17.conv2', 'stages.2.blocks.17.conv3', 'stages.2.blocks.18.conv1', 'stages.2.blocks.18.conv2',
        'stages.2.blocks.18.conv3', 'stages.2.blocks.19.conv1', 'stages.2.blocks.19.conv2', 'stages.2.blocks.19.conv3',
        'stages.2.blocks.20.conv1', 'stages.2.blocks.20.conv2', 'stages.2.blocks.20.conv3', 'stages.2.blocks.21.conv1',
        'stages.2.blocks.21.conv2', 'stages.2.blocks.21.conv3', 'stages.2.blocks.22.conv1', 'stages.2.blocks.22.conv2',
        'stages.2.blocks.22.conv3', 'stages.2.blocks.23.conv1', 'stages.2.blocks.23.conv2', 'stages.2.blocks.23.conv3',
        'stages.2.blocks.24.conv1', 'stages.2.blocks.24.conv2', 'stages.2.blocks.24.conv3', 'stages.2.blocks.25.conv1',
        'stages.2.blocks.25.conv2', 'stages.2.blocks.25.conv3', 'stages.2.blocks.26.conv1', 'stages.2.blocks.26.conv2',
        'stages.2.blocks.26.conv3', 'stages.2.blocks.27.conv1', 'stages.2.blocks.27.conv2', 'stages.2.blocks.27.conv3',
        'stages.2.blocks.28.conv1', 'stages.2.blocks.28.conv2', 'stages.2.blocks.28.conv3', 'stages.2.blocks.29.conv1',
        'stages.2.blocks.29.conv2', 'stages.2.blocks.29.conv3', 'stages.2.blocks.30.conv1', 'stages.2.blocks.30.conv2',
        'stages.2.blocks.30.conv3', 'stages.2.blocks.31.conv1', 'stages.2.blocks.31.conv2', 'stages.2.blocks.31.conv3',
        'stages.2.blocks.32.conv1', 'stages.2.blocks.32.conv2', 'stages.2.blocks.32.conv3', 'stages.2.blocks.33.conv1',
        'stages.2.blocks.33.conv2', 'stages.2.blocks.33.conv3', 'stages.2.blocks.34.conv1', 'stages.2.blocks.34.conv2',
        'stages.2.blocks.34.conv3', 'stages.2.blocks.35.conv1', 'stages.2.blocks.35.conv2', 'stages.2.blocks.35.conv3',
        'stages.3.blocks.0.downsample.conv', 'stages.3.blocks.0.conv1', 'stages.3.blocks.0.conv2',
        'stages.3.blocks.0.conv3', 'stages.3.blocks.1.conv1', 'stages.3.blocks.1.conv2', 'stages.3.blocks.1.conv3',
        'stages.3.blocks.2.conv1', 'stages.3.blocks.2.conv2', 'stages.3.blocks.2.conv3')),
        ('bias', 'zeros_', {}, 'BatchNorm2d'),
        ('bias', 'zeros_', {}, ('head.fc',)),
        ('weight', 'normal_', {'mean': 0, 'std': 0.01}, ('head.fc',)),
        ('weight', 'ones_', {}, 'BatchNorm2d'),
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


def create(variant=None, **params) -> ResnetV2:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('50')`."""
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




def resnet_v2_50(**params) -> ResnetV2:
    return create('50', **params)


def resnet_v2_101(**params) -> ResnetV2:
    return create('101', **params)


def resnet_v2_152(**params) -> ResnetV2:
    return create('152', **params)
