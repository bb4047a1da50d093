(
    'unet, variants padded, paper: written by `archc emit` from unet.yaml. Edit the spec, not '
    'this file.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'padded'


def center_crop(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The centre of x's height and width, cut to like's (U-Net's crop of an encoder map to the
    upsampled one)."""
    top = (x.shape[2] - like.shape[2]) // 2
    left = (x.shape[3] - like.shape[3]) // 2
    return x[:, :, top:top + like.shape[2], left:left + like.shape[3]]


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels, out, padding=1):
        super().__init__(
            nn.Conv2d(in_channels, out, 3, padding=padding),
            nn.ReLU(inplace=True),
            nn.Conv2d(out, out, 3, padding=padding),
            nn.ReLU(inplace=True),
        )


class Unet(nn.Module):
    (
        'U-Net (Ronneberger et al., 2015): a contracting path of double 3x3 convs and 2x2 max '
        'pooling, an expanding path of 2x2 transposed convs, each followed by concatenation with '
        'the encoder map of the same level and a double 3x3 conv, and a 1x1 conv to the classes. By '
        "default the 3x3 convs are padded (the common variant): the output has the input's size. "
        'Variant `paper`: unpadded convs, encoder maps cropped to fit, 572x572 -> 388x388.'
    )

    def __init__(self, num_classes=2):
        super().__init__()
        self.enc1 = DoubleConv(1, 64)
        self.pool1 = nn.MaxPool2d(2)
        self.enc2 = DoubleConv(64, 128)
        self.pool2 = nn.MaxPool2d(2)
        self.enc3 = DoubleConv(128, 256)
        self.pool3 = nn.MaxPool2d(2)
        self.enc4 = DoubleConv(256, 512)
        self.pool4 = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(512, 1024)
        self.up4 = nn.ConvTranspose2d(1024, 512, 2, stride=2)
        self.dec4 = DoubleConv(1024, 512)
        self.up3 = nn.ConvTranspose2d(512, 256, 2, stride=2)
        self.dec3 = DoubleConv(512, 256)
        self.up2 = nn.ConvTranspose2d(256, 128, 2, stride=2)
        self.dec2 = DoubleConv(256, 128)
        self.up1 = nn.ConvTranspose2d(128, 64, 2, stride=2)
        self.dec1 = DoubleConv(128, 64)
        self.head = nn.Conv2d(64, num_classes, 1)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 16,
            'this network takes input height H >= 16, multiples of 16 (`pool4` (a '
            'maxpool2d); `cat1` (a concat))',
        )
        torch._assert(
            x.shape[2] % 16 == 0,
            'this network takes input height H >= 16, multiples of 16 (`pool4` (a '
            'maxpool2d); `cat1` (a concat))',
        )
        torch._assert(
            x.shape[3] >= 16,
            'this network takes input width W >= 16, multiples of 16 (`pool4` (a maxpool2d); '
            '`cat1` (a concat))',
        )
        torch._assert(
            x.shape[3] % 16 == 0,
            'this network takes input width W >= 16, multiples of 16 (`pool4` (a maxpool2d); '
            '`cat1` (a concat))',
        )
        x = self.enc1(x)  # N x 64 x 256 x 256
        out = self.pool1(x)  # N x 64 x 128 x 128
        out = self.enc2(out)  # N x 128 x 128 x 128
        out_2 = self.pool2(out)  # N x 128 x 64 x 64
        out_2 = self.enc3(out_2)  # N x 256 x 64 x 64
        out_3 = self.pool3(out_2)  # N x 256 x 32 x 32
        out_3 = self.enc4(out_3)  # N x 512 x 32 x 32
        out_4 = self.pool4(out_3)  # N x 512 x 16 x 16
        out_4 = self.bottleneck(out_4)  # N x 1024 x 16 x 16
        out_4 = self.up4(out_4)  # N x 512 x 32 x 32
        out_5 = torch.cat([out_3, out_4], 1)  # N x 1024 x 32 x 32
        out_5 = self.dec4(out_5)  # N x 512 x 32 x 32
        out_5 = self.up3(out_5)  # N x 256 x 64 x 64
        out_6 = torch.cat([out_2, out_5], 1)  # N x 512 x 64 x 64
        out_6 = self.dec3(out_6)  # N x 256 x 64 x 64
        out_6 = self.up2(out_6)  # N x 128 x 128 x 128
        out_7 = torch.cat([out, out_6], 1)  # N x 256 x 128 x 128
        out_7 = self.dec2(out_7)  # N x 128 x 128 x 128
        out_7 = self.up1(out_7)  # N x 64 x 256 x 256
        out_8 = torch.cat([x, out_7], 1)  # N x 128 x 256 x 256
        out_8 = self.dec1(out_8)  # N x 64 x 256 x 256
        out_8 = self.head(out_8)  # N x 2 x 256 x 256
        return out_8


class UnetPaper(nn.Module):
    'The network of variant paper.'

    def __init__(self, num_classes=2):
        super().__init__()
        self.enc1 = DoubleConv(1, 64, padding=0)
        self.pool1 = nn.MaxPool2d(2)
        self.enc2 = DoubleConv(64, 128, padding=0)
        self.pool2 = nn.MaxPool2d(2)
        self.enc3 = DoubleConv(128, 256, padding=0)
        self.pool3 = nn.MaxPool2d(2)
        self.enc4 = DoubleConv(256, 512, padding=0)
        self.pool4 = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(512, 1024, padding=0)
        self.up4 = nn.ConvTranspose2d(1024, 512, 2, stride=2)
        self.dec4 = DoubleConv(1024, 512, padding=0)
        self.up3 = nn.ConvTranspose2d(512, 256, 2, stride=2)
        self.dec3 = DoubleConv(512, 256, padding=0)
        self.up2 = nn.ConvTranspose2d(256, 128, 2, stride=2)
        self.dec2 = DoubleConv(256, 128, padding=0)
        self.up1 = nn.ConvTranspose2d(128, 64, 2, stride=2)
        self.dec1 = DoubleConv(128, 64, padding=0)
        self.head = nn.Conv2d(64, num_classes, 1)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 188,
            'this network takes input height H >= 188 (`dec3.2` (a conv2d))',
        )
        torch._assert(
            x.shape[3] >= 188,
            'this network takes input width W >= 188 (`dec3.2` (a conv2d))',
        )
        x = self.enc1(x)  # N x 64 x 568 x 568
        out = self.pool1(x)  # N x 64 x 284 x 284
        out = self.enc2(out)  # N x 128 x 280 x 280
        out_2 = self.pool2(out)  # N x 128 x 140 x 140
        out_2 = self.enc3(out_2)  # N x 256 x 136 x 136
        out_3 = self.pool3(out_2)  # N x 256 x 68 x 68
        out_3 = self.enc4(out_3)  # N x 512 x 64 x 64
        out_4 = self.pool4(out_3)  # N x 512 x 32 x 32
        out_4 = self.bottleneck(out_4)  # N x 1024 x 28 x 28
        out_4 = self.up4(out_4)  # N x 512 x 56 x 56
        out_5 = center_crop(out_3, out_4)  # N x 512 x 56 x 56
        out_5 = torch.cat([out_5, out_4], 1)  # N x 1024 x 56 x 56
        out_5 = self.dec4(out_5)  # N x 512 x 52 x 52
        out_5 = self.up3(out_5)  # N x 256 x 104 x 104
        out_6 = center_crop(out_2, out_5)  # N x 256 x 104 x 104
        out_6 = torch.cat([out_6, out_5], 1)  # N x 512 x 104 x 104
        out_6 = self.dec3(out_6)  # N x 256 x 100 x 100
        out_6 = self.up2(out_6)  # N x 128 x 200 x 200
        out_7 = center_crop(out, out_6)  # N x 128 x 200 x 200
        out_7 = torch.cat([out_7, out_6], 1)  # N x 256 x 200 x 200
        out_7 = self.dec2(out_7)  # N x 128 x 196 x 196
        out_7 = self.up1(out_7)  # N x 64 x 392 x 392
        out_8 = center_crop(x, out_7)  # N x 64 x 392 x 392
        out_8 = torch.cat([out_8, out_7], 1)  # N x 128 x 392 x 392
        out_8 = self.dec1(out_8)  # N x 64 x 388 x 388
        out_8 = self.head(out_8)  # N x 2 x 388 x 388
        return out_8


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'padded': (Unet, {}),
    'paper': (UnetPaper, {}),
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
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('padded')`."""
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




def unet_padded(**params) -> nn.Module:
    return create('padded', **params)


def unet_paper(**params) -> nn.Module:
    return create('paper', **params)
