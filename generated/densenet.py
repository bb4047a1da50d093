(
    'densenet, variant 121: written by `archc emit` from densenet.yaml. Edit the spec, not this '
    'file.\n\nDensely connected networks (Huang et al., 2017), DenseNet-BC as torchvision builds '
    'them: each dense layer (BN-ReLU-1x1 conv-BN-ReLU-3x3 conv) appends growth_rate channels to '
    'its input; transitions between blocks halve channels and resolution.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '121'


class DenseLayer(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, 128, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(128)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(128, 32, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.norm1(x)
        out = self.relu1(out)
        out = self.conv1(out)
        out = self.norm2(out)
        out = self.relu2(out)
        out = self.conv2(out)
        concat = torch.cat([x, out], 1)
        return concat


class Densenet(nn.Module):
    (
        'Densely connected networks (Huang et al., 2017), DenseNet-BC as torchvision builds them: '
        'each dense layer (BN-ReLU-1x1 conv-BN-ReLU-3x3 conv) appends growth_rate channels to its '
        'input; transitions between blocks halve channels and resolution.'
    )

    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ('conv0', nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
            ('norm0', nn.BatchNorm2d(64)),
            ('relu0', nn.ReLU(inplace=True)),
            ('pool0', nn.MaxPool2d(3, stride=2, padding=1)),
            ('denseblock1', nn.Sequential(OrderedDict([
                *[('denselayer%d' % (i + 1), DenseLayer(64 + 32 * i)) for i in range(6)],
            ]))),
            ('transition1', nn.Sequential(OrderedDict([
                ('norm', nn.BatchNorm2d(256)),
                ('relu', nn.ReLU(inplace=True)),
                ('conv', nn.Conv2d(256, 128, 1, bias=False)),
                ('pool', nn.AvgPool2d(2)),
            ]))),
            ('denseblock2', nn.Sequential(OrderedDict([
                *[('denselayer%d' % (i + 1), DenseLayer(128 + 32 * i)) for i in range(12)],
            ]))),
            ('transition2', nn.Sequential(OrderedDict([
                ('norm', nn.BatchNorm2d(512)),
                ('relu', nn.ReLU(inplace=True)),
                ('conv', nn.Conv2d(512, 256, 1, bias=False)),
                ('pool', nn.AvgPool2d(2)),
            ]))),
            ('denseblock3', nn.Sequential(OrderedDict([
                *[('denselayer%d' % (i + 1), DenseLayer(256 + 32 * i)) for i in range(24)],
            ]))),
            ('transition3', nn.Sequential(OrderedDict([
                ('norm', nn.BatchNorm2d(1024)),
                ('relu', nn.ReLU(inplace=True)),
                ('conv', nn.Conv2d(1024, 512, 1, bias=False)),
                ('pool', nn.AvgPool2d(2)),
            ]))),
            ('denseblock4', nn.Sequential(OrderedDict([
                *[('denselayer%d' % (i + 1), DenseLayer(512 + 32 * i)) for i in range(16)],
            ]))),
            ('norm5', nn.BatchNorm2d(1024)),
        ]))
        self.classifier = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.features(x)  # N x 1024 x 7 x 7
        x = torch.relu_(x)  # N x 1024 x 7 x 7
        x = F.adaptive_avg_pool2d(x, (1, 1))  # N x 1024 x 1 x 1
        x = torch.flatten(x, 1)  # N x 1024
        x = self.classifier(x)  # N x 1000
        return x


# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_in', 'nonlinearity': 'leaky_relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, ('features.norm0', 'features.denseblock1.denselayer1.norm1',
        'features.denseblock1.denselayer1.norm2', 'features.denseblock1.denselayer2.norm1',
        'features.denseblock1.denselayer2.norm2', 'features.denseblock1.denselayer3.norm1',
        'features.denseblock1.denselayer3.norm2', 'features.denseblock1.denselayer4.norm1',
        'features.denseblock1.denselayer4.norm2', 'features.denseblock1.denselayer5.norm1',
        'features.denseblock1.denselayer5.norm2', 'features.denseblock1.denselayer6.norm1',
        'features.denseblock1.denselayer6.norm2', 'features.transition1.norm',
        'features.denseblock2.denselayer1.norm1', 'features.denseblock2.denselayer1.norm2',
        'features.denseblock2.denselayer2.norm1', 'features.denseblock2.denselayer2.norm2',
        'features.denseblock2.denselayer3.norm1', 'features.denseblock2.denselayer3.norm2',
        'features.denseblock2.denselayer4.norm1', 'features.denseblock2.denselayer4.norm2',
        'features.denseblock2.denselayer5.norm1', 'features.denseblock2.denselayer5.norm2',
        'features.denseblock2.denselayer6.norm1', 'features.denseblock2.denselayer6.norm2',
        'features.denseblock2.denselayer7.norm1', 'features.denseblock2.denselayer7.norm2',
        'features.denseblock2.denselayer8.norm1', 'features.denseblock2.denselayer8.norm2',
        'features.denseblock2.denselayer9.norm1', 'features.denseblock2.denselayer9.norm2',
        'features.denseblock2.denselayer10.norm1', 'features.denseblock2.denselayer10.norm2',
        'features.denseblock2.denselayer11.norm1', 'features.denseblock2.denselayer11.norm2',
        'features.denseblock2.denselayer12.norm1', 'features.denseblock2.denselayer12.norm2',
        'features.transition2.norm', 'features.denseblock3.denselayer1.norm1',
        'features.denseblock3.denselayer1.norm2', 'features.denseblock3.denselayer2.norm1',
        'features.denseblock3.denselayer2.norm2', 'features.denseblock3.denselayer3.norm1',
        'features.denseblock3.denselayer3.norm2', 'features.denseblock3.denselayer4.norm1',
        'features.denseblock3.denselayer4.norm2', 'features.denseblock3.denselayer5.norm1',
        'features.denseblock3.denselayer5.norm2', 'features.denseblock3.denselayer6.norm1',
        'features.denseblock3.denselayer6.norm2', 'features.denseblock3.denselayer7.norm1',
        'features.denseblock3.denselayer7.norm2', 'features.denseblock3.denselayer8.norm1',
        'features.denseblock3.denselayer8.norm2', 'features.denseblock3.denselayer9.norm1',
        'features.denseblock3.denselayer9.norm2', 'features.denseblock3.denselayer10.norm1',
        'features.denseblock3.denselayer10.norm2', 'features.denseblock3.denselayer11.norm1',
        'features.denseblock3.denselayer11.norm2', 'features.denseblock3.denselayer12.norm1',
        'features.denseblock3.denselayer12.norm2', 'features.denseblock3.denselayer13.norm1',
        'features.denseblock3.denselayer13.norm2', 'features.denseblock3.denselayer14.norm1',
        'features.denseblock3.denselayer14.norm2', 'features.denseblock3.denselayer15.norm1',
        'features.denseblock3.denselayer15.norm2', 'features.denseblock3.denselayer16.norm1',
        'features.denseblock3.denselayer16.norm2', 'features.denseblock3.denselayer17.norm1',
        'features.denseblock3.denselayer17.norm2', 'features.denseblock3.denselayer18.norm1',
        'features.denseblock3.denselayer18.norm2', 'features.denseblock3.denselayer19.norm1',
        'features.denseblock3.denselayer19.norm2', 'features.denseblock3.denselayer20.norm1',
        'features.denseblock3.denselayer20.norm2', 'features.denseblock3.denselayer21.norm1',
        'features.denseblock3.denselayer21.norm2', 'features.denseblock3.denselayer22.norm1',
        'features.denseblock3.denselayer22.norm2', 'features.denseblock3.denselayer23.norm1',
        'features.denseblock3.denselayer23.norm2', 'features.denseblock3.denselayer24.norm1',
        'features.denseblock3.denselayer24.norm2', 'features.transition3.norm',
        'features.denseblock4.denselayer1.norm1', 'features.denseblock4.denselayer1.norm2',
        'features.denseblock4.denselayer2.norm1', 'features.denseblock4.denselayer2.norm2',
        'features.denseblock4.denselayer3.norm1', 'features.denseblock4.denselayer3.norm2',
        'features.denseblock4.denselayer4.norm1', 'features.denseblock4.denselayer4.norm2',
        'features.denseblock4.denselayer5.norm1', 'features.denseblock4.denselayer5.norm2',
        'features.denseblock4.denselayer6.norm1', 'features.denseblock4.denselayer6.norm2',
        'features.denseblock4.denselayer7.norm1', 'features.denseblock4.denselayer7.norm2',
        'features.denseblock4.denselayer8.norm1', 'features.denseblock4.denselayer8.norm2',
        'features.denseblock4.denselayer9.norm1', 'features.denseblock4.denselayer9.norm2',
        'features.denseblock4.denselayer10.norm1', 'features.denseblock4.denselayer10.norm2',
        'features.denseblock4.denselayer11.norm1', 'features.denseblock4.denselayer11.norm2',
        'features.denseblock4.denselayer12.norm1', 'features.denseblock4.denselayer12.norm2',
        'features.denseblock4.denselayer13.norm1', 'features.denseblock4.denselayer13.norm2',
        'features.denseblock4.denselayer14.norm1', 'features.denseblock4.denselayer14.norm2',
        'features.denseblock4.denselayer15.norm1', 'features.denseblock4.denselayer15.norm2',
        'features.denseblock4.denselayer16.norm1', 'features.denseblock4.denselayer16.norm2', 'features.norm5',
        'classifier')),
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


def create(variant=None, **params) -> Densenet:
    """The network as archc builds it from the spec: `create(num_classes=10)`."""
    if variant is not None and variant != VARIANT:
        raise ValueError(f"this file holds variant {VARIANT!r}, not {variant!r}: emit it with --variant {variant}")
    # Built on the meta device, so no weight is drawn twice (PyTorch's default, then the spec's
    # rule): tensors are allocated empty and init_weights gives each its value once.
    device = torch.get_default_device()
    with torch.device("meta"):
        model = Densenet(**params)
    if not _restorable(model):
        model = Densenet(**params)  # a module sets tensors that no reset_parameters() redoes
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


def densenet_121(**params) -> Densenet:
    return create(**params)
