(
    'mobilenet_v3, variant large: written by `archc emit` from mobilenet_v3.yaml. Edit the '
    'spec, not this file.\n\nMobileNetV3 (Howard et al., 2019) as torchvision builds it: inverted '
    'residual "bneck" blocks with optional squeeze-and-excitation (hard-sigmoid gate) and ReLU '
    "or hard-swish, one row per block as in the paper's Tables 1 (large) and 2 (small); batch "
    'norm with eps 0.001 and momentum 0.01.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'large'


class ConvBnAct(nn.Sequential):
    def __init__(self, in_channels, out, kernel, stride, groups, m0_padding):
        super().__init__(
            nn.Conv2d(in_channels, out, kernel, stride=stride, padding=m0_padding, groups=groups, bias=False),
            nn.BatchNorm2d(out, eps=0.001, momentum=0.01),
            nn.Hardswish(inplace=True),
        )


class ConvBnAct_2(nn.Sequential):
    def __init__(self, in_channels, out, kernel, stride, groups, m0_padding):
        super().__init__(
            nn.Conv2d(in_channels, out, kernel, stride=stride, padding=m0_padding, groups=groups, bias=False),
            nn.BatchNorm2d(out, eps=0.001, momentum=0.01),
            nn.ReLU(inplace=True),
        )


class ConvBnAct_3(nn.Sequential):
    def __init__(self, in_channels, out):
        super().__init__(nn.Conv2d(in_channels, out, 1, bias=False), nn.BatchNorm2d(out, eps=0.001, momentum=0.01))


class BneckWithBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(ConvBnAct_2(16, 16, 3, 1, 16, 1), ConvBnAct_3(16, 16))

    def forward(self, x):
        block = self.block(x)  # N x 16 x 112 x 112
        add = x + block  # N x 16 x 112 x 112
        return add


class Bneck(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x


class MobilenetV3(nn.Module):
    (
        'MobileNetV3 (Howard et al., 2019) as torchvision builds it: inverted residual "bneck" '
        'blocks with optional squeeze-and-excitation (hard-sigmoid gate) and ReLU or hard-swish, '
        "one row per block as in the paper's Tables 1 (large) and 2 (small); batch norm with eps "
        '0.001 and momentum 0.01.'
    )

    def __init__(self, dropout=0.2, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            ConvBnAct(3, 16, 3, 2, 1, 1),
            BneckWithBlock(),
            *[Bneck() for _ in range(14)],
            ConvBnAct(16, 96, 1, 1, 1, 0),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(96, 1280),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(1280, num_classes),
        )

    def forward(self, x):
        x = self.features(x)  # N x 96 x 112 x 112
        x = self.avgpool(x)  # N x 96 x 1 x 1
        x = torch.flatten(x, 1)  # N x 96
        x = self.classifier(x)  # N x 1000
        return x


# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'leaky_relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, ('features.4.block.2.fc1', 'features.4.block.2.fc2', 'features.5.block.2.fc1',
        'features.5.block.2.fc2', 'features.6.block.2.fc1', 'features.6.block.2.fc2', 'features.11.block.2.fc1',
        'features.11.block.2.fc2', 'features.12.block.2.fc1', 'features.12.block.2.fc2', 'features.13.block.2.fc1',
        'features.13.block.2.fc2', 'features.14.block.2.fc1', 'features.14.block.2.fc2', 'features.15.block.2.fc1',
        'features.15.block.2.fc2', 'features.0.1', 'features.1.block.0.1', 'features.1.block.1.1',
        'features.2.block.0.1', 'features.2.block.1.1', 'features.2.block.2.1', 'features.3.block.0.1',
        'features.3.block.1.1', 'features.3.block.2.1', 'features.4.block.0.1', 'features.4.block.1.1',
        'features.4.block.3.1', 'features.5.block.0.1', 'features.5.block.1.1', 'features.5.block.3.1',
        'features.6.block.0.1', 'features.6.block.1.1', 'features.6.block.3.1', 'features.7.block.0.1',
        'features.7.block.1.1', 'features.7.block.2.1', 'features.8.block.0.1', 'features.8.block.1.1',
        'features.8.block.2.1', 'features.9.block.0.1', 'features.9.block.1.1', 'features.9.block.2.1',
        'features.10.block.0.1', 'features.10.block.1.1', 'features.10.block.2.1', 'features.11.block.0.1',
        'features.11.block.1.1', 'features.11.block.3.1', 'features.12.block.0.1', 'features.12.block.1.1',
        'features.12.block.3.1', 'features.13.block.0.1', 'features.13.block.1.1', 'features.13.block.3.1',
        'features.14.block.0.1', 'features.14.block.1.1', 'features.14.block.3.1', 'features.15.block.0.1',
        'features.15.block.1.1', 'features.15.block.3.1', 'features.16.1', 'classifier.0', 'classifier.3')),
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


def create(variant=None, **params) -> MobilenetV3:
    """The network as archc builds it from the spec: `create(num_classes=10)`."""
    if variant is not None and variant != VARIANT:
        raise ValueError(f"this file holds variant {VARIANT!r}, not {variant!r}: emit it with --variant {variant}")
    # Built on the meta device, so no weight is drawn twice (PyTorch's default, then the spec's
    # rule): tensors are allocated empty and init_weights gives each its value once.
    device = torch.get_default_device()
    with torch.device("meta"):
        model = MobilenetV3(**params)
    if not _restorable(model):
        model = MobilenetV3(**params)  # a module sets tensors that no reset_parameters() redoes
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


def mobilenet_v3_large(**params) -> MobilenetV3:
    return create(**params)
