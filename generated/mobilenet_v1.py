(
    'mobilenet_v1, variants 100, 075, 050, 025: written by `archc emit` from mobilenet_v1.yaml. '
    'Edit the spec, not this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '100'


def make_divisible(v, divisor=8, min_value=None):
    """torchvision's _make_divisible: v rounded to a multiple of divisor, never down by over 10%."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class DwSeparable(nn.Module):
    def __init__(self, in_channels, out, stride=1, alpha=1.0):
        super().__init__()
        conv_pw_out_channels = make_divisible(out * alpha)
        self.conv_dw = nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU6(inplace=True)
        self.conv_pw = nn.Conv2d(in_channels, conv_pw_out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(conv_pw_out_channels)
        self.act2 = nn.ReLU6(inplace=True)

    def forward(self, x):
        x = self.conv_dw(x)
        x = self.bn1(x)
        x = self.act1(x)
        x = self.conv_pw(x)
        x = self.bn2(x)
        x = self.act2(x)
        return x


class Stage_2(nn.Sequential):
    def __init__(self, in_channels, alpha):
        super().__init__(DwSeparable(in_channels, 64, alpha=alpha))


class Stage(nn.Sequential):
    def __init__(self, in_channels, out, alpha, in_channels_2):
        super().__init__(
            DwSeparable(in_channels, out, stride=2, alpha=alpha),
            DwSeparable(in_channels_2, out, alpha=alpha),
        )


class Stage_3(nn.Sequential):
    def __init__(self, in_channels, alpha, in_channels_2):
        super().__init__(
            DwSeparable(in_channels, 512, stride=2, alpha=alpha),
            *[DwSeparable(in_channels_2, 512, alpha=alpha) for _ in range(5)],
        )


class MobilenetV1(nn.Module):
    (
        'MobileNet (Howard et al., 2017) as timm builds it (mobilenetv1_100): a 3x3 stride-2 conv, '
        'then depthwise separable convs (3x3 depthwise, 1x1 pointwise, each with batch norm and '
        "ReLU6) as in the paper's Table 1, global pooling and a linear classifier. alpha is the "
        'width multiplier (widths rounded to multiples of 8, as timm does); resolution is the input '
        "size, the paper's resolution multiplier times 224."
    )

    def __init__(
        self,
        in_channels=64,
        conv_stem_out_channels=32,
        alpha=1.0,
        in_channels_2=128,
        in_channels_2_2=256,
        in_channels_2_3=512,
        in_channels_2_4=1024,
        num_classes=1000,
    ):
        super().__init__()
        self.conv_stem = nn.Conv2d(3, conv_stem_out_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(conv_stem_out_channels)
        self.act1 = nn.ReLU6(inplace=True)
        self.blocks = nn.Sequential(
            Stage_2(conv_stem_out_channels, alpha),
            Stage(in_channels, 128, alpha, in_channels_2),
            Stage(in_channels_2, 256, alpha, in_channels_2_2),
            Stage_3(in_channels_2_2, alpha, in_channels_2_3),
            Stage(in_channels_2_3, 1024, alpha, in_channels_2_4),
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_channels_2_4, num_classes)

    def forward(self, x):
        x = self.conv_stem(x)
        x = self.bn1(x)
        x = self.act1(x)
        x = self.blocks(x)
        x = self.global_pool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    '100': (MobilenetV1, {}),
    '075': (MobilenetV1, {'in_channels': 48, 'conv_stem_out_channels': 24, 'alpha': 0.75, 'in_channels_2': 96,
        'in_channels_2_2': 192, 'in_channels_2_3': 384, 'in_channels_2_4': 768}),
    '050': (MobilenetV1, {'in_channels': 32, 'conv_stem_out_channels': 16, 'alpha': 0.5, 'in_channels_2': 64,
        'in_channels_2_2': 128, 'in_channels_2_3': 256, 'in_channels_2_4': 512}),
    '025': (MobilenetV1, {'in_channels': 16, 'conv_stem_out_channels': 8, 'alpha': 0.25, 'in_channels_2': 32,
        'in_channels_2_2': 64, 'in_channels_2_3': 128, 'in_channels_2_4': 256}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('num_classes',)

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'normal_', {'mean': 0, 'std': 0.08333333333333333}, ('conv_stem',)),
    ('weight', 'normal_', {'mean': 0, 'std': 0.4714045207910317}, ('blocks.0.0.conv_dw', 'blocks.1.0.conv_dw',
        'blocks.1.1.conv_dw', 'blocks.2.0.conv_dw', 'blocks.2.1.conv_dw', 'blocks.3.0.conv_dw', 'blocks.3.1.conv_dw',
        'blocks.3.2.conv_dw', 'blocks.3.3.conv_dw', 'blocks.3.4.conv_dw', 'blocks.3.5.conv_dw', 'blocks.4.0.conv_dw',
        'blocks.4.1.conv_dw')),
    ('weight', 'normal_', {'mean': 0, 'std': 0.1767766952966369}, ('blocks.0.0.conv_pw',)),
    ('weight', 'normal_', {'mean': 0, 'std': 0.125}, ('blocks.1.0.conv_pw', 'blocks.1.1.conv_pw')),
    ('weight', 'normal_', {'mean': 0, 'std': 0.08838834764831845}, ('blocks.2.0.conv_pw', 'blocks.2.1.conv_pw')),
    ('weight', 'normal_', {'mean': 0, 'std': 0.0625}, ('blocks.3.0.conv_pw', 'blocks.3.1.conv_pw',
        'blocks.3.2.conv_pw', 'blocks.3.3.conv_pw', 'blocks.3.4.conv_pw', 'blocks.3.5.conv_pw')),
    ('weight', 'normal_', {'mean': 0, 'std': 0.04419417382415922}, ('blocks.4.0.conv_pw', 'blocks.4.1.conv_pw')),
    ('bias', 'zeros_', {}, 'BatchNorm2d'),
    ('bias', 'zeros_', {}, 'Linear'),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
    ('weight', 'uniform_', {'a': -0.03162277660168379, 'b': 0.03162277660168379}, 'Linear'),
)
# The variants whose init rules give other arguments (computed from their params).
VARIANT_INIT = {
    '075': (
        ('weight', 'normal_', {'mean': 0, 'std': 0.09622504486493763}, ('conv_stem',)),
        ('weight', 'normal_', {'mean': 0, 'std': 0.4714045207910317}, ('blocks.0.0.conv_dw', 'blocks.1.0.conv_dw',
        'blocks.1.1.conv_dw', 'blocks.2.0.conv_dw', 'blocks.2.1.conv_dw', 'blocks.3.0.conv_dw', 'blocks.3.1.conv_dw',
        'blocks.3.2.conv_dw', 'blocks.3.3.conv_dw', 'blocks.3.4.conv_dw', 'blocks.3.5.conv_dw', 'blocks.4.0.conv_dw',
        'blocks.4.1.conv_dw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.2041241452319315}, ('blocks.0.0.conv_pw',)),
        ('weight', 'normal_', {'mean': 0, 'std': 0.14433756729740643}, ('blocks.1.0.conv_pw', 'blocks.1.1.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.10206207261596575}, ('blocks.2.0.conv_pw', 'blocks.2.1.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.07216878364870322}, ('blocks.3.0.conv_pw', 'blocks.3.1.conv_pw',
        'blocks.3.2.conv_pw', 'blocks.3.3.conv_pw', 'blocks.3.4.conv_pw', 'blocks.3.5.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.05103103630798288}, ('blocks.4.0.conv_pw', 'blocks.4.1.conv_pw')),
        ('bias', 'zeros_', {}, 'BatchNorm2d'),
        ('bias', 'zeros_', {}, 'Linear'),
        ('weight', 'ones_', {}, 'BatchNorm2d'),
        ('weight', 'uniform_', {'a': -0.03162277660168379, 'b': 0.03162277660168379}, 'Linear'),
    ),
    '050': (
        ('weight', 'normal_', {'mean': 0, 'std': 0.11785113019775792}, ('conv_stem',)),
        ('weight', 'normal_', {'mean': 0, 'std': 0.4714045207910317}, ('blocks.0.0.conv_dw', 'blocks.1.0.conv_dw',
        'blocks.1.1.conv_dw', 'blocks.2.0.conv_dw', 'blocks.2.1.conv_dw', 'blocks.3.0.conv_dw', 'blocks.3.1.conv_dw',
        'blocks.3.2.conv_dw', 'blocks.3.3.conv_dw', 'blocks.3.4.conv_dw', 'blocks.3.5.conv_dw', 'blocks.4.0.conv_dw',
        'blocks.4.1.conv_dw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.25}, ('blocks.0.0.conv_pw',)),
        ('weight', 'normal_', {'mean': 0, 'std': 0.1767766952966369}, ('blocks.1.0.conv_pw', 'blocks.1.1.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.125}, ('blocks.2.0.conv_pw', 'blocks.2.1.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.08838834764831845}, ('blocks.3.0.conv_pw', 'blocks.3.1.conv_pw',
        'blocks.3.2.conv_pw', 'blocks.3.3.conv_pw', 'blocks.3.4.conv_pw', 'blocks.3.5.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.0625}, ('blocks.4.0.conv_pw', 'blocks.4.1.conv_pw')),
        ('bias', 'zeros_', {}, 'BatchNorm2d'),
        ('bias', 'zeros_', {}, 'Linear'),
        ('weight', 'ones_', {}, 'BatchNorm2d'),
        ('weight', 'uniform_', {'a': -0.03162277660168379, 'b': 0.03162277660168379}, 'Linear'),
    ),
    '025': (
        ('weight', 'normal_', {'mean': 0, 'std': 0.16666666666666666}, ('conv_stem',)),
        ('weight', 'normal_', {'mean': 0, 'std': 0.4714045207910317}, ('blocks.0.0.conv_dw', 'blocks.1.0.conv_dw',
        'blocks.1.1.conv_dw', 'blocks.2.0.conv_dw', 'blocks.2.1.conv_dw', 'blocks.3.0.conv_dw', 'blocks.3.1.conv_dw',
        'blocks.3.2.conv_dw', 'blocks.3.3.conv_dw', 'blocks.3.4.conv_dw', 'blocks.3.5.conv_dw', 'blocks.4.0.conv_dw',
        'blocks.4.1.conv_dw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.3535533905932738}, ('blocks.0.0.conv_pw',)),
        ('weight', 'normal_', {'mean': 0, 'std': 0.25}, ('blocks.1.0.conv_pw', 'blocks.1.1.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.1767766952966369}, ('blocks.2.0.conv_pw', 'blocks.2.1.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.125}, ('blocks.3.0.conv_pw', 'blocks.3.1.conv_pw',
        'blocks.3.2.conv_pw', 'blocks.3.3.conv_pw', 'blocks.3.4.conv_pw', 'blocks.3.5.conv_pw')),
        ('weight', 'normal_', {'mean': 0, 'std': 0.08838834764831845}, ('blocks.4.0.conv_pw', 'blocks.4.1.conv_pw')),
        ('bias', 'zeros_', {}, 'BatchNorm2d'),
        ('bias', 'zeros_', {}, 'Linear'),
        ('weight', 'ones_', {}, 'BatchNorm2d'),
        ('weight', 'uniform_', {'a': -0.03162277660168379, 'b': 0.03162277660168379}, 'Linear'),
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


def create(variant=None, **params) -> MobilenetV1:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('100')`."""
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




def mobilenet_v1_100(**params) -> MobilenetV1:
    return create('100', **params)


def mobilenet_v1_075(**params) -> MobilenetV1:
    return create('075', **params)


def mobilenet_v1_050(**params) -> MobilenetV1:
    return create('050', **params)


def mobilenet_v1_025(**params) -> MobilenetV1:
    return create('025', **params)
