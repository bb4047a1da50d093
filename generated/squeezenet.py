(
    'squeezenet, variant 1_0: written by `archc emit` from squeezenet.yaml. Edit the spec, not '
    'this file.\n\nSqueezeNet (Iandola et al., 2016) as torchvision builds it: Fire modules (a '
    '1x1 squeeze conv feeding parallel 1x1 and 3x3 expand convs, concatenated) between '
    'ceil-mode 3x3/2 max pools, and a 1x1 conv classifier averaged over the image. v1.1 uses a '
    "3x3 stem and pools earlier (2.4x fewer multiply-adds, same accuracy). The paper's section "
    "6 variants of 1.0 add residual bypasses: `1_0_simple_bypass` adds each Fire's input to its "
    'output where the widths agree (fire3, 5, 7, 9; no parameters); `1_0_complex_bypass` also '
    'bypasses fire2, 4, 6, 8 through a 1x1 conv (`bypass`, +341,248 parameters). The Fires keep '
    "their names, so torchvision's 1.0 weights load into both."
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = '1_0'


class Fire(nn.Module):
    def __init__(self, in_channels, squeeze_planes, expand_planes):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze_planes, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand_planes, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand_planes, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze(x)
        x = self.squeeze_activation(x)
        out = self.expand1x1(x)
        out = self.expand1x1_activation(out)
        out_2 = self.expand3x3(x)
        out_2 = self.expand3x3_activation(out_2)
        out = torch.cat([out, out_2], 1)
        return out


class Squeezenet(nn.Module):
    (
        'SqueezeNet (Iandola et al., 2016) as torchvision builds it: Fire modules (a 1x1 squeeze '
        'conv feeding parallel 1x1 and 3x3 expand convs, concatenated) between ceil-mode 3x3/2 max '
        'pools, and a 1x1 conv classifier averaged over the image. v1.1 uses a 3x3 stem and pools '
        "earlier (2.4x fewer multiply-adds, same accuracy). The paper's section 6 variants of 1.0 "
        "add residual bypasses: `1_0_simple_bypass` adds each Fire's input to its output where the "
        'widths agree (fire3, 5, 7, 9; no parameters); `1_0_complex_bypass` also bypasses fire2, 4, '
        '6, 8 through a 1x1 conv (`bypass`, +341,248 parameters). The Fires keep their names, so '
        "torchvision's 1.0 weights load into both."
    )

    def __init__(self, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 7, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            Fire(96, 16, 64),
            Fire(128, 16, 64),
            Fire(128, 32, 128),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            Fire(256, 32, 128),
            Fire(256, 48, 192),
            Fire(384, 48, 192),
            Fire(384, 64, 256),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            Fire(512, 64, 256),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Conv2d(512, 1000, 1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x):
        x = self.features(x)  # N x 512 x 13 x 13
        x = self.classifier(x)  # N x 1000 x 1 x 1
        x = torch.flatten(x, 1)  # N x 1000
        return x


# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('bias', 'zeros_', {}, 'Conv2d'),
    ('weight', 'kaiming_uniform_', {'a': 0.0, 'mode': 'fan_in', 'nonlinearity': 'leaky_relu'}, ('features.0',
        'features.3.squeeze', 'features.3.expand1x1', 'features.3.expand3x3', 'features.4.squeeze',
        'features.4.expand1x1', 'features.4.expand3x3', 'features.5.squeeze', 'features.5.expand1x1',
        'features.5.expand3x3', 'features.7.squeeze', 'features.7.expand1x1', 'features.7.expand3x3',
        'features.8.squeeze', 'features.8.expand1x1', 'features.8.expand3x3', 'features.9.squeeze',
        'features.9.expand1x1', 'features.9.expand3x3', 'features.10.squeeze', 'features.10.expand1x1',
        'features.10.expand3x3', 'features.12.squeeze', 'features.12.expand1x1', 'features.12.expand3x3')),
    ('weight', 'normal_', {'mean': 0, 'std': 0.01}, ('classifier.1',)),
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


def create(variant=None, **params) -> Squeezenet:
    """The network as archc builds it from the spec: `create(num_classes=10)`."""
    if variant is not None and variant != VARIANT:
        raise ValueError(f"this file holds variant {VARIANT!r}, not {variant!r}: emit it with --variant {variant}")
    # Built on the meta device, so no weight is drawn twice (PyTorch's default, then the spec's
    # rule): tensors are allocated empty and init_weights gives each its value once.
    device = torch.get_default_device()
    with torch.device("meta"):
        model = Squeezenet(**params)
    if not _restorable(model):
        model = Squeezenet(**params)  # a module sets tensors that no reset_parameters() redoes
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


def squeezenet_1_0(**params) -> Squeezenet:
    return create(**params)
