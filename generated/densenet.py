(
    'densenet, variants 121, 161, 169, 201, 264: written by `archc emit` from densenet.yaml. '
    'Edit the spec, not this file.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '121'


class DenseLayer(nn.Module):
    def __init__(self, in_channels, growth_rate=32):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, 4 * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.norm1(x)
        out = self.relu1(out)
        out = self.conv1(out)
        out = self.norm2(out)
        out = self.relu2(out)
        out = self.conv2(out)
        concat = torch.cat([x, out], 1)
        return concat


class Densenet(nn.Module):
    (
        'Densely connected networks (Huang et al., 2017), DenseNet-BC as torchvision builds them: '
        'each dense layer (BN-ReLU-1x1 conv-BN-ReLU-3x3 conv) appends growth_rate channels to its '
        'input; transitions between blocks halve channels and resolution.'
    )

    def __init__(
        self,
        conv0_out_channels=64,
        denselayer1_in_channels_step=32,
        conv_out_channels=256,
        conv_out_channels_2=128,
        norm_num_features=512,
        denseblock3_count=24,
        norm_num_features_2=1024,
        conv_out_channels_3=512,
        denseblock4_count=16,
        norm5_num_features=1024,
        num_classes=1000,
    ):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ('conv0', nn.Conv2d(3, conv0_out_channels, 7, stride=2, padding=3, bias=False)),
            ('norm0', nn.BatchNorm2d(conv0_out_channels)),
            ('relu0', nn.ReLU(inplace=True)),
            ('pool0', nn.MaxPool2d(3, stride=2, padding=1)),
            ('denseblock1', nn.Sequential(OrderedDict([
                *[('denselayer%d' % (i + 1), DenseLayer(
                    conv0_out_channels + denselayer1_in_channels_step * i,
                    growth_rate=denselayer1_in_channels_step,
                )) for i in range(6)],
            ]))),
            ('transition1', nn.Sequential(OrderedDict([
                ('norm', nn.BatchNorm2d(conv_out_channels)),
                ('relu', nn.ReLU(inplace=True)),
                ('conv', nn.Conv2d(conv_out_channels, conv_out_channels_2, 1, bias=False)),
                ('pool', nn.AvgPool2d(2)),
            ]))),
            ('denseblock2', nn.Sequential(OrderedDict([
                *[('denselayer%d' % (i + 1), DenseLayer(
                    conv_out_channels_2 + denselayer1_in_channels_step * i,
                    growth_rate=denselayer1_in_channels_step,
                )) for i in range(12)],
            ]))),
            ('transition2', nn.Sequential(OrderedDict([
                ('norm', nn.BatchNorm2d(norm_num_features)),
                ('relu', nn.ReLU(inplace=True)),
                ('conv', nn.Conv2d(norm_num_features, conv_out_channels, 1, bias=False)),
                ('pool', nn.AvgPool2d(2)),
            ]))),
            ('denseblock3', nn.Sequential(OrderedDict([
                *[('denselayer%d' % (i + 1), DenseLayer(
                    conv_out_channels + denselayer1_in_channels_step * i,
                    growth_rate=denselayer1_in_channels_step,
                )) for i in range(denseblock3_count)],
            ]))),
            ('transition3', nn.Sequential(OrderedDict([
                ('norm', nn.BatchNorm2d(norm_num_features_2)),
                ('relu', nn.ReLU(inplace=True)),
                ('conv', nn.Conv2d(norm_num_features_2, conv_out_channels_3, 1, bias=False)),
                ('pool', nn.AvgPool2d(2)),
            ]))),
            ('denseblock4', nn.Sequential(OrderedDict([
                *[('denselayer%d' % (i + 1), DenseLayer(
                    conv_out_channels_3 + denselayer1_in_channels_step * i,
                    growth_rate=denselayer1_in_channels_step,
                )) for i in range(denseblock4_count)],
            ]))),
            ('norm5', nn.BatchNorm2d(norm5_num_features)),
        ]))
        self.classifier = nn.Linear(norm5_num_features, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 29,
            'this network takes input height H >= 29 (`features.transition3.pool` (an '
            'avgpool2d))',
        )
        torch._assert(
            x.shape[3] >= 29,
            'this network takes input width W >= 29 (`features.transition3.pool` (an '
            'avgpool2d))',
        )
        x = self.features(x)
        x = torch.relu_(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    '121': (Densenet, {}),
    '161': (Densenet, {'conv0_out_channels': 96, 'denselayer1_in_channels_step': 48, 'conv_out_channels': 384,
        'conv_out_channels_2': 192, 'norm_num_features': 768, 'denseblock3_count': 36, 'norm_num_features_2': 2112,
        'conv_out_channels_3': 1056, 'denseblock4_count': 24, 'norm5_num_features': 2208}),
    '169': (Densenet, {'denseblock3_count': 32, 'norm_num_features_2': 1280, 'conv_out_channels_3': 640,
        'denseblock4_count': 32, 'norm5_num_features': 1664}),
    '201': (Densenet, {'denseblock3_count': 48, 'norm_num_features_2': 1792, 'conv_out_channels_3': 896,
        'denseblock4_count': 32, 'norm5_num_features': 1920}),
    '264': (Densenet, {'denseblock3_count': 64, 'norm_num_features_2': 2304, 'conv_out_channels_3': 1152,
        'denseblock4_count': 48, 'norm5_num_features': 2688}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('num_classes',)

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_in', 'nonlinearity': 'leaky_relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, 'BatchNorm2d'),
    ('bias', 'zeros_', {}, 'Linear'),
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


def create(variant=None, **params) -> Densenet:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('121')`."""
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




def densenet_121(**params) -> Densenet:
    return create('121', **params)


def densenet_161(**params) -> Densenet:
    return create('161', **params)


def densenet_169(**params) -> Densenet:
    return create('169', **params)


def densenet_201(**params) -> Densenet:
    return create('201', **params)


def densenet_264(**params) -> Densenet:
    return create('264', **params)
