(
    'googlenet, variants torchvision, paper: written by `archc emit` from googlenet.yaml. Edit '
    'the spec, not this file.'
)
from typing import NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

VARIANT = 'torchvision'


class GooglenetOutputs(NamedTuple):
    logits: Tensor
    aux_logits2: Optional[Tensor]
    aux_logits1: Optional[Tensor]


class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out, eps=0.001)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        x = torch.relu_(x)
        return x


class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, branch3_kernel=3):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, 1),
            BasicConv2d(ch5x5red, ch5x5, branch3_kernel, padding=branch3_kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, 1),
        )

    def forward(self, x):
        out = self.branch1(x)
        branch2 = self.branch2(x)
        branch3 = self.branch3(x)
        branch4 = self.branch4(x)
        out = torch.cat([out, branch2, branch3, branch4], 1)
        return out


class InceptionAux(nn.Module):
    def __init__(self, in_channels, dropout_aux, num_classes):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, 1)
        self.fc1 = nn.Linear(2048, 1024)
        self.dropout = nn.Dropout(dropout_aux)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(x, (4, 4))
        x = self.conv(x)  # N x 128 x 4 x 4
        x = torch.flatten(x, 1)  # N x 2048
        x = self.fc1(x)  # N x 1024
        x = torch.relu_(x)  # N x 1024
        x = self.dropout(x)  # N x 1024
        x = self.fc2(x)  # N x 1000
        return x


class Googlenet(nn.Module):
    (
        'GoogLeNet / Inception v1 (Szegedy et al., 2014) as torchvision builds it: every conv is '
        'conv (no bias) + batch norm (eps 0.001) + relu, ceil-mode max pools, and two auxiliary '
        'classifiers after inception4a and inception4d that run only in training mode. Variant '
        "`paper` gives the third branch the paper's true 5x5 kernels (torchvision's are 3x3); the "
        'rest stays as torchvision builds it.'
    )

    def __init__(self, inception3a_branch3_kernel=3, dropout_aux=0.7, num_classes=1000, dropout=0.2):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, branch3_kernel=inception3a_branch3_kernel)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64, branch3_kernel=inception3a_branch3_kernel)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64, branch3_kernel=inception3a_branch3_kernel)
        self.aux1 = InceptionAux(512, dropout_aux, num_classes)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64, branch3_kernel=inception3a_branch3_kernel)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64, branch3_kernel=inception3a_branch3_kernel)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64, branch3_kernel=inception3a_branch3_kernel)
        self.aux2 = InceptionAux(528, dropout_aux, num_classes)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128, branch3_kernel=inception3a_branch3_kernel)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128, branch3_kernel=inception3a_branch3_kernel)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128, branch3_kernel=inception3a_branch3_kernel)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 15,
            'this network takes input height H >= 15 (`maxpool3` (a maxpool2d))',
        )
        torch._assert(
            x.shape[3] >= 15,
            'this network takes input width W >= 15 (`maxpool3` (a maxpool2d))',
        )
        x = self.conv1(x)  # N x 64 x 112 x 112
        x = self.maxpool1(x)  # N x 64 x 56 x 56
        x = self.conv2(x)  # N x 64 x 56 x 56
        x = self.conv3(x)  # N x 192 x 56 x 56
        x = self.maxpool2(x)  # N x 192 x 28 x 28
        x = self.inception3a(x)  # N x 256 x 28 x 28
        x = self.inception3b(x)  # N x 480 x 28 x 28
        x = self.maxpool3(x)  # N x 480 x 14 x 14
        x = self.inception4a(x)  # N x 512 x 14 x 14
        aux1: Optional[Tensor] = None
        if self.training:
            aux1 = self.aux1(x)  # N x 1000
        out = self.inception4b(x)  # N x 512 x 14 x 14
        out = self.inception4c(out)  # N x 512 x 14 x 14
        out = self.inception4d(out)  # N x 528 x 14 x 14
        aux2: Optional[Tensor] = None
        if self.training:
            aux2 = self.aux2(out)  # N x 1000
        out_2 = self.inception4e(out)  # N x 832 x 14 x 14
        out_2 = self.maxpool4(out_2)  # N x 832 x 7 x 7
        out_2 = self.inception5a(out_2)  # N x 832 x 7 x 7
        out_2 = self.inception5b(out_2)  # N x 1024 x 7 x 7
        out_2 = self.avgpool(out_2)  # N x 1024 x 1 x 1
        out_2 = torch.flatten(out_2, 1)  # N x 1024
        out_2 = self.dropout(out_2)  # N x 1024
        out_2 = self.fc(out_2)  # N x 1000
        if torch.jit.is_scripting():
            return GooglenetOutputs(logits=out_2, aux_logits2=aux2, aux_logits1=aux1)
        if not self.training:
            return out_2
        return GooglenetOutputs(logits=out_2, aux_logits2=aux2, aux_logits1=aux1)


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'torchvision': (Googlenet, {}),
    'paper': (Googlenet, {'inception3a_branch3_kernel': 5}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('dropout_aux', 'num_classes', 'dropout')

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'trunc_normal_', {'mean': 0.0, 'std': 0.01, 'a': -2, 'b': 2}, 'Conv2d'),
    ('weight', 'trunc_normal_', {'mean': 0.0, 'std': 0.01, 'a': -2, 'b': 2}, 'Linear'),
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


def create(variant=None, **params) -> Googlenet:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('torchvision')`."""
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




def googlenet_torchvision(**params) -> Googlenet:
    return create('torchvision', **params)


def googlenet_paper(**params) -> Googlenet:
    return create('paper', **params)
