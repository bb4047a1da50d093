(
    'senet, variants se_resnet50, se_resnet101, se_resnet152, se_resnext50_32x4d, senet154: '
    'written by `archc emit` from senet.yaml. Edit the spec, not this file.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'se_resnet50'


class SqueezeExcitation(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // 16, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // 16, channels, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        out = x.mean([2, 3], keepdim=True)
        out = self.fc1(out)
        out = self.relu(out)
        out = self.fc2(out)
        out = self.sigmoid(out)
        scale = x * out
        return scale


class SeBottleneck(nn.Module):
    def __init__(
        self,
        in_channels,
        planes,
        stride,
        project,
        down_kernel,
        conv1_out_channels,
        conv2_out_channels,
        stride_1x1=True,
        groups=1,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, conv1_out_channels, 1, stride=stride if stride_1x1 else 1, bias=False)
        self.bn1 = nn.BatchNorm2d(conv1_out_channels)
        self.conv2 = nn.Conv2d(
            conv1_out_channels,
            conv2_out_channels,
            3,
            stride=1 if stride_1x1 else stride,
            padding=1,
            groups=groups,
            bias=False,
        )
        self.bn2 = nn.BatchNorm2d(conv2_out_channels)
        self.conv3 = nn.Conv2d(conv2_out_channels, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.se_module = SqueezeExcitation(planes * 4)
        if project:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, planes * 4, down_kernel, stride=stride, padding=down_kernel // 2, bias=False),
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
        out = self.se_module(out)
        downsample = x
        if self.downsample is not None:
            downsample = self.downsample(x)
        out = out.add_(downsample)
        out = torch.relu_(out)
        return out


class Senet(nn.Module):
    (
        "Squeeze-and-excitation networks (Hu et al., 2018) as timm's legacy models build them (the "
        "authors' Caffe layout): ResNet, ResNeXt and SENet-154 bottlenecks whose residual branch is "
        'rescaled channel-wise by an SE module (global mean, 1x1 conv reduce by 16, ReLU, 1x1 conv, '
        'sigmoid) before the shortcut is added. SE-ResNets stride on the first 1x1 conv; SENet-154 '
        'has a 3x3 three-conv stem and 3x3 projection shortcuts.'
    )

    def __init__(
        self,
        conv1_out_channels=64,
        stride_1x1=True,
        groups=1,
        conv1_out_channels_2=128,
        layer2_count=3,
        conv1_out_channels_3=256,
        layer3_count=5,
        conv1_out_channels_4=512,
        num_classes=1000,
    ):
        super().__init__()
        self.layer0 = nn.Sequential(OrderedDict([
            ('conv1', nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
            ('bn1', nn.BatchNorm2d(64)),
            ('relu1', nn.ReLU(inplace=True)),
        ]))
        self.pool0 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.layer1 = nn.Sequential(
            SeBottleneck(
                64,
                64,
                1,
                True,
                1,
                conv1_out_channels,
                conv1_out_channels,
                stride_1x1=stride_1x1,
                groups=groups,
            ),
            *[SeBottleneck(
                256,
                64,
                1,
                False,
                1,
                conv1_out_channels,
                conv1_out_channels,
                stride_1x1=stride_1x1,
                groups=groups,
            ) for _ in range(2)],
        )
        self.layer2 = nn.Sequential(
            SeBottleneck(
                256,
                128,
                2,
                True,
                1,
                conv1_out_channels_2,
                conv1_out_channels_2,
                stride_1x1=stride_1x1,
                groups=groups,
            ),
            *[SeBottleneck(
                512,
                128,
                1,
                False,
                1,
                conv1_out_channels_2,
                conv1_out_channels_2,
                stride_1x1=stride_1x1,
                groups=groups,
            ) for _ in range(layer2_count)],
        )
        self.layer3 = nn.Sequential(
            SeBottleneck(
                512,
                256,
                2,
                True,
                1,
                conv1_out_channels_3,
                conv1_out_channels_3,
                stride_1x1=stride_1x1,
                groups=groups,
            ),
            *[SeBottleneck(
                1024,
                256,
                1,
                False,
                1,
                conv1_out_channels_3,
                conv1_out_channels_3,
                stride_1x1=stride_1x1,
                groups=groups,
            ) for _ in range(layer3_count)],
        )
        self.layer4 = nn.Sequential(
            SeBottleneck(
                1024,
                512,
                2,
                True,
                1,
                conv1_out_channels_4,
                conv1_out_channels_4,
                stride_1x1=stride_1x1,
                groups=groups,
            ),
            *[SeBottleneck(
                2048,
                512,
                1,
                False,
                1,
                conv1_out_channels_4,
                conv1_out_channels_4,
                stride_1x1=stride_1x1,
                groups=groups,
            ) for _ in range(2)],
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.last_linear = nn.Linear(2048, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 3,
            'this network takes input height H >= 3 (`pool0` (a maxpool2d))',
        )
        torch._assert(
            x.shape[3] >= 3,
            'this network takes input width W >= 3 (`pool0` (a maxpool2d))',
        )
        x = self.layer0(x)  # N x 64 x 112 x 112
        x = self.pool0(x)  # N x 64 x 56 x 56
        x = self.layer1(x)  # N x 256 x 56 x 56
        x = self.layer2(x)  # N x 512 x 28 x 28
        x = self.layer3(x)  # N x 1024 x 14 x 14
        x = self.layer4(x)  # N x 2048 x 7 x 7
        x = self.global_pool(x)  # N x 2048 x 1 x 1
        x = torch.flatten(x, 1)  # N x 2048
        x = self.dropout(x)  # N x 2048
        x = self.last_linear(x)  # N x 1000
        return x


class SenetSenet154(nn.Module):
    'The network of variant senet154.'

    def __init__(self, num_classes=1000):
        super().__init__()
        self.layer0 = nn.Sequential(OrderedDict([
            ('conv1', nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)),
            ('bn1', nn.BatchNorm2d(64)),
            ('relu1', nn.ReLU(inplace=True)),
            ('conv2', nn.Conv2d(64, 64, 3, padding=1, bias=False)),
            ('bn2', nn.BatchNorm2d(64)),
            ('relu2', nn.ReLU(inplace=True)),
            ('conv3', nn.Conv2d(64, 128, 3, padding=1, bias=False)),
            ('bn3', nn.BatchNorm2d(128)),
            ('relu3', nn.ReLU(inplace=True)),
        ]))
        self.pool0 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.layer1 = nn.Sequential(
            SeBottleneck(128, 64, 1, True, 1, 128, 256, stride_1x1=False, groups=64),
            *[SeBottleneck(256, 64, 1, False, 1, 128, 256, stride_1x1=False, groups=64) for _ in range(2)],
        )
        self.layer2 = nn.Sequential(
            SeBottleneck(256, 128, 2, True, 3, 256, 512, stride_1x1=False, groups=64),
            *[SeBottleneck(512, 128, 1, False, 3, 256, 512, stride_1x1=False, groups=64) for _ in range(7)],
        )
        self.layer3 = nn.Sequential(
            SeBottleneck(512, 256, 2, True, 3, 512, 1024, stride_1x1=False, groups=64),
            *[SeBottleneck(1024, 256, 1, False, 3, 512, 1024, stride_1x1=False, groups=64) for _ in range(35)],
        )
        self.layer4 = nn.Sequential(
            SeBottleneck(1024, 512, 2, True, 3, 1024, 2048, stride_1x1=False, groups=64),
            *[SeBottleneck(2048, 512, 1, False, 3, 1024, 2048, stride_1x1=False, groups=64) for _ in range(2)],
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.last_linear = nn.Linear(2048, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 3,
            'this network takes input height H >= 3 (`pool0` (a maxpool2d))',
        )
        torch._assert(
            x.shape[3] >= 3,
            'this network takes input width W >= 3 (`pool0` (a maxpool2d))',
        )
        x = self.layer0(x)  # N x 128 x 112 x 112
        x = self.pool0(x)  # N x 128 x 56 x 56
        x = self.layer1(x)  # N x 256 x 56 x 56
        x = self.layer2(x)  # N x 512 x 28 x 28
        x = self.layer3(x)  # N x 1024 x 14 x 14
        x = self.layer4(x)  # N x 2048 x 7 x 7
        x = self.global_pool(x)  # N x 2048 x 1 x 1
        x = torch.flatten(x, 1)  # N x 2048
        x = self.dropout(x)  # N x 2048
        x = self.last_linear(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'se_resnet50': (Senet, {}),
    'se_resnet101': (Senet, {'layer3_count': 22}),
    'se_resnet152': (Senet, {'layer2_count': 7, 'layer3_count': 35}),
    'se_resnext50_32x4d': (Senet, {'conv1_out_channels': 128, 'stride_1x1': False, 'groups': 32,
        'conv1_out_channels_2': 256, 'conv1_out_channels_3': 512, 'conv1_out_channels_4': 1024}),
    'senet154': (SenetSenet154, {}),
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
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('se_resnet50')`."""
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




def senet_se_resnet50(**params) -> nn.Module:
    return create('se_resnet50', **params)


def senet_se_resnet101(**params) -> nn.Module:
    return create('se_resnet101', **params)


def senet_se_resnet152(**params) -> nn.Module:
    return create('se_resnet152', **params)


def senet_se_resnext50_32x4d(**params) -> nn.Module:
    return create('se_resnext50_32x4d', **params)


def senet_senet154(**params) -> nn.Module:
    return create('senet154', **params)
