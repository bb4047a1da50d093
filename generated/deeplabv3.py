(
    'deeplabv3, variants resnet50, resnet101: written by `archc emit` from deeplabv3.yaml. Edit '
    'the spec, not this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'resnet50'


class Bottleneck(nn.Module):
    def __init__(self, in_channels, planes, stride=1, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
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


class Backbone(nn.Module):
    def __init__(self, layer3_count):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(Bottleneck(64, 64), *[Bottleneck(256, 64) for _ in range(2)])
        self.layer2 = nn.Sequential(Bottleneck(256, 128, stride=2), *[Bottleneck(512, 128) for _ in range(3)])
        self.layer3 = nn.Sequential(
            Bottleneck(512, 256),
            *[Bottleneck(1024, 256, dilation=2) for _ in range(layer3_count)],
        )
        self.layer4 = nn.Sequential(
            Bottleneck(1024, 512, dilation=2),
            *[Bottleneck(2048, 512, dilation=4) for _ in range(2)],
        )

    def forward(self, x):
        x = self.conv1(x)  # N x 64 x 260 x 260
        x = self.bn1(x)  # N x 64 x 260 x 260
        x = self.relu(x)  # N x 64 x 260 x 260
        x = self.maxpool(x)  # N x 64 x 130 x 130
        x = self.layer1(x)  # N x 256 x 130 x 130
        x = self.layer2(x)  # N x 512 x 65 x 65
        x = self.layer3(x)  # N x 1024 x 65 x 65
        layer4 = self.layer4(x)  # N x 2048 x 65 x 65
        return (layer4, x)


class AsppConv(nn.Sequential):
    def __init__(self, rate):
        super().__init__(
            nn.Conv2d(2048, 256, 3, padding=rate, dilation=rate, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
        )


class AsppPooling(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module('1', nn.Conv2d(2048, 256, 1, bias=False))
        self.add_module('2', nn.BatchNorm2d(256))

    def forward(self, x):
        out = F.adaptive_avg_pool2d(x, (1, 1))  # N x 2048 x 1 x 1
        out = getattr(self, '1')(out)  # N x 256 x 1 x 1
        out = getattr(self, '2')(out)  # N x 256 x 1 x 1
        out = torch.relu_(out)  # N x 256 x 1 x 1
        out = F.interpolate(out, size=(x.shape[2], x.shape[3]), mode='bilinear', align_corners=False)
        return out


class Convs(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module('0', nn.Sequential(
            nn.Conv2d(2048, 256, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
        ))
        self.add_module('1', AsppConv(12))
        self.add_module('2', AsppConv(24))
        self.add_module('3', AsppConv(36))
        self.add_module('4', AsppPooling())

    def forward(self, x):
        out = getattr(self, '0')(x)  # N x 256 x 65 x 65
        x1 = getattr(self, '1')(x)  # N x 256 x 65 x 65
        x2 = getattr(self, '2')(x)  # N x 256 x 65 x 65
        x3 = getattr(self, '3')(x)  # N x 256 x 65 x 65
        x4 = getattr(self, '4')(x)  # N x 256 x 65 x 65
        out = torch.cat([out, x1, x2, x3, x4], 1)  # N x 1280 x 65 x 65
        return out


class Aspp(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = Convs()
        self.project = nn.Sequential(
            nn.Conv2d(1280, 256, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
        )

    def forward(self, x):
        x = self.convs(x)  # N x 1280 x 65 x 65
        x = self.project(x)  # N x 256 x 65 x 65
        return x


class Deeplabv3(nn.Module):
    (
        'DeepLabV3 (Chen et al., 2017) as torchvision builds it: a ResNet backbone whose last two '
        'stages trade stride for dilation (output stride 8), atrous spatial pyramid pooling (a 1x1 '
        'conv, three dilated 3x3 convs and image pooling, concatenated and projected), a 3x3 conv '
        'head, and bilinear upsampling to the input size. Optional FCN auxiliary head on layer3.'
    )

    def __init__(self, backbone_layer3_count=5):
        super().__init__()
        self.backbone = Backbone(backbone_layer3_count)
        self.classifier = nn.Sequential(
            Aspp(),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 21, 1),
        )

    def forward(self, x):
        backbone_0, backbone_1 = self.backbone(x)  # N x 2048 x 65 x 65, N x 1024 x 65 x 65
        out = self.classifier(backbone_0)  # N x 21 x 65 x 65
        out = F.interpolate(out, size=(x.shape[2], x.shape[3]), mode='bilinear', align_corners=False)
        return out


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'resnet50': (Deeplabv3, {}),
    'resnet101': (Deeplabv3, {'backbone_layer3_count': 22}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ()

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, ('backbone.conv1',
        'backbone.layer1.0.conv1', 'backbone.layer1.0.conv2', 'backbone.layer1.0.conv3', 'backbone.layer1.1.conv1',
        'backbone.layer1.1.conv2', 'backbone.layer1.1.conv3', 'backbone.layer1.2.conv1', 'backbone.layer1.2.conv2',
        'backbone.layer1.2.conv3', 'backbone.layer2.0.conv1', 'backbone.layer2.0.conv2', 'backbone.layer2.0.conv3',
        'backbone.layer2.1.conv1', 'backbone.layer2.1.conv2', 'backbone.layer2.1.conv3', 'backbone.layer2.2.conv1',
        'backbone.layer2.2.conv2', 'backbone.layer2.2.conv3', 'backbone.layer2.3.conv1', 'backbone.layer2.3.conv2',
        'backbone.layer2.3.conv3', 'backbone.layer3.0.conv1', 'backbone.layer3.0.conv2', 'backbone.layer3.0.conv3',
        'backbone.layer3.1.conv1', 'backbone.layer3.1.conv2', 'backbone.layer3.1.conv3', 'backbone.layer3.2.conv1',
        'backbone.layer3.2.conv2', 'backbone.layer3.2.conv3', 'backbone.layer3.3.conv1', 'backbone.layer3.3.conv2',
        'backbone.layer3.3.conv3', 'backbone.layer3.4.conv1', 'backbone.layer3.4.conv2', 'backbone.layer3.4.conv3',
        'backbone.layer3.5.conv1', 'backbone.layer3.5.conv2', 'backbone.layer3.5.conv3', 'backbone.layer4.0.conv1',
        'backbone.layer4.0.conv2', 'backbone.layer4.0.conv3', 'backbone.layer4.1.conv1', 'backbone.layer4.1.conv2',
        'backbone.layer4.1.conv3', 'backbone.layer4.2.conv1', 'backbone.layer4.2.conv2', 'backbone.layer4.2.conv3',
        'backbone.layer1.0.downsample.0', 'backbone.layer2.0.downsample.0', 'backbone.layer3.0.downsample.0',
        'backbone.layer4.0.downsample.0')),
)
# The variants whose init rules give other arguments (computed from their params).
VARIANT_INIT = {
    'resnet101': (
        ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, ('backbone.conv1',
        'backbone.layer1.0.conv1', 'backbone.layer1.0.conv2', 'backbone.layer1.0.conv3', 'backbone.layer1.1.conv1',
        'backbone.layer1.1.conv2', 'backbone.layer1.1.conv3', 'backbone.layer1.2.conv1', 'backbone.layer1.2.conv2',
        'backbone.layer1.2.conv3', 'backbone.layer2.0.conv1', 'backbone.layer2.0.conv2', 'backbone.layer2.0.conv3',
        'backbone.layer2.1.conv1', 'backbone.layer2.1.conv2', 'backbone.layer2.1.conv3', 'backbone.layer2.2.conv1',
        'backbone.layer2.2.conv2', 'backbone.layer2.2.conv3', 'backbone.layer2.3.conv1', 'backbone.layer2.3.conv2',
        'backbone.layer2.3.conv3', 'backbone.layer3.0.conv1', 'backbone.layer3.0.conv2', 'backbone.layer3.0.conv3',
        'backbone.layer3.1.conv1', 'backbone.layer3.1.conv2', 'backbone.layer3.1.conv3', 'backbone.layer3.2.conv1',
        'backbone.layer3.2.conv2', 'backbone.layer3.2.conv3', 'backbone.layer3.3.conv1', 'backbone.layer3.3.conv2',
        'backbone.layer3.3.conv3', 'backbone.layer3.4.conv1', 'backbone.layer3.4.conv2', 'backbone.layer3.4.conv3',
        'backbone.layer3.5.conv1', 'backbone.layer3.5.conv2', 'backbone.layer3.5.conv3', 'backbone.layer3.6.conv1',
        'backbone.layer3.6.conv2', 'backbone.layer3.6.conv3', 'backbone.layer3.7.conv1', 'backbone.layer3.7.conv2',
        'backbone.layer3.7.conv3', 'backbone.layer3.8.conv1', 'backbone.layer3.8.conv2', 'backbone.layer3.8.conv3',
        'backbone.layer3.9.conv1', 'backbone.layer3.9.conv2', 'backbone.layer3.9.conv3', 'backbone.layer3.10.conv1',
        'backbone.layer3.10.conv2', 'backbone.layer3.10.conv3', 'backbone.layer3.11.conv1', 'backbone.layer3.11.conv2',
        'backbone.layer3.11.conv3', 'backbone.layer3.12.conv1', 'backbone.layer3.12.conv2', 'backbone.layer3.12.conv3',
        'backbone.layer3.13.conv1', 'backbone.layer3.13.conv2', 'backbone.layer3.13.conv3', 'backbone.layer3.14.conv1',
        'backbone.layer3.14.conv2', 'backbone.layer3.14.conv3', 'backbone.layer3.15.conv1', 'backbone.layer3.15.conv2',
        'backbone.layer3.15.conv3', 'backbone.layer3.16.conv1', 'backbone.layer3.16.conv2', 'backbone.layer3.16.conv3',
        'backbone.layer3.17.conv1', 'backbone.layer3.17.conv2', 'backbone.layer3.17.conv3', 'backbone.layer3.18.conv1',
        'backbone.layer3.18.conv2', 'backbone.layer3.18.conv3', 'backbone.layer3.19.conv1', 'backbone.layer3.19.conv2',
        'backbone.layer3.19.conv3', 'backbone.layer3.20.conv1', 'backbone.layer3.20.conv2', 'backbone.layer3.20.conv3',
        'backbone.layer3.21.conv1', 'backbone.layer3.21.conv2', 'backbone.layer3.21.conv3', 'backbone.layer3.22.conv1',
        'backbone.layer3.22.conv2', 'backbone.layer3.22.conv3', 'backbone.layer4.0.conv1', 'backbone.layer4.0.conv2',
        'backbone.layer4.0.conv3', 'backbone.layer4.1.conv1', 'backbone.layer4.1.conv2', 'backbone.layer4.1.conv3',
        'backbone.layer4.2.conv1', 'backbone.layer4.2.conv2', 'backbone.layer4.2.conv3',
        'backbone.layer1.0.downsample.0', 'backbone.layer2.0.downsample.0', 'backbone.layer3.0.downsample.0',
        'backbone.layer4.0.downsample.0')),
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


def create(variant=None, **params) -> Deeplabv3:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('resnet50')`."""
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




def deeplabv3_resnet50(**params) -> Deeplabv3:
    return create('resnet50', **params)


def deeplabv3_resnet101(**params) -> Deeplabv3:
    return create('resnet101', **params)
