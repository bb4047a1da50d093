(
    'resnet_v2, variant 50: written by `archc emit` from resnet_v2.yaml. Edit the spec, not '
    'this file.\n\nPre-activation residual networks (He et al., 2016, "Identity mappings in deep '
    'residual networks") as timm builds them (resnetv2_50/101/152): batch norm and ReLU come '
    'before each conv, the shortcut is the clean input (or a strided 1x1 projection of the '
    "pre-activated input in each stage's first block), and a final batch norm + ReLU precedes "
    'the classifier, a 1x1 conv.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '50'


class PreactBottleneck_2(nn.Module):
    def __init__(self, in_channels, planes, stride, conv3_out_channels):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.norm3 = nn.BatchNorm2d(planes)
        self.act3 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, conv3_out_channels, 1, bias=False)

    def forward(self, x):
        x = self.norm1(x)
        x = self.act1(x)
        out = self.conv1(x)
        out = self.norm2(out)
        out = self.act2(out)
        out = self.conv2(out)
        out = self.norm3(out)
        out = self.act3(out)
        out = self.conv3(out)
        return out


class PreactBottleneck(nn.Module):
    def __init__(self, in_channels, planes):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.norm3 = nn.BatchNorm2d(planes)
        self.act3 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, in_channels, 1, bias=False)

    def forward(self, x):
        out = self.norm1(x)
        out = self.act1(out)
        out = self.conv1(out)
        out = self.norm2(out)
        out = self.act2(out)
        out = self.conv2(out)
        out = self.norm3(out)
        out = self.act3(out)
        out = self.conv3(out)
        out = out.add_(x)
        return out


class Stage(nn.Module):
    def __init__(self, in_channels, planes, stride, m0_conv3_out_channels, blocks_count):
        super().__init__()
        self.blocks = nn.Sequential(
            PreactBottleneck_2(in_channels, planes, stride, m0_conv3_out_channels),
            *[PreactBottleneck(m0_conv3_out_channels, planes) for _ in range(blocks_count)],
        )

    def forward(self, x):
        x = self.blocks(x)
        return x


class ResnetV2(nn.Module):
    (
        'Pre-activation residual networks (He et al., 2016, "Identity mappings in deep residual '
        'networks") as timm builds them (resnetv2_50/101/152): batch norm and ReLU come before each '
        'conv, the shortcut is the clean input (or a strided 1x1 projection of the pre-activated '
        "input in each stage's first block), and a final batch norm + ReLU precedes the classifier, "
        'a 1x1 conv.'
    )

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict([
            ('conv', nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
            ('pool', nn.MaxPool2d(3, stride=2, padding=1)),
        ]))
        self.stages = nn.Sequential(
            Stage(64, 64, 1, 256, 2),
            Stage(256, 128, 2, 512, 3),
            Stage(512, 256, 2, 1024, 5),
            Stage(1024, 512, 2, 2048, 2),
        )
        self.norm = nn.BatchNorm2d(2048)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Sequential(OrderedDict([
            ('global_pool', nn.AdaptiveAvgPool2d(1)),
            ('fc', nn.Conv2d(2048, 1000, 1)),
            ('2', nn.Flatten()),
        ]))

    def forward(self, x):
        x = self.stem(x)  # N x 64 x 56 x 56
        x = self.stages(x)  # N x 2048 x 7 x 7
        x = self.norm(x)  # N x 2048 x 7 x 7
        x = self.act(x)  # N x 2048 x 7 x 7
        x = self.head(x)  # N x 1000
        return x


# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, ('stem.conv',
        'stages.0.blocks.0.downsample.conv', 'stages.0.blocks.0.conv1', 'stages.0.blocks.0.conv2',
        'stages.0.blocks.0.conv3', 'stages.0.blocks.1.conv1', 'stages.0.blocks.1.conv2', 'stages.0.blocks.1.conv3',
        'stages.0.blocks.2.conv1', 'stages.0.blocks.2.conv2', 'stages.0.blocks.2.conv3',
        'stages.1.blocks.0.downsample.conv', 'stages.1.blocks.0.conv1', 'stages.1.blocks.0.conv2',
        'stages.1.blocks.0.conv3', 'stages.1.blocks.1.conv1', 'stages.1.blocks.1.conv2', 'stages.1.blocks.1.conv3',
        'stages.1.blocks.2.conv1', 'stages.1.blocks.2.conv2', 'stages.1.blocks.2.conv3', 'stages.1.blocks.3.conv1',
        'stages.1.blocks.3.conv2', 'stages.1.blocks.3.conv3', 'stages.2.blocks.0.downsample.conv',
        'stages.2.blocks.0.conv1', 'stages.2.blocks.0.conv2', 'stages.2.blocks.0.conv3', 'stages.2.blocks.1.conv1',
        'stages.2.blocks.1.conv2', 'stages.2.blocks.1.conv3', 'stages.2.blocks.2.conv1', 'stages.2.blocks.2.conv2',
        'stages.2.blocks.2.conv3', 'stages.2.blocks.3.conv1', 'stages.2.blocks.3.conv2', 'stages.2.blocks.3.conv3',
        'stages.2.blocks.4.conv1', 'stages.2.blocks.4.conv2', 'stages.2.blocks.4.conv3', 'stages.2.blocks.5.conv1',
        'stages.2.blocks.5.conv2', 'stages.2.blocks.5.conv3', 'stages.3.blocks.0.downsample.conv',
        'stages.3.blocks.0.conv1', 'stages.3.blocks.0.conv2', 'stages.3.blocks.0.conv3', 'stages.3.blocks.1.conv1',
        'stages.3.blocks.1.conv2', 'stages.3.blocks.1.conv3', 'stages.3.blocks.2.conv1', 'stages.3.blocks.2.conv2',
        'stages.3.blocks.2.conv3')),
    ('bias', 'zeros_', {}, ('head.fc', 'stages.0.blocks.0.norm1', 'stages.0.blocks.0.norm2',
        'stages.0.blocks.0.norm3', 'stages.0.blocks.1.norm1', 'stages.0.blocks.1.norm2', 'stages.0.blocks.1.norm3',
        'stages.0.blocks.2.norm1', 'stages.0.blocks.2.norm2', 'stages.0.blocks.2.norm3', 'stages.1.blocks.0.norm1',
        'stages.1.blocks.0.norm2', 'stages.1.blocks.0.norm3', 'stages.1.blocks.1.norm1', 'stages.1.blocks.1.norm2',
        'stages.1.blocks.1.norm3', 'stages.1.blocks.2.norm1', 'stages.1.blocks.2.norm2', 'stages.1.blocks.2.norm3',
        'stages.1.blocks.3.norm1', 'stages.1.blocks.3.norm2', 'stages.1.blocks.3.norm3', 'stages.2.blocks.0.norm1',
        'stages.2.blocks.0.norm2', 'stages.2.blocks.0.norm3', 'stages.2.blocks.1.norm1', 'stages.2.blocks.1.norm2',
        'stages.2.blocks.1.norm3', 'stages.2.blocks.2.norm1', 'stages.2.blocks.2.norm2', 'stages.2.blocks.2.norm3',
        'stages.2.blocks.3.norm1', 'stages.2.blocks.3.norm2', 'stages.2.blocks.3.norm3', 'stages.2.blocks.4.norm1',
        'stages.2.blocks.4.norm2', 'stages.2.blocks.4.norm3', 'stages.2.blocks.5.norm1', 'stages.2.blocks.5.norm2',
        'stages.2.blocks.5.norm3', 'stages.3.blocks.0.norm1', 'stages.3.blocks.0.norm2', 'stages.3.blocks.0.norm3',
        'stages.3.blocks.1.norm1', 'stages.3.blocks.1.norm2', 'stages.3.blocks.1.norm3', 'stages.3.blocks.2.norm1',
        'stages.3.blocks.2.norm2', 'stages.3.blocks.2.norm3', 'norm')),
    ('weight', 'normal_', {'mean': 0, 'std': 0.01}, ('head.fc',)),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
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


def create(variant=None, **params) -> ResnetV2:
    """The network as archc builds it from the spec: `create(num_classes=10)`."""
    if variant is not None and variant != VARIANT:
        raise ValueError(f"this file holds variant {VARIANT!r}, not {variant!r}: emit it with --variant {variant}")
    # Built on the meta device, so no weight is drawn twice (PyTorch's default, then the spec's
    # rule): tensors are allocated empty and init_weights gives each its value once.
    device = torch.get_default_device()
    with torch.device("meta"):
        model = ResnetV2(**params)
    if not _restorable(model):
        model = ResnetV2(**params)  # a module sets tensors that no reset_parameters() redoes
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


def resnet_v2_50(**params) -> ResnetV2:
    return create(**params)
