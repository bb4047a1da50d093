(
    'convnext, variants tiny, small, base: written by `archc emit` from convnext.yaml. Edit the '
    'spec, not this file.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'tiny'


def learnable_tensor(shape: tuple[int, ...], init: str = "zeros", scale: float = 1.0) -> nn.Parameter:
    """A learnable tensor a block holds under the node's name (timm's `cls_token`, `gamma`).

    `init`: "zeros", "ones", "constant" (every value `scale`), "normal" (std `scale`) or
    "trunc_normal" (std `scale`, cut at -2 and 2, as timm's trunc_normal_).
    """
    data = torch.zeros(shape)
    with torch.no_grad():
        if init == "ones":
            data.fill_(1.0)
        elif init == "constant":
            data.fill_(scale)
        elif init == "normal":
            data.normal_(0.0, scale)
        elif init == "trunc_normal":
            nn.init.trunc_normal_(data, 0.0, scale, -2.0, 2.0)
    return nn.Parameter(data)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map, as ConvNeXt's (timm's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvnextBlock(nn.Module):
    def __init__(self, dim, gamma_arg0, ls_init):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-06)
        self.mlp = nn.Sequential(OrderedDict([
            ('fc1', nn.Linear(dim, 4 * dim)),
            ('1', nn.GELU()),
            ('fc2', nn.Linear(4 * dim, dim)),
        ]))
        self.gamma = learnable_tensor(gamma_arg0, 'constant', ls_init)

    def forward(self, x):
        out = self.conv_dw(x)
        out = out.permute(0, 2, 3, 1)
        out = self.norm(out)
        out = self.mlp(out)
        out = out.permute(0, 3, 1, 2)
        out = out.mul(self.gamma.reshape(-1, 1, 1))
        out = out.add_(x)
        return out


class Stage(nn.Module):
    def __init__(self, dim, depth, first, gamma_arg0, ls_init, in_channels=96):
        super().__init__()
        if not first:
            self.downsample = nn.Sequential(
                LayerNorm2d(in_channels, eps=1e-06),
                nn.Conv2d(in_channels, dim, 2, stride=2),
            )
        else:
            self.downsample = None
        self.blocks = nn.Sequential(*[ConvnextBlock(dim, gamma_arg0, ls_init) for _ in range(depth)])

    def forward(self, x):
        if self.downsample is not None:
            x = self.downsample(x)
        x = self.blocks(x)
        return x


class Convnext(nn.Module):
    (
        'ConvNeXt (Liu et al., 2022) as timm builds it: a 4x4/4 patchify stem, four stages of '
        'blocks (7x7 depthwise conv, LayerNorm and a GELU MLP in channels-last layout, a learned '
        'per-channel scale, residual), LayerNorm + 2x2/2 conv between stages, and a LayerNorm '
        'head.'
    )

    def __init__(
        self,
        out_channels=96,
        gamma_arg0=(96,),
        ls_init=1e-06,
        dim=192,
        gamma_arg0_2=(192,),
        dim_2=384,
        depth=9,
        gamma_arg0_3=(384,),
        dim_3=768,
        gamma_arg0_4=(768,),
        num_classes=1000,
    ):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, out_channels, 4, stride=4), LayerNorm2d(out_channels, eps=1e-06))
        self.stages = nn.Sequential(
            Stage(out_channels, 3, True, gamma_arg0, ls_init),
            Stage(dim, 3, False, gamma_arg0_2, ls_init, in_channels=out_channels),
            Stage(dim_2, depth, False, gamma_arg0_3, ls_init, in_channels=dim),
            Stage(dim_3, 3, False, gamma_arg0_4, ls_init, in_channels=dim_2),
        )
        self.head = nn.Sequential(OrderedDict([
            ('global_pool', nn.AdaptiveAvgPool2d(1)),
            ('norm', LayerNorm2d(dim_3, eps=1e-06)),
            ('2', nn.Flatten()),
            ('fc', nn.Linear(dim_3, num_classes)),
        ]))

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 32,
            'this network takes input height H >= 32 (`stages.3.downsample.1` (a conv2d))',
        )
        torch._assert(
            x.shape[3] >= 32,
            'this network takes input width W >= 32 (`stages.3.downsample.1` (a conv2d))',
        )
        x = self.stem(x)
        x = self.stages(x)
        x = self.head(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'tiny': (Convnext, {}),
    'small': (Convnext, {'depth': 27}),
    'base': (Convnext, {'out_channels': 128, 'gamma_arg0': (128,), 'dim': 256, 'gamma_arg0_2': (256,),
        'dim_2': 512, 'depth': 27, 'gamma_arg0_3': (512,), 'dim_3': 1024, 'gamma_arg0_4': (1024,)}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('ls_init', 'num_classes')

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('bias', 'zeros_', {}, 'Conv2d'),
    ('bias', 'zeros_', {}, 'Linear'),
    ('weight', 'trunc_normal_', {'mean': 0.0, 'std': 0.02, 'a': -2.0, 'b': 2.0}, 'Conv2d'),
    ('weight', 'trunc_normal_', {'mean': 0.0, 'std': 0.02, 'a': -2.0, 'b': 2.0}, 'Linear'),
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


def create(variant=None, **params) -> Convnext:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('tiny')`."""
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




def convnext_tiny(**params) -> Convnext:
    return create('tiny', **params)


def convnext_small(**params) -> Convnext:
    return create('small', **params)


def convnext_base(**params) -> Convnext:
    return create('base', **params)
