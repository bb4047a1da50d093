'xception: written by `archc emit` from xception.yaml. Edit the spec, not this file.'

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = None


class Separable(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out, 1, bias=False)

    def forward(self, x):
        x = self.conv1(x)
        x = self.pointwise(x)
        return x


class BlockWithSkipSkipbn(nn.Module):
    def __init__(self):
        super().__init__()
        self.rep = nn.Sequential(
            Separable(64, 128),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            Separable(128, 128),
            nn.BatchNorm2d(128),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.skip = nn.Conv2d(64, 128, 1, stride=2, bias=False)
        self.skipbn = nn.BatchNorm2d(128)

    def forward(self, x):
        out = self.rep(x)  # N x 128 x 74 x 74
        out_2 = self.skip(x)  # N x 128 x 74 x 74
        out_2 = self.skipbn(out_2)  # N x 128 x 74 x 74
        out = out.add_(out_2)  # N x 128 x 74 x 74
        return out


class BlockWithSkipSkipbn_2(nn.Module):
    def __init__(self, in_channels, out, out_2):
        super().__init__()
        self.rep = nn.Sequential(
            nn.ReLU(),
            Separable(in_channels, out),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
            Separable(out, out_2),
            nn.BatchNorm2d(out_2),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.skip = nn.Conv2d(in_channels, out_2, 1, stride=2, bias=False)
        self.skipbn = nn.BatchNorm2d(out_2)

    def forward(self, x):
        out = self.rep(x)
        out_2 = self.skip(x)
        out_2 = self.skipbn(out_2)
        out = out.add_(out_2)
        return out


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.rep = nn.Sequential(
            nn.ReLU(),
            Separable(728, 728),
            nn.BatchNorm2d(728),
            nn.ReLU(inplace=True),
            Separable(728, 728),
            nn.BatchNorm2d(728),
            nn.ReLU(inplace=True),
            Separable(728, 728),
            nn.BatchNorm2d(728),
        )

    def forward(self, x):
        out = self.rep(x)  # N x 728 x 19 x 19
        out = out.add_(x)  # N x 728 x 19 x 19
        return out


class Xception(nn.Module):
    (
        "Xception (Chollet, 2017) as timm's legacy_xception builds it: depthwise separable "
        'convolutions (3x3 depthwise, then 1x1 pointwise, no bias between them) in residual blocks; '
        'an entry flow of three strided blocks, a middle flow of eight 728-wide blocks, an exit '
        'flow block and two separable convs, then global pooling and a linear classifier.'
    )

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.act2 = nn.ReLU(inplace=True)
        self.block1 = BlockWithSkipSkipbn()
        self.block2 = BlockWithSkipSkipbn_2(128, 256, 256)
        self.block3 = BlockWithSkipSkipbn_2(256, 728, 728)
        self.block4 = Block()
        self.block5 = Block()
        self.block6 = Block()
        self.block7 = Block()
        self.block8 = Block()
        self.block9 = Block()
        self.block10 = Block()
        self.block11 = Block()
        self.block12 = BlockWithSkipSkipbn_2(728, 728, 1024)
        self.conv3 = Separable(1024, 1536)
        self.bn3 = nn.BatchNorm2d(1536)
        self.act3 = nn.ReLU(inplace=True)
        self.conv4 = Separable(1536, 2048)
        self.bn4 = nn.BatchNorm2d(2048)
        self.act4 = nn.ReLU(inplace=True)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 7,
            'this network takes input height H >= 7 (`conv2` (a conv2d))',
        )
        torch._assert(
            x.shape[3] >= 7,
            'this network takes input width W >= 7 (`conv2` (a conv2d))',
        )
        x = self.conv1(x)  # N x 32 x 149 x 149
        x = self.bn1(x)  # N x 32 x 149 x 149
        x = self.act1(x)  # N x 32 x 149 x 149
        x = self.conv2(x)  # N x 64 x 147 x 147
        x = self.bn2(x)  # N x 64 x 147 x 147
        x = self.act2(x)  # N x 64 x 147 x 147
        x = self.block1(x)  # N x 128 x 74 x 74
        x = self.block2(x)  # N x 256 x 37 x 37
        x = self.block3(x)  # N x 728 x 19 x 19
        x = self.block4(x)  # N x 728 x 19 x 19
        x = self.block5(x)  # N x 728 x 19 x 19
        x = self.block6(x)  # N x 728 x 19 x 19
        x = self.block7(x)  # N x 728 x 19 x 19
        x = self.block8(x)  # N x 728 x 19 x 19
        x = self.block9(x)  # N x 728 x 19 x 19
        x = self.block10(x)  # N x 728 x 19 x 19
        x = self.block11(x)  # N x 728 x 19 x 19
        x = self.block12(x)  # N x 1024 x 10 x 10
        x = self.conv3(x)  # N x 1536 x 10 x 10
        x = self.bn3(x)  # N x 1536 x 10 x 10
        x = self.act3(x)  # N x 1536 x 10 x 10
        x = self.conv4(x)  # N x 2048 x 10 x 10
        x = self.bn4(x)  # N x 2048 x 10 x 10
        x = self.act4(x)  # N x 2048 x 10 x 10
        x = self.global_pool(x)  # N x 2048 x 1 x 1
        x = torch.flatten(x, 1)  # N x 2048
        x = self.fc(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    None: (Xception, {}),
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


def create(variant=None, **params) -> Xception:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create(None)`."""
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




def xception(**params) -> Xception:
    return create(None, **params)
