(
    'lenet5, variants classic, mnist, paper: written by `archc emit` from lenet5.yaml. Edit the '
    'spec, not this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'classic'


class TrainableSubsample(nn.Module):
    """LeNet-5's S2/S4: sum over each window, times a trainable coefficient, plus a bias, per map."""

    def __init__(self, channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = F.avg_pool2d(x, self.kernel, self.stride, divisor_override=1)
        return total * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class TableConv2d(nn.Module):
    """A convolution whose output map j sees only the input maps table[j] (LeNet-5's C3).

    `weight` holds one k x k kernel per connection, in table order; the input maps are gathered
    by connection, convolved depthwise, and summed into their output maps.
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel: int, bias: bool = True) -> None:
        super().__init__()
        sources = [i for inputs in table for i in inputs]
        owners = [j for j, inputs in enumerate(table) for _ in inputs]
        self.out_channels = len(table)
        self.register_buffer("sources", torch.tensor(sources), persistent=False)
        self.register_buffer("owners", torch.tensor(owners), persistent=False)
        fan_in = kernel * kernel * max(len(t) for t in table)
        bound = 1.0 / fan_in ** 0.5  # as nn.Conv2d's default initialisation, per output map's fan-in
        self.weight = nn.Parameter(torch.empty(len(sources), 1, kernel, kernel).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(len(table)).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_connection = F.conv2d(x.index_select(1, self.sources), self.weight, groups=self.weight.shape[0])
        out = per_connection.new_zeros(x.shape[0], self.out_channels, *per_connection.shape[2:])
        out = out.index_add(1, self.owners, per_connection)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class RBF(nn.Module):
    """Euclidean RBF output units: y_i = sum_j (x_j - centres_ij)^2, fixed centres (a buffer).

    LeNet-5 drew its centres as 7x12 bitmaps of the characters (+-1); here they start as a fixed
    pseudo-random +-1 code, the same in every build; load your own with load_state_dict.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        codes = torch.randint(0, 2, (out_features, in_features), generator=torch.Generator().manual_seed(0))
        self.register_buffer("centres", codes.float() * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(1) - self.centres).pow(2).sum(-1)


class Lenet5(nn.Module):
    (
        "LeNet-5 (LeCun et al., 1998) in its two common modern forms: `classic` keeps the paper's "
        '32x32 input, tanh, parameter-free average subsampling and C5 as a 5x5 convolution (full C3 '
        'connectivity, linear output instead of RBF units); `mnist` takes 28x28 digits without '
        'padding (28->24->12->8->4) with ReLU, max-pooling and C5 as a fully connected layer on '
        '16*4*4 inputs. `paper` is the 1998 network itself: the scaled tanh 1.7159 tanh(2a/3) after '
        'every layer, trainable subsampling (each 2x2 sum times a coefficient plus a bias, per '
        "map), C3 wired by the sparse Table I (6 maps see 3 of S2's maps, 9 see 4, one sees all 6) "
        'and Euclidean RBF output units with fixed +-1 centres (a buffer, not trained): 60,000 '
        'trainable parameters.'
    )

    def __init__(self, num_classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = nn.AvgPool2d(2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.s4 = nn.AvgPool2d(2)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] == 32,
            'this network takes input height H = 32 only (`f6` (a linear): its parameter '
            'count depends on the input size)',
        )
        torch._assert(
            x.shape[3] == 32,
            'this network takes input width W = 32 only (`f6` (a linear): its parameter '
            'count depends on the input size)',
        )
        x = self.c1(x)  # N x 6 x 28 x 28
        x = torch.tanh_(x)  # N x 6 x 28 x 28
        x = self.s2(x)  # N x 6 x 14 x 14
        x = self.c3(x)  # N x 16 x 10 x 10
        x = torch.tanh_(x)  # N x 16 x 10 x 10
        x = self.s4(x)  # N x 16 x 5 x 5
        x = self.c5(x)  # N x 120 x 1 x 1
        x = torch.flatten(x, 1)  # N x 120
        x = torch.tanh(x)  # N x 120
        x = self.f6(x)  # N x 84
        x = torch.tanh_(x)  # N x 84
        x = self.output(x)  # N x 10
        return x


class Lenet5Mnist(nn.Module):
    'The network of variant mnist.'

    def __init__(self, num_classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.s4 = nn.MaxPool2d(2)
        self.c5 = nn.Linear(256, 120)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] == 28,
            'this network takes input height H = 28 only (`c5` (a linear): its parameter '
            'count depends on the input size)',
        )
        torch._assert(
            x.shape[3] == 28,
            'this network takes input width W = 28 only (`c5` (a linear): its parameter '
            'count depends on the input size)',
        )
        x = self.c1(x)  # N x 6 x 24 x 24
        x = torch.relu_(x)  # N x 6 x 24 x 24
        x = self.s2(x)  # N x 6 x 12 x 12
        x = self.c3(x)  # N x 16 x 8 x 8
        x = torch.relu_(x)  # N x 16 x 8 x 8
        x = self.s4(x)  # N x 16 x 4 x 4
        x = torch.flatten(x, 1)  # N x 256
        x = self.c5(x)  # N x 120
        x = torch.relu_(x)  # N x 120
        x = self.f6(x)  # N x 84
        x = torch.relu_(x)  # N x 84
        x = self.output(x)  # N x 10
        return x


class Lenet5Paper(nn.Module):
    'The network of variant paper.'

    def __init__(self, num_classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = TrainableSubsample(6, 2, 2)
        self.c3 = TableConv2d(
            (
                (0, 1, 2),
                (1, 2, 3),
                (2, 3, 4),
                (3, 4, 5),
                (0, 4, 5),
                (0, 1, 5),
                (0, 1, 2, 3),
                (1, 2, 3, 4),
                (2, 3, 4, 5),
                (0, 3, 4, 5),
                (0, 1, 4, 5),
                (0, 1, 2, 5),
                (0, 1, 3, 4),
                (1, 2, 4, 5),
                (0, 2, 3, 5),
                (0, 1, 2, 3, 4, 5),
            ),
            5,
            True,
        )
        self.s4 = TrainableSubsample(16, 2, 2)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = RBF(84, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] == 32,
            'this network takes input height H = 32 only (`f6` (a linear): its parameter '
            'count depends on the input size)',
        )
        torch._assert(
            x.shape[3] == 32,
            'this network takes input width W = 32 only (`f6` (a linear): its parameter '
            'count depends on the input size)',
        )
        x = self.c1(x)  # N x 6 x 28 x 28
        x = torch.mul(torch.tanh(torch.mul(x, 0.6666666666666666)), 1.7159)  # N x 6 x 28 x 28
        x = self.s2(x)  # N x 6 x 14 x 14
        x = torch.mul(torch.tanh(torch.mul(x, 0.6666666666666666)), 1.7159)  # N x 6 x 14 x 14
        x = self.c3(x)  # N x 16 x 10 x 10
        x = torch.mul(torch.tanh(torch.mul(x, 0.6666666666666666)), 1.7159)  # N x 16 x 10 x 10
        x = self.s4(x)  # N x 16 x 5 x 5
        x = torch.mul(torch.tanh(torch.mul(x, 0.6666666666666666)), 1.7159)  # N x 16 x 5 x 5
        x = self.c5(x)  # N x 120 x 1 x 1
        x = torch.flatten(x, 1)  # N x 120
        x = torch.mul(torch.tanh(torch.mul(x, 0.6666666666666666)), 1.7159)  # N x 120
        x = self.f6(x)  # N x 84
        x = torch.mul(torch.tanh(torch.mul(x, 0.6666666666666666)), 1.7159)  # N x 84
        x = self.output(x)  # N x 10
        return x


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'classic': (Lenet5, {}),
    'mnist': (Lenet5Mnist, {}),
    'paper': (Lenet5Paper, {}),
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
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('classic')`."""
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




def lenet5_classic(**params) -> nn.Module:
    return create('classic', **params)


def lenet5_mnist(**params) -> nn.Module:
    return create('mnist', **params)


def lenet5_paper(**params) -> nn.Module:
    return create('paper', **params)
