(
    'mnasnet, variant 1_0: written by `archc emit` from mnasnet.yaml. Edit the spec, not this '
    'file.\n\nMNASNet-B1 (Tan et al., 2019) as torchvision builds it: a separable-conv stem, then '
    'stacks of MobileNetV2-style inverted residuals (ReLU, identity shortcut where the shape is '
    'kept), every width scaled by the depth multiplier alpha and rounded to a multiple of 8 '
    '(up, unless that adds more than 10%).'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '1_0'


class InvertedResidual(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x


class Stack(nn.Sequential):
    def __init__(self, repeats):
        super().__init__(*[InvertedResidual() for _ in range(repeats)])


class Stack_2(nn.Sequential):
    def __init__(self):
        super().__init__(InvertedResidual())


class Mnasnet(nn.Module):
    (
        'MNASNet-B1 (Tan et al., 2019) as torchvision builds it: a separable-conv stem, then stacks '
        'of MobileNetV2-style inverted residuals (ReLU, identity shortcut where the shape is kept), '
        'every width scaled by the depth multiplier alpha and rounded to a multiple of 8 (up, '
        'unless that adds more than 10%).'
    )

    def __init__(self, dropout=0.2, num_classes=1000):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False),
            nn.BatchNorm2d(32, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 16, 1, bias=False),
            nn.BatchNorm2d(16, momentum=0.00029999999999996696),
            *[Stack(3) for _ in range(3)],
            Stack(2),
            Stack(4),
            Stack_2(),
            nn.Conv2d(16, 1280, 1, bias=False),
            nn.BatchNorm2d(1280, momentum=0.00029999999999996696),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = self.layers(x)  # N x 1280 x 112 x 112
        x = x.mean([2, 3])  # N x 1280
        x = self.classifier(x)  # N x 1000
        return x


# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('weight', 'kaiming_normal_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'relu'}, 'Conv2d'),
    ('bias', 'zeros_', {}, ('layers.1', 'layers.4', 'layers.7', 'layers.8.0.layers.1', 'layers.8.0.layers.4',
        'layers.8.0.layers.7', 'layers.8.1.layers.1', 'layers.8.1.layers.4', 'layers.8.1.layers.7',
        'layers.8.2.layers.1', 'layers.8.2.layers.4', 'layers.8.2.layers.7', 'layers.9.0.layers.1',
        'layers.9.0.layers.4', 'layers.9.0.layers.7', 'layers.9.1.layers.1', 'layers.9.1.layers.4',
        'layers.9.1.layers.7', 'layers.9.2.layers.1', 'layers.9.2.layers.4', 'layers.9.2.layers.7',
        'layers.10.0.layers.1', 'layers.10.0.layers.4', 'layers.10.0.layers.7', 'layers.10.1.layers.1',
        'layers.10.1.layers.4', 'layers.10.1.layers.7', 'layers.10.2.layers.1', 'layers.10.2.layers.4',
        'layers.10.2.layers.7', 'layers.11.0.layers.1', 'layers.11.0.layers.4', 'layers.11.0.layers.7',
        'layers.11.1.layers.1', 'layers.11.1.layers.4', 'layers.11.1.layers.7', 'layers.12.0.layers.1',
        'layers.12.0.layers.4', 'layers.12.0.layers.7', 'layers.12.1.layers.1', 'layers.12.1.layers.4',
        'layers.12.1.layers.7', 'layers.12.2.layers.1', 'layers.12.2.layers.4', 'layers.12.2.layers.7',
        'layers.12.3.layers.1', 'layers.12.3.layers.4', 'layers.12.3.layers.7', 'layers.13.0.layers.1',
        'layers.13.0.layers.4', 'layers.13.0.layers.7', 'layers.15', 'classifier.1')),
    ('weight', 'ones_', {}, 'BatchNorm2d'),
    ('weight', 'kaiming_uniform_', {'a': 0.0, 'mode': 'fan_out', 'nonlinearity': 'sigmoid'}, 'Linear'),
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


def create(variant=None, **params) -> Mnasnet:
    """The network as archc builds it from the spec: `create(num_classes=10)`."""
    if variant is not None and variant != VARIANT:
        raise ValueError(f"this file holds variant {VARIANT!r}, not {variant!r}: emit it with --variant {variant}")
    # Built on the meta device, so no weight is drawn twice (PyTorch's default, then the spec's
    # rule): tensors are allocated empty and init_weights gives each its value once.
    device = torch.get_default_device()
    with torch.device("meta"):
        model = Mnasnet(**params)
    if not _restorable(model):
        model = Mnasnet(**params)  # a module sets tensors that no reset_parameters() redoes
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


def mnasnet_1_0(**params) -> Mnasnet:
    return create(**params)
