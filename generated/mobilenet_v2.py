(
    'mobilenet_v2: written by `archc emit` from mobilenet_v2.yaml. Edit the spec, not this '
    'file.\n\nMobileNetV2 (Sandler et al., 2018) as torchvision builds it: inverted residual '
    'blocks (1x1 expansion, 3x3 depthwise, linear 1x1 projection; ReLU6) with an identity '
    "shortcut where the shape is kept. Each row of the body is one row of the paper's Table 2: "
    'expansion t, output channels c (scaled by width_mult, rounded to multiples of 8), n '
    'blocks, the first with stride s.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = None


class ConvBnRelu6(nn.Sequential):
    def __init__(self, in_channels, out, kernel, stride, groups, m0_padding):
        super().__init__(
            nn.Conv2d(in_channels, out, kernel, stride=stride, padding=m0_padding, groups=groups, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x


class InvertedResidualWithConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            ConvBnRelu6(32, 192, 1, 1, 1, 0),
            ConvBnRelu6(192, 192, 3, 1, 192, 1),
            nn.Conv2d(192, 32, 1, bias=False),
            nn.BatchNorm2d(32),
        )

    def forward(self, x):
        conv = self.conv(x)  # N x 32 x 112 x 112
        add = x + conv  # N x 32 x 112 x 112
        return add


class MobilenetV2(nn.Module):
    (
        'MobileNetV2 (Sandler et al., 2018) as torchvision builds it: inverted residual blocks (1x1 '
        'expansion, 3x3 depthwise, linear 1x1 projection; ReLU6) with an identity shortcut where '
        "the shape is kept. Each row of the body is one row of the paper's Table 2: expansion t, "
        'output channels c (scaled by width_mult, rounded to multiples of 8), n blocks, the first '
        'with stride s.'
    )

    def __init__(self, dropout=0.2, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            ConvBnRelu6(3, 32, 3, 2, 1, 1),
            *[InvertedResidual() for _ in range(4)],
            *[InvertedResidualWithConv() for _ in range(2)],
            *[InvertedResidual() for _ in range(11)],
            ConvBnRelu6(32, 1280, 1, 1, 1, 0),
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = self.features(x)  # N x 1280 x 112 x 112
        x = F.adaptive_avg_pool2d(x, (1, 1))  # N x 1280 x 1 x 1
        x = torch.flatten(x, 1)  # N x 1280
        x = self.classifier(x)  # N x 1000
        return x


# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'leaky_relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, ('features.0.1', 'features.1.conv.0.1', 'features.1.conv.2', 'features.2.conv.0.1',
        'features.2.conv.1.1', 'features.2.conv.3', 'features.3.conv.0.1', 'features.3.conv.1.1', 'features.3.conv.3',
        'features.4.conv.0.1', 'features.4.conv.1.1', 'features.4.conv.3', 'features.5.conv.0.1',
        'features.5.conv.1.1', 'features.5.conv.3', 'features.6.conv.0.1', 'features.6.conv.1.1', 'features.6.conv.3',
        'features.7.conv.0.1', 'features.7.conv.1.1', 'features.7.conv.3', 'features.8.conv.0.1',
        'features.8.conv.1.1', 'features.8.conv.3', 'features.9.conv.0.1', 'features.9.conv.1.1', 'features.9.conv.3',
        'features.10.conv.0.1', 'features.10.conv.1.1', 'features.10.conv.3', 'features.11.conv.0.1',
        'features.11.conv.1.1', 'features.11.conv.3', 'features.12.conv.0.1', 'features.12.conv.1.1',
        'features.12.conv.3', 'features.13.conv.0.1', 'features.13.conv.1.1', 'features.13.conv.3',
        'features.14.conv.0.1', 'features.14.conv.1.1', 'features.14.conv.3', 'features.15.conv.0.1',
        'features.15.conv.1.1', 'features.15.conv.3', 'features.16.conv.0.1', 'features.16.conv.1.1',
        'features.16.conv.3', 'features.17.conv.0.1', 'features.17.conv.1.1', 'features.17.conv.3', 'features.18.1',
        'classifier.1')),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
    ('weight', 'normal_', {'mean': 0, 'std': 0.01}, 'Linear'),
)


def init_weights(model: nn.Module, empty: bool = False) -> None:
    """Initialise the weights as the spec says, module by module (a seeded run is reproducible).

    `empty`: the model's tensors are still uninitialised (create() allocates them so, to draw
    each weight once): a module holding a tensor that no rule sets is first given PyTorch's
    own default initialisation, its `reset_parameters()`.
    """
    rules = _init_rules()
    with torch.no_grad():
        for path, module in model.named_modules():
            calls = _calls(rules, path, module)
            if empty and _keeps_default(module, calls):
                module.reset_parameters()
            for tensor, function, kwargs in calls:
                getattr(nn.init, function)(getattr(module, tensor), **kwargs)


def create(variant=None, **params) -> MobilenetV2:
    """The network as archc builds it from the spec: `create(num_classes=10)`."""
    if variant is not None and variant != VARIANT:
        raise ValueError(f"this file holds variant {VARIANT!r}, not {variant!r}: emit it with --variant {variant}")
    # Built on the meta device, so no weight is drawn twice (PyTorch's default, then the spec's
    # rule): tensors are allocated empty and init_weights gives each its value once.
    device = torch.get_default_device()
    with torch.device("meta"):
        model = MobilenetV2(**params)
    if not _restorable(model):
        model = MobilenetV2(**params)  # a module sets tensors that no reset_parameters() redoes
        init_weights(model)
        return model
    # Module.to_empty, with torch.empty instead of empty_like of a meta tensor (three times slower).
    model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device=device))
    init_weights(model, empty=True)
    return model


def _init_rules() -> dict:
    """{module path or type name: [(tensor, init function, arguments)]}."""
    rules = {}
    for tensor, function, kwargs, where in INIT:
        for key in ((where,) if isinstance(where, str) else where):
            rules.setdefault(key, []).append((tensor, function, kwargs))
    return rules


def _calls(rules: dict, path: str, module: nn.Module) -> list:
    """A module's init calls, by its path and by its type, in tensor order."""
    return sorted(rules.get(path, []) + rules.get(type(module).__name__, []), key=lambda call: call[0])


def _keeps_default(module: nn.Module, calls) -> bool:
    """Whether the module holds a buffer, or a parameter that no rule sets."""
    ruled = {tensor for tensor, _, _ in calls}
    return any(True for _ in module.buffers(recurse=False)) or any(
        name not in ruled for name, _ in module.named_parameters(recurse=False)
    )


def _restorable(model: nn.Module) -> bool:
    """Whether every tensor gets its value from a rule or from its module's reset_parameters().

    Buffers are trusted to reset_parameters() only where it resets running statistics.
    """
    rules = _init_rules()
    for path, module in model.named_modules():
        if not _keeps_default(module, _calls(rules, path, module)):
            continue
        has_buffers = any(True for _ in module.buffers(recurse=False))
        if not hasattr(module, "reset_parameters") or (has_buffers and not hasattr(module, "reset_running_stats")):
            return False
    return True


def mobilenet_v2(**params) -> MobilenetV2:
    return create(**params)
