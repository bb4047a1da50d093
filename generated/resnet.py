(
    'resnet, variants 50, 18, 34, 101, 152, resnext50_32x4d, wide_resnet50_2, resnext101_32x8d, '
    'resnext101_64x4d, wide_resnet101_2: written by `archc emit` from resnet.yaml. Edit the '
    'spec, not this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '50'


class Bottleneck(nn.Module):
    def __init__(self, in_channels, planes, stride=1, width_per_group=64, groups=1):
        super().__init__()
        conv1_out_channels = planes * width_per_group // 64 * groups
        self.conv1 = nn.Conv2d(in_channels, conv1_out_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(conv1_out_channels)
        self.conv2 = nn.Conv2d(
            conv1_out_channels,
            conv1_out_channels,
            3,
            stride=stride,
            padding=1,
            groups=groups,
            bias=False,
        )
        self.bn2 = nn.BatchNorm2d(conv1_out_channels)
        self.conv3 = nn.Conv2d(conv1_out_channels, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        if stride != 1 or in_channels != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, planes * 4, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        else:
            self.downsample = None

    def forward(self, x):
        out = self.conv1(x)
        out = self.bn1(out)
        out = torch.relu_(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = torch.relu_(out)
        out = self.conv3(out)
        out = self.bn3(out)
        downsample = x
        if self.downsample is not None:
            downsample = self.downsample(x)
        out = out.add_(downsample)
        out = torch.relu_(out)
        return out


class Basic(nn.Module):
    def __init__(self, in_channels, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_channels != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, planes, 1, stride=2, bias=False),
                nn.BatchNorm2d(planes),
            )
        else:
            self.downsample = None

    def forward(self, x):
        out = self.conv1(x)
        out = self.bn1(out)
        out = torch.relu_(out)
        out = self.conv2(out)
        out = self.bn2(out)
        downsample = x
        if self.downsample is not None:
            downsample = self.downsample(x)
        out = out.add_(downsample)
        out = torch.relu_(out)
        return out


class Resnet(nn.Module):
    (
        'Deep residual networks (He et al., 2015) as torchvision builds them: stride on the 3x3 '
        'conv of the bottleneck (ResNet v1.5), a 1x1 conv + batch norm downsample branch wherever '
        'the stride or width changes, identity shortcuts elsewhere.'
    )

    def __init__(self, width_per_group=64, groups=1, layer2_count=3, layer3_count=5, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(
            Bottleneck(64, 64, width_per_group=width_per_group, groups=groups),
            *[Bottleneck(256, 64, width_per_group=width_per_group, groups=groups) for _ in range(2)],
        )
        self.layer2 = nn.Sequential(
            Bottleneck(256, 128, stride=2, width_per_group=width_per_group, groups=groups),
            *[Bottleneck(512, 128, width_per_group=width_per_group, groups=groups) for _ in range(layer2_count)],
        )
        self.layer3 = nn.Sequential(
            Bottleneck(512, 256, stride=2, width_per_group=width_per_group, groups=groups),
            *[Bottleneck(1024, 256, width_per_group=width_per_group, groups=groups) for _ in range(layer3_count)],
        )
        self.layer4 = nn.Sequential(
            Bottleneck(1024, 512, stride=2, width_per_group=width_per_group, groups=groups),
            *[Bottleneck(2048, 512, width_per_group=width_per_group, groups=groups) for _ in range(2)],
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.conv1(x)  # N x 64 x 112 x 112
        x = self.bn1(x)  # N x 64 x 112 x 112
        x = self.relu(x)  # N x 64 x 112 x 112
        x = self.maxpool(x)  # N x 64 x 56 x 56
        x = self.layer1(x)  # N x 256 x 56 x 56
        x = self.layer2(x)  # N x 512 x 28 x 28
        x = self.layer3(x)  # N x 1024 x 14 x 14
        x = self.layer4(x)  # N x 2048 x 7 x 7
        x = self.avgpool(x)  # N x 2048 x 1 x 1
        x = torch.flatten(x, 1)  # N x 2048
        x = self.fc(x)  # N x 1000
        return x


class Resnet18(nn.Module):
    'The network of variant 18.'

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(*[Basic(64, 64) for _ in range(2)])
        self.layer2 = nn.Sequential(Basic(64, 128, stride=2), Basic(128, 128))
        self.layer3 = nn.Sequential(Basic(128, 256, stride=2), Basic(256, 256))
        self.layer4 = nn.Sequential(Basic(256, 512, stride=2), Basic(512, 512))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.conv1(x)  # N x 64 x 112 x 112
        x = self.bn1(x)  # N x 64 x 112 x 112
        x = self.relu(x)  # N x 64 x 112 x 112
        x = self.maxpool(x)  # N x 64 x 56 x 56
        x = self.layer1(x)  # N x 64 x 56 x 56
        x = self.layer2(x)  # N x 128 x 28 x 28
        x = self.layer3(x)  # N x 256 x 14 x 14
        x = self.layer4(x)  # N x 512 x 7 x 7
        x = self.avgpool(x)  # N x 512 x 1 x 1
        x = torch.flatten(x, 1)  # N x 512
        x = self.fc(x)  # N x 1000
        return x


class Resnet34(nn.Module):
    'The network of variant 34.'

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(*[Basic(64, 64) for _ in range(3)])
        self.layer2 = nn.Sequential(Basic(64, 128, stride=2), *[Basic(128, 128) for _ in range(3)])
        self.layer3 = nn.Sequential(Basic(128, 256, stride=2), *[Basic(256, 256) for _ in range(5)])
        self.layer4 = nn.Sequential(Basic(256, 512, stride=2), *[Basic(512, 512) for _ in range(2)])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.conv1(x)  # N x 64 x 112 x 112
        x = self.bn1(x)  # N x 64 x 112 x 112
        x = self.relu(x)  # N x 64 x 112 x 112
        x = self.maxpool(x)  # N x 64 x 56 x 56
        x = self.layer1(x)  # N x 64 x 56 x 56
        x = self.layer2(x)  # N x 128 x 28 x 28
        x = self.layer3(x)  # N x 256 x 14 x 14
        x = self.layer4(x)  # N x 512 x 7 x 7
        x = self.avgpool(x)  # N x 512 x 1 x 1
        x = torch.flatten(x, 1)  # N x 512
        x = self.fc(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    '50': (Resnet, {}),
    '18': (Resnet18, {}),
    '34': (Resnet34, {}),
    '101': (Resnet, {'layer3_count': 22}),
    '152': (Resnet, {'layer2_count': 7, 'layer3_count': 35}),
    'resnext50_32x4d': (Resnet, {'width_per_group': 4, 'groups': 32}),
    'wide_resnet50_2': (Resnet, {'width_per_group': 128}),
    'resnext101_32x8d': (Resnet, {'width_per_group': 8, 'groups': 32, 'layer3_count': 22}),
    'resnext101_64x4d': (Resnet, {'width_per_group': 4, 'groups': 64, 'layer3_count': 22}),
    'wide_resnet101_2': (Resnet, {'width_per_group': 128, 'layer3_count': 22}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('num_classes',)

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, 'BatchNorm2d'),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
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
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('50')`."""
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




def resnet_50(**params) -> nn.Module:
    return create('50', **params)


def resnet_18(**params) -> nn.Module:
    return create('18', **params)


def resnet_34(**params) -> nn.Module:
    return create('34', **params)


def resnet_101(**params) -> nn.Module:
    return create('101', **params)


def resnet_152(**params) -> nn.Module:
    return create('152', **params)


def resnet_resnext50_32x4d(**params) -> nn.Module:
    return create('resnext50_32x4d', **params)


def resnet_wide_resnet50_2(**params) -> nn.Module:
    return create('wide_resnet50_2', **params)


def resnet_resnext101_32x8d(**params) -> nn.Module:
    return create('resnext101_32x8d', **params)


def resnet_resnext101_64x4d(**params) -> nn.Module:
    return create('resnext101_64x4d', **params)


def resnet_wide_resnet101_2(**params) -> nn.Module:
    return create('wide_resnet101_2', **params)
