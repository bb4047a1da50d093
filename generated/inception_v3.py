(
    'inception_v3: written by `archc emit` from inception_v3.yaml. Edit the spec, not this '
    'file.'
)
from typing import NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

VARIANT = None


class InceptionV3Outputs(NamedTuple):
    logits: Tensor
    aux_logits: Optional[Tensor]


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


class InceptionA(nn.Module):
    def __init__(self, in_channels, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x):
        out = self.branch1x1(x)  # N x 64 x 35 x 35
        out_2 = self.branch5x5_1(x)  # N x 48 x 35 x 35
        out_2 = self.branch5x5_2(out_2)  # N x 64 x 35 x 35
        out_3 = self.branch3x3dbl_1(x)  # N x 64 x 35 x 35
        out_3 = self.branch3x3dbl_2(out_3)  # N x 96 x 35 x 35
        out_3 = self.branch3x3dbl_3(out_3)  # N x 96 x 35 x 35
        out_4 = self.pool(x)
        out_4 = self.branch_pool(out_4)
        out = torch.cat([out, out_2, out_3, out_4], 1)
        return out


class InceptionB(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch3x3 = BasicConv2d(288, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(288, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        out = self.branch3x3(x)  # N x 384 x 17 x 17
        out_2 = self.branch3x3dbl_1(x)  # N x 64 x 35 x 35
        out_2 = self.branch3x3dbl_2(out_2)  # N x 96 x 35 x 35
        out_2 = self.branch3x3dbl_3(out_2)  # N x 96 x 17 x 17
        pool = self.pool(x)  # N x 288 x 17 x 17
        out = torch.cat([out, out_2, pool], 1)  # N x 768 x 17 x 17
        return out


class InceptionC(nn.Module):
    def __init__(self, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(768, 192, 1)
        self.branch7x7_1 = BasicConv2d(768, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(768, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = BasicConv2d(768, 192, 1)

    def forward(self, x):
        out = self.branch1x1(x)  # N x 192 x 17 x 17
        out_2 = self.branch7x7_1(x)
        out_2 = self.branch7x7_2(out_2)
        out_2 = self.branch7x7_3(out_2)  # N x 192 x 17 x 17
        out_3 = self.branch7x7dbl_1(x)
        out_3 = self.branch7x7dbl_2(out_3)
        out_3 = self.branch7x7dbl_3(out_3)
        out_3 = self.branch7x7dbl_4(out_3)
        out_3 = self.branch7x7dbl_5(out_3)  # N x 192 x 17 x 17
        out_4 = self.pool(x)  # N x 768 x 17 x 17
        out_4 = self.branch_pool(out_4)  # N x 192 x 17 x 17
        out = torch.cat([out, out_2, out_3, out_4], 1)  # N x 768 x 17 x 17
        return out


class InceptionAux(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv0 = BasicConv2d(768, 128, 1)
        self.conv1 = BasicConv2d(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        x = F.avg_pool2d(x, 5, stride=3)  # N x 768 x 5 x 5
        x = self.conv0(x)  # N x 128 x 5 x 5
        x = self.conv1(x)  # N x 768 x 1 x 1
        x = F.adaptive_avg_pool2d(x, (1, 1))  # N x 768 x 1 x 1
        x = torch.flatten(x, 1)  # N x 768
        x = self.fc(x)  # N x 1000
        return x


class InceptionD(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(768, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(768, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        out = self.branch3x3_1(x)  # N x 192 x 17 x 17
        out = self.branch3x3_2(out)  # N x 320 x 8 x 8
        out_2 = self.branch7x7x3_1(x)  # N x 192 x 17 x 17
        out_2 = self.branch7x7x3_2(out_2)  # N x 192 x 17 x 17
        out_2 = self.branch7x7x3_3(out_2)  # N x 192 x 17 x 17
        out_2 = self.branch7x7x3_4(out_2)  # N x 192 x 8 x 8
        pool = self.pool(x)  # N x 768 x 8 x 8
        out = torch.cat([out, out_2, pool], 1)  # N x 1280 x 8 x 8
        return out


class InceptionE(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x):
        out = self.branch1x1(x)  # N x 320 x 8 x 8
        branch3x3_1 = self.branch3x3_1(x)  # N x 384 x 8 x 8
        branch3x3_2a = self.branch3x3_2a(branch3x3_1)  # N x 384 x 8 x 8
        branch3x3_2b = self.branch3x3_2b(branch3x3_1)  # N x 384 x 8 x 8
        out_2 = self.branch3x3dbl_1(x)  # N x 448 x 8 x 8
        out_2 = self.branch3x3dbl_2(out_2)  # N x 384 x 8 x 8
        branch3x3dbl_3a = self.branch3x3dbl_3a(out_2)  # N x 384 x 8 x 8
        branch3x3dbl_3b = self.branch3x3dbl_3b(out_2)  # N x 384 x 8 x 8
        out_3 = self.pool(x)
        out_3 = self.branch_pool(out_3)  # N x 192 x 8 x 8
        out = torch.cat([out, branch3x3_2a, branch3x3_2b, branch3x3dbl_3a, branch3x3dbl_3b, out_3], 1)
        return out


class InceptionV3(nn.Module):
    (
        'Inception v3 (Szegedy et al., 2015) as torchvision builds it: every conv is conv (no bias) '
        '+ batch norm (eps 0.001) + relu; 35x35 modules with factorised 5x5s (Mixed_5*), 17x17 '
        'modules with 1x7/7x1 factorisations (Mixed_6*), 8x8 modules with expanded 1x3/3x1 filter '
        'banks (Mixed_7b, 7c), grid reductions in between, and an auxiliary classifier on Mixed_6e '
        'that runs only in training mode.'
    )

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB()
        self.Mixed_6b = InceptionC(128)
        self.Mixed_6c = InceptionC(160)
        self.Mixed_6d = InceptionC(160)
        self.Mixed_6e = InceptionC(192)
        self.AuxLogits = InceptionAux(num_classes)
        self.Mixed_7a = InceptionD()
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 75,
            'this network takes input height H >= 75 (`Mixed_7a.branch3x3_2.conv` (a conv2d))',
        )
        torch._assert(
            x.shape[3] >= 75,
            'this network takes input width W >= 75 (`Mixed_7a.branch3x3_2.conv` (a conv2d))',
        )
        if self.training:
            torch._assert(
                x.shape[2] >= 299,
                'this network takes input height H >= 299 (`AuxLogits.conv1.conv` (a conv2d)) in '
                'training',
            )
            torch._assert(
                x.shape[3] >= 299,
                'this network takes input width W >= 299 (`AuxLogits.conv1.conv` (a conv2d)) in '
                'training',
            )
        x = self.Conv2d_1a_3x3(x)  # N x 32 x 149 x 149
        x = self.Conv2d_2a_3x3(x)  # N x 32 x 147 x 147
        x = self.Conv2d_2b_3x3(x)  # N x 64 x 147 x 147
        x = self.maxpool1(x)  # N x 64 x 73 x 73
        x = self.Conv2d_3b_1x1(x)  # N x 80 x 73 x 73
        x = self.Conv2d_4a_3x3(x)  # N x 192 x 71 x 71
        x = self.maxpool2(x)  # N x 192 x 35 x 35
        x = self.Mixed_5b(x)  # N x 256 x 35 x 35
        x = self.Mixed_5c(x)  # N x 288 x 35 x 35
        x = self.Mixed_5d(x)  # N x 288 x 35 x 35
        x = self.Mixed_6a(x)  # N x 768 x 17 x 17
        x = self.Mixed_6b(x)  # N x 768 x 17 x 17
        x = self.Mixed_6c(x)  # N x 768 x 17 x 17
        x = self.Mixed_6d(x)  # N x 768 x 17 x 17
        x = self.Mixed_6e(x)  # N x 768 x 17 x 17
        AuxLogits: Optional[Tensor] = None
        if self.training:
            AuxLogits = self.AuxLogits(x)  # N x 1000
        out = self.Mixed_7a(x)  # N x 1280 x 8 x 8
        out = self.Mixed_7b(out)  # N x 2048 x 8 x 8
        out = self.Mixed_7c(out)  # N x 2048 x 8 x 8
        out = self.avgpool(out)  # N x 2048 x 1 x 1
        out = self.dropout(out)  # N x 2048 x 1 x 1
        out = torch.flatten(out, 1)  # N x 2048
        out = self.fc(out)  # N x 1000
        if torch.jit.is_scripting():
            return InceptionV3Outputs(logits=out, aux_logits=AuxLogits)
        if not self.training:
            return out
        return InceptionV3Outputs(logits=out, aux_logits=AuxLogits)


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    None: (InceptionV3, {}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('num_classes', 'dropout')

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'trunc_normal_', {'mean': 0.0, 'std': 0.1, 'a': -2, 'b': 2}, ('Conv2d_1a_3x3.conv',
        'Conv2d_2a_3x3.conv', 'Conv2d_2b_3x3.conv', 'Conv2d_3b_1x1.conv', 'Conv2d_4a_3x3.conv',
        'Mixed_5b.branch1x1.conv', 'Mixed_5b.branch5x5_1.conv', 'Mixed_5b.branch5x5_2.conv',
        'Mixed_5b.branch3x3dbl_1.conv', 'Mixed_5b.branch3x3dbl_2.conv', 'Mixed_5b.branch3x3dbl_3.conv',
        'Mixed_5b.branch_pool.conv', 'Mixed_5c.branch1x1.conv', 'Mixed_5c.branch5x5_1.conv',
        'Mixed_5c.branch5x5_2.conv', 'Mixed_5c.branch3x3dbl_1.conv', 'Mixed_5c.branch3x3dbl_2.conv',
        'Mixed_5c.branch3x3dbl_3.conv', 'Mixed_5c.branch_pool.conv', 'Mixed_5d.branch1x1.conv',
        'Mixed_5d.branch5x5_1.conv', 'Mixed_5d.branch5x5_2.conv', 'Mixed_5d.branch3x3dbl_1.conv',
        'Mixed_5d.branch3x3dbl_2.conv', 'Mixed_5d.branch3x3dbl_3.conv', 'Mixed_5d.branch_pool.conv',
        'Mixed_6a.branch3x3.conv', 'Mixed_6a.branch3x3dbl_1.conv', 'Mixed_6a.branch3x3dbl_2.conv',
        'Mixed_6a.branch3x3dbl_3.conv', 'Mixed_6b.branch1x1.conv', 'Mixed_6b.branch7x7_1.conv',
        'Mixed_6b.branch7x7_2.conv', 'Mixed_6b.branch7x7_3.conv', 'Mixed_6b.branch7x7dbl_1.conv',
        'Mixed_6b.branch7x7dbl_2.conv', 'Mixed_6b.branch7x7dbl_3.conv', 'Mixed_6b.branch7x7dbl_4.conv',
        'Mixed_6b.branch7x7dbl_5.conv', 'Mixed_6b.branch_pool.conv', 'Mixed_6c.branch1x1.conv',
        'Mixed_6c.branch7x7_1.conv', 'Mixed_6c.branch7x7_2.conv', 'Mixed_6c.branch7x7_3.conv',
        'Mixed_6c.branch7x7dbl_1.conv', 'Mixed_6c.branch7x7dbl_2.conv', 'Mixed_6c.branch7x7dbl_3.conv',
        'Mixed_6c.branch7x7dbl_4.conv', 'Mixed_6c.branch7x7dbl_5.conv', 'Mixed_6c.branch_pool.conv',
        'Mixed_6d.branch1x1.conv', 'Mixed_6d.branch7x7_1.conv', 'Mixed_6d.branch7x7_2.conv',
        'Mixed_6d.branch7x7_3.conv', 'Mixed_6d.branch7x7dbl_1.conv', 'Mixed_6d.branch7x7dbl_2.conv',
        'Mixed_6d.branch7x7dbl_3.conv', 'Mixed_6d.branch7x7dbl_4.conv', 'Mixed_6d.branch7x7dbl_5.conv',
        'Mixed_6d.branch_pool.conv', 'Mixed_6e.branch1x1.conv', 'Mixed_6e.branch7x7_1.conv',
        'Mixed_6e.branch7x7_2.conv', 'Mixed_6e.branch7x7_3.conv', 'Mixed_6e.branch7x7dbl_1.conv',
        'Mixed_6e.branch7x7dbl_2.conv', 'Mixed_6e.branch7x7dbl_3.conv', 'Mixed_6e.branch7x7dbl_4.conv',
        'Mixed_6e.branch7x7dbl_5.conv', 'Mixed_6e.branch_pool.conv', 'AuxLogits.conv0.conv',
        'Mixed_7a.branch3x3_1.conv', 'Mixed_7a.branch3x3_2.conv', 'Mixed_7a.branch7x7x3_1.conv',
        'Mixed_7a.branch7x7x3_2.conv', 'Mixed_7a.branch7x7x3_3.conv', 'Mixed_7a.branch7x7x3_4.conv',
        'Mixed_7b.branch1x1.conv', 'Mixed_7b.branch3x3_1.conv', 'Mixed_7b.branch3x3_2a.conv',
        'Mixed_7b.branch3x3_2b.conv', 'Mixed_7b.branch3x3dbl_1.conv', 'Mixed_7b.branch3x3dbl_2.conv',
        'Mixed_7b.branch3x3dbl_3a.conv', 'Mixed_7b.branch3x3dbl_3b.conv', 'Mixed_7b.branch_pool.conv',
        'Mixed_7c.branch1x1.conv', 'Mixed_7c.branch3x3_1.conv', 'Mixed_7c.branch3x3_2a.conv',
        'Mixed_7c.branch3x3_2b.conv', 'Mixed_7c.branch3x3dbl_1.conv', 'Mixed_7c.branch3x3dbl_2.conv',
        'Mixed_7c.branch3x3dbl_3a.conv', 'Mixed_7c.branch3x3dbl_3b.conv', 'Mixed_7c.branch_pool.conv', 'fc')),
    ('weight', 'trunc_normal_', {'mean': 0.0, 'std': 0.01, 'a': -2, 'b': 2}, ('AuxLogits.conv1.conv',)),
    ('weight', 'trunc_normal_', {'mean': 0.0, 'std': 0.001, 'a': -2, 'b': 2}, ('AuxLogits.fc',)),
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


def create(variant=None, **params) -> InceptionV3:
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




def inception_v3(**params) -> InceptionV3:
    return create(None, **params)
