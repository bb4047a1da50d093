(
    'cifar_resnet, variants 110, 20, 32, 44, 56, 1202: written by `archc emit` from '
    'cifar_resnet.yaml. Edit the spec, not this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '110'


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


class Basic(nn.Module):
    def __init__(self, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        out = self.conv1(x)
        out = self.bn1(out)
        out = torch.relu_(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = out.add_(x)
        out = torch.relu_(out)
        return out


class Basic_2(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)

    def forward(self, x):
        out = self.conv1(x)  # N x 32 x 16 x 16
        out = self.bn1(out)  # N x 32 x 16 x 16
        out = torch.relu_(out)  # N x 32 x 16 x 16
        out = self.conv2(out)  # N x 32 x 16 x 16
        out = self.bn2(out)  # N x 32 x 16 x 16
        shortcut = F.pad(F.max_pool2d(x, 1, 2), (0, 0, 0, 0, 8, 8))  # N x 32 x 16 x 16
        out = out.add_(shortcut)  # N x 32 x 16 x 16
        out = torch.relu_(out)  # N x 32 x 16 x 16
        return out


class Basic_3(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)

    def forward(self, x):
        out = self.conv1(x)  # N x 64 x 8 x 8
        out = self.bn1(out)  # N x 64 x 8 x 8
        out = torch.relu_(out)  # N x 64 x 8 x 8
        out = self.conv2(out)  # N x 64 x 8 x 8
        out = self.bn2(out)  # N x 64 x 8 x 8
        shortcut = F.pad(F.max_pool2d(x, 1, 2), (0, 0, 0, 0, 16, 16))  # N x 64 x 8 x 8
        out = out.add_(shortcut)  # N x 64 x 8 x 8
        out = torch.relu_(out)  # N x 64 x 8 x 8
        return out


class CifarResnet(nn.Module):
    (
        'The CIFAR-10 residual networks of He et al. (2015, section 4.2): a 3x3 conv to 16 maps, '
        'three stages of n basic blocks with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps '
        '(depth 6n + 2), global average pooling and a 10-way linear layer. Shortcuts are '
        'identities; where the shape changes, option A subsamples by 2 and pads the new channels '
        'with zeros (no parameters), option B projects with a 1x1 conv and batch norm. `p_L` < 1 '
        'adds stochastic depth (Huang et al., 2016): block l of L survives in training with '
        'probability p_l = 1 - l / L (1 - p_L) (the paper: p_L = 0.5), one draw per mini-batch '
        "(`sd_mode: row`: one per sample). As torchvision's StochasticDepth, a surviving branch is "
        "scaled by 1 / p_l in training and left as it is at test time: the paper's scaling by p_l "
        'at test time, moved. ResNet-110: 1,727,962 parameters (paper 1.7M); ResNet-1202: '
        '19,421,274 (paper 19.4M).'
    )

    def __init__(self, layer1_count=18, layer2_count=17, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(*[Basic(16) for _ in range(layer1_count)])
        self.layer2 = nn.Sequential(Basic_2(), *[Basic(32) for _ in range(layer2_count)])
        self.layer3 = nn.Sequential(Basic_3(), *[Basic(64) for _ in range(layer2_count)])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.conv1(x)  # N x 16 x 32 x 32
        x = self.bn1(x)  # N x 16 x 32 x 32
        x = torch.relu_(x)  # N x 16 x 32 x 32
        x = self.layer1(x)  # N x 16 x 32 x 32
        x = self.layer2(x)  # N x 32 x 16 x 16
        x = self.layer3(x)  # N x 64 x 8 x 8
        x = self.avgpool(x)  # N x 64 x 1 x 1
        x = torch.flatten(x, 1)  # N x 64
        x = self.fc(x)  # N x 10
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    '110': (CifarResnet, {}),
    '20': (CifarResnet, {'layer1_count': 3, 'layer2_count': 2}),
    '32': (CifarResnet, {'layer1_count': 5, 'layer2_count': 4}),
    '44': (CifarResnet, {'layer1_count': 7, 'layer2_count': 6}),
    '56': (CifarResnet, {'layer1_count': 9, 'layer2_count': 8}),
    '1202': (CifarResnet, {'layer1_count': 200, 'layer2_count': 199}),
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


def create(variant=None, **params) -> CifarResnet:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('110')`."""
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




def cifar_resnet_110(**params) -> CifarResnet:
    return create('110', **params)


def cifar_resnet_20(**params) -> CifarResnet:
    return create('20', **params)


def cifar_resnet_32(**params) -> CifarResnet:
    return create('32', **params)


def cifar_resnet_44(**params) -> CifarResnet:
    return create('44', **params)


def cifar_resnet_56(**params) -> CifarResnet:
    return create('56', **params)


def cifar_resnet_1202(**params) -> CifarResnet:
    return create('1202', **params)
