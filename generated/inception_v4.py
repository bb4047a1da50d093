(
    'inception_v4, variants v4, resnet_v2: written by `archc emit` from inception_v4.yaml. Edit '
    'the spec, not this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'v4'


class ConvBn(nn.Module):
    def __init__(self, in_channels, out, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out, eps=0.001)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        x = torch.relu_(x)
        return x


class Mixed3a(nn.Module):
    def __init__(self):
        super().__init__()
        self.maxpool = nn.MaxPool2d(3, stride=2)
        self.conv = ConvBn(64, 96, 3, stride=2)

    def forward(self, x):
        out = self.maxpool(x)  # N x 64 x 73 x 73
        conv = self.conv(x)  # N x 96 x 73 x 73
        out = torch.cat([out, conv], 1)  # N x 160 x 73 x 73
        return out


class Mixed4a(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = nn.Sequential(ConvBn(160, 64, 1), ConvBn(64, 96, 3))
        self.branch1 = nn.Sequential(
            ConvBn(160, 64, 1),
            ConvBn(64, 64, (1, 7), padding=(0, 3)),
            ConvBn(64, 64, (7, 1), padding=(3, 0)),
            ConvBn(64, 96, 3),
        )

    def forward(self, x):
        out = self.branch0(x)  # N x 96 x 71 x 71
        branch1 = self.branch1(x)  # N x 96 x 71 x 71
        out = torch.cat([out, branch1], 1)  # N x 192 x 71 x 71
        return out


class Mixed5a(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = ConvBn(192, 192, 3, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        out = self.conv(x)  # N x 192 x 35 x 35
        maxpool = self.maxpool(x)  # N x 192 x 35 x 35
        out = torch.cat([out, maxpool], 1)  # N x 384 x 35 x 35
        return out


class InceptionA(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = ConvBn(384, 96, 1)
        self.branch1 = nn.Sequential(ConvBn(384, 64, 1), ConvBn(64, 96, 3, padding=1))
        self.branch2 = nn.Sequential(ConvBn(384, 64, 1), ConvBn(64, 96, 3, padding=1), ConvBn(96, 96, 3, padding=1))
        self.branch3 = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), ConvBn(384, 96, 1))

    def forward(self, x):
        out = self.branch0(x)  # N x 96 x 35 x 35
        branch1 = self.branch1(x)  # N x 96 x 35 x 35
        branch2 = self.branch2(x)  # N x 96 x 35 x 35
        branch3 = self.branch3(x)  # N x 96 x 35 x 35
        out = torch.cat([out, branch1, branch2, branch3], 1)  # N x 384 x 35 x 35
        return out


class ReductionA(nn.Module):
    def __init__(self, in_channels, k, l, m):
        super().__init__()
        self.branch0 = ConvBn(in_channels, 384, 3, stride=2)
        self.branch1 = nn.Sequential(ConvBn(in_channels, k, 1), ConvBn(k, l, 3, padding=1), ConvBn(l, m, 3, stride=2))
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        out = self.branch0(x)  # N x 384 x 17 x 17
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)
        out = torch.cat([out, branch1, branch2], 1)
        return out


class InceptionB(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = ConvBn(1024, 384, 1)
        self.branch1 = nn.Sequential(
            ConvBn(1024, 192, 1),
            ConvBn(192, 224, (1, 7), padding=(0, 3)),
            ConvBn(224, 256, (7, 1), padding=(3, 0)),
        )
        self.branch2 = nn.Sequential(
            ConvBn(1024, 192, 1),
            ConvBn(192, 192, (7, 1), padding=(3, 0)),
            ConvBn(192, 224, (1, 7), padding=(0, 3)),
            ConvBn(224, 224, (7, 1), padding=(3, 0)),
            ConvBn(224, 256, (1, 7), padding=(0, 3)),
        )
        self.branch3 = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
            ConvBn(1024, 128, 1),
        )

    def forward(self, x):
        out = self.branch0(x)  # N x 384 x 17 x 17
        branch1 = self.branch1(x)  # N x 256 x 17 x 17
        branch2 = self.branch2(x)  # N x 256 x 17 x 17
        branch3 = self.branch3(x)  # N x 128 x 17 x 17
        out = torch.cat([out, branch1, branch2, branch3], 1)  # N x 1024 x 17 x 17
        return out


class ReductionB(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = nn.Sequential(ConvBn(1024, 192, 1), ConvBn(192, 192, 3, stride=2))
        self.branch1 = nn.Sequential(
            ConvBn(1024, 256, 1),
            ConvBn(256, 256, (1, 7), padding=(0, 3)),
            ConvBn(256, 320, (7, 1), padding=(3, 0)),
            ConvBn(320, 320, 3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        out = self.branch0(x)  # N x 192 x 8 x 8
        branch1 = self.branch1(x)  # N x 320 x 8 x 8
        branch2 = self.branch2(x)  # N x 1024 x 8 x 8
        out = torch.cat([out, branch1, branch2], 1)  # N x 1536 x 8 x 8
        return out


class InceptionC(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = ConvBn(1536, 256, 1)
        self.branch1_0 = ConvBn(1536, 384, 1)
        self.branch1_1a = ConvBn(384, 256, (1, 3), padding=(0, 1))
        self.branch1_1b = ConvBn(384, 256, (3, 1), padding=(1, 0))
        self.branch2_0 = ConvBn(1536, 384, 1)
        self.branch2_1 = ConvBn(384, 448, (3, 1), padding=(1, 0))
        self.branch2_2 = ConvBn(448, 512, (1, 3), padding=(0, 1))
        self.branch2_3a = ConvBn(512, 256, (1, 3), padding=(0, 1))
        self.branch2_3b = ConvBn(512, 256, (3, 1), padding=(1, 0))
        self.branch3 = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
            ConvBn(1536, 256, 1),
        )

    def forward(self, x):
        out = self.branch0(x)  # N x 256 x 8 x 8
        branch1_0 = self.branch1_0(x)  # N x 384 x 8 x 8
        branch1_1a = self.branch1_1a(branch1_0)  # N x 256 x 8 x 8
        branch1_1b = self.branch1_1b(branch1_0)  # N x 256 x 8 x 8
        out_2 = self.branch2_0(x)  # N x 384 x 8 x 8
        out_2 = self.branch2_1(out_2)  # N x 448 x 8 x 8
        out_2 = self.branch2_2(out_2)  # N x 512 x 8 x 8
        branch2_3a = self.branch2_3a(out_2)  # N x 256 x 8 x 8
        branch2_3b = self.branch2_3b(out_2)  # N x 256 x 8 x 8
        branch3 = self.branch3(x)  # N x 256 x 8 x 8
        out = torch.cat([out, branch1_1a, branch1_1b, branch2_3a, branch2_3b, branch3], 1)  # N x 1536 x 8 x 8
        return out


class Mixed5b(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = ConvBn(192, 96, 1)
        self.branch1 = nn.Sequential(ConvBn(192, 48, 1), ConvBn(48, 64, 5, padding=2))
        self.branch2 = nn.Sequential(ConvBn(192, 64, 1), ConvBn(64, 96, 3, padding=1), ConvBn(96, 96, 3, padding=1))
        self.branch3 = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), ConvBn(192, 64, 1))

    def forward(self, x):
        out = self.branch0(x)  # N x 96 x 35 x 35
        branch1 = self.branch1(x)  # N x 64 x 35 x 35
        branch2 = self.branch2(x)  # N x 96 x 35 x 35
        branch3 = self.branch3(x)  # N x 64 x 35 x 35
        out = torch.cat([out, branch1, branch2, branch3], 1)  # N x 320 x 35 x 35
        return out


class Block35(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = ConvBn(320, 32, 1)
        self.branch1 = nn.Sequential(ConvBn(320, 32, 1), ConvBn(32, 32, 3, padding=1))
        self.branch2 = nn.Sequential(ConvBn(320, 32, 1), ConvBn(32, 48, 3, padding=1), ConvBn(48, 64, 3, padding=1))
        self.conv2d = nn.Conv2d(128, 320, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.branch0(x)  # N x 32 x 35 x 35
        branch1 = self.branch1(x)  # N x 32 x 35 x 35
        branch2 = self.branch2(x)  # N x 64 x 35 x 35
        out = torch.cat([out, branch1, branch2], 1)  # N x 128 x 35 x 35
        out = self.conv2d(out)  # N x 320 x 35 x 35
        out = out * 0.17  # N x 320 x 35 x 35
        out = out.add_(x)  # N x 320 x 35 x 35
        out = self.act(out)  # N x 320 x 35 x 35
        return out


class Block17(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = ConvBn(1088, 192, 1)
        self.branch1 = nn.Sequential(
            ConvBn(1088, 128, 1),
            ConvBn(128, 160, (1, 7), padding=(0, 3)),
            ConvBn(160, 192, (7, 1), padding=(3, 0)),
        )
        self.conv2d = nn.Conv2d(384, 1088, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.branch0(x)  # N x 192 x 17 x 17
        branch1 = self.branch1(x)  # N x 192 x 17 x 17
        out = torch.cat([out, branch1], 1)  # N x 384 x 17 x 17
        out = self.conv2d(out)  # N x 1088 x 17 x 17
        out = out * 0.1  # N x 1088 x 17 x 17
        out = out.add_(x)  # N x 1088 x 17 x 17
        out = self.act(out)  # N x 1088 x 17 x 17
        return out


class Mixed7a(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = nn.Sequential(ConvBn(1088, 256, 1), ConvBn(256, 384, 3, stride=2))
        self.branch1 = nn.Sequential(ConvBn(1088, 256, 1), ConvBn(256, 288, 3, stride=2))
        self.branch2 = nn.Sequential(
            ConvBn(1088, 256, 1),
            ConvBn(256, 288, 3, padding=1),
            ConvBn(288, 320, 3, stride=2),
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        out = self.branch0(x)  # N x 384 x 8 x 8
        branch1 = self.branch1(x)  # N x 288 x 8 x 8
        branch2 = self.branch2(x)  # N x 320 x 8 x 8
        branch3 = self.branch3(x)  # N x 1088 x 8 x 8
        out = torch.cat([out, branch1, branch2, branch3], 1)  # N x 2080 x 8 x 8
        return out


class Block8(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = ConvBn(2080, 192, 1)
        self.branch1 = nn.Sequential(
            ConvBn(2080, 192, 1),
            ConvBn(192, 224, (1, 3), padding=(0, 1)),
            ConvBn(224, 256, (3, 1), padding=(1, 0)),
        )
        self.conv2d = nn.Conv2d(448, 2080, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.branch0(x)  # N x 192 x 8 x 8
        branch1 = self.branch1(x)  # N x 256 x 8 x 8
        out = torch.cat([out, branch1], 1)  # N x 448 x 8 x 8
        out = self.conv2d(out)  # N x 2080 x 8 x 8
        out = out * 0.2  # N x 2080 x 8 x 8
        out = out.add_(x)  # N x 2080 x 8 x 8
        out = self.relu(out)  # N x 2080 x 8 x 8
        return out


class Block8WithoutRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch0 = ConvBn(2080, 192, 1)
        self.branch1 = nn.Sequential(
            ConvBn(2080, 192, 1),
            ConvBn(192, 224, (1, 3), padding=(0, 1)),
            ConvBn(224, 256, (3, 1), padding=(1, 0)),
        )
        self.conv2d = nn.Conv2d(448, 2080, 1)

    def forward(self, x):
        out = self.branch0(x)  # N x 192 x 8 x 8
        branch1 = self.branch1(x)  # N x 256 x 8 x 8
        out = torch.cat([out, branch1], 1)  # N x 448 x 8 x 8
        out = self.conv2d(out)  # N x 2080 x 8 x 8
        out = out * 1.0  # N x 2080 x 8 x 8
        out = out.add_(x)  # N x 2080 x 8 x 8
        return out


class InceptionV4(nn.Module):
    (
        'Inception-v4 and Inception-ResNet-v2 (Szegedy et al., 2016) as timm builds them '
        '(inception_v4, inception_resnet_v2): every conv is conv (no bias) + batch norm (eps 0.001) '
        "+ ReLU. `v4`: the paper's stem (Figure 3: mixed_3a, 4a, 5a), 4 x Inception-A, Reduction-A, "
        "7 x Inception-B, Reduction-B, 3 x Inception-C (Figures 4-8). `resnet_v2`: TF-slim's stem "
        '(conv2d_1a .. maxpool_5a, mixed_5b), 10 x Inception-ResNet-A, Reduction-A, 20 x '
        'Inception-ResNet-B, Reduction-B, 10 x Inception-ResNet-C (Figures 16-19), each residual '
        'branch projected back by a 1x1 conv with bias, scaled (0.17, 0.1, 0.2; the last block 1.0 '
        "and no ReLU) and added to the block's input; then a 1x1 conv to 1536. Both end in global "
        'average pooling and a linear classifier; average-pool branches do not count the padding.'
    )

    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            ConvBn(3, 32, 3, stride=2),
            ConvBn(32, 32, 3),
            ConvBn(32, 64, 3, padding=1),
            Mixed3a(),
            Mixed4a(),
            Mixed5a(),
            *[InceptionA() for _ in range(4)],
            ReductionA(384, 192, 224, 256),
            *[InceptionB() for _ in range(7)],
            ReductionB(),
            *[InceptionC() for _ in range(3)],
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.last_linear = nn.Linear(1536, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 75,
            'this network takes input height H >= 75 (`features.18.branch0.1.conv` (a '
            'conv2d))',
        )
        torch._assert(
            x.shape[3] >= 75,
            'this network takes input width W >= 75 (`features.18.branch0.1.conv` (a conv2d))',
        )
        x = self.features(x)  # N x 1536 x 8 x 8
        x = self.global_pool(x)  # N x 1536 x 1 x 1
        x = torch.flatten(x, 1)  # N x 1536
        x = self.last_linear(x)  # N x 1000
        return x


class InceptionV4ResnetV2(nn.Module):
    'The network of variant resnet_v2.'

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv2d_1a = ConvBn(3, 32, 3, stride=2)
        self.conv2d_2a = ConvBn(32, 32, 3)
        self.conv2d_2b = ConvBn(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = ConvBn(64, 80, 1)
        self.conv2d_4a = ConvBn(80, 192, 3)
        self.maxpool_5a = nn.MaxPool2d(3, stride=2)
        self.mixed_5b = Mixed5b()
        self.repeat = nn.Sequential(*[Block35() for _ in range(10)])
        self.mixed_6a = ReductionA(320, 256, 256, 384)
        self.repeat_1 = nn.Sequential(*[Block17() for _ in range(20)])
        self.mixed_7a = Mixed7a()
        self.repeat_2 = nn.Sequential(*[Block8() for _ in range(9)])
        self.block8 = Block8WithoutRelu()
        self.conv2d_7b = ConvBn(2080, 1536, 1)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classif = nn.Linear(1536, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 75,
            'this network takes input height H >= 75 (`mixed_7a.branch0.1.conv` (a conv2d))',
        )
        torch._assert(
            x.shape[3] >= 75,
            'this network takes input width W >= 75 (`mixed_7a.branch0.1.conv` (a conv2d))',
        )
        x = self.conv2d_1a(x)  # N x 32 x 149 x 149
        x = self.conv2d_2a(x)  # N x 32 x 147 x 147
        x = self.conv2d_2b(x)  # N x 64 x 147 x 147
        x = self.maxpool_3a(x)  # N x 64 x 73 x 73
        x = self.conv2d_3b(x)  # N x 80 x 73 x 73
        x = self.conv2d_4a(x)  # N x 192 x 71 x 71
        x = self.maxpool_5a(x)  # N x 192 x 35 x 35
        x = self.mixed_5b(x)  # N x 320 x 35 x 35
        x = self.repeat(x)  # N x 320 x 35 x 35
        x = self.mixed_6a(x)  # N x 1088 x 17 x 17
        x = self.repeat_1(x)  # N x 1088 x 17 x 17
        x = self.mixed_7a(x)  # N x 2080 x 8 x 8
        x = self.repeat_2(x)  # N x 2080 x 8 x 8
        x = self.block8(x)  # N x 2080 x 8 x 8
        x = self.conv2d_7b(x)  # N x 1536 x 8 x 8
        x = self.global_pool(x)  # N x 1536 x 1 x 1
        x = torch.flatten(x, 1)  # N x 1536
        x = self.classif(x)  # N x 1000
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'v4': (InceptionV4, {}),
    'resnet_v2': (InceptionV4ResnetV2, {}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('num_classes',)

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
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
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('v4')`."""
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




def inception_v4_v4(**params) -> nn.Module:
    return create('v4', **params)


def inception_v4_resnet_v2(**params) -> nn.Module:
    return create('resnet_v2', **params)
