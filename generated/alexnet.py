(
    'alexnet, variant torchvision: written by `archc emit` from alexnet.yaml. Edit the spec, '
    "not this file.\n\nAlexNet. `torchvision` is torchvision's single-tower network (Krizhevsky's "
    '2014 "one weird trick" widths 64/192/384/256/256, no LRN, a 6x6 adaptive pool before the '
    "classifier). `original` is the 2012 paper's two-GPU network on 227x227 input: "
    "96/256/384/384/256 filters, conv2, conv4 and conv5 seeing only their own GPU's maps "
    '(groups=2), response normalisation after the ReLUs of conv1 and conv2, overlapping 3x3/2 '
    'max-pooling.'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'torchvision'


class Alexnet(nn.Module):
    (
        'AlexNet. `torchvision` is torchvision\'s single-tower network (Krizhevsky\'s 2014 "one weird '
        'trick" widths 64/192/384/256/256, no LRN, a 6x6 adaptive pool before the classifier). '
        "`original` is the 2012 paper's two-GPU network on 227x227 input: 96/256/384/384/256 "
        "filters, conv2, conv4 and conv5 seeing only their own GPU's maps (groups=2), response "
        'normalisation after the ReLUs of conv1 and conv2, overlapping 3x3/2 max-pooling.'
    )

    def __init__(self, stem_padding=2, dropout=0.5, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=stem_padding),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(9216, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)  # N x 256 x 6 x 6
        x = self.avgpool(x)  # N x 256 x 6 x 6
        x = torch.flatten(x, 1)  # N x 9216
        x = self.classifier(x)  # N x 1000
        return x


# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
)


def init_weights(model: nn.Module, empty: bool = False) -> None:
    """Initialise the weights as the spec says, module by module (a seeded run is reproducible).

    `empty`: the model's tensors are still uninitialised (create() allocates them so, to draw
    each weight once): a module holding a tensor that no rule sets is first given PyTorch's
    own default initialisation, its `reset_parameters()`.
    """
    plan = _init_plan(model, empty)
    if plan is None:
        raise ValueError("a module holds tensors that neither an init rule nor its reset_parameters() sets")
    _run(plan)


def create(variant=None, **params) -> Alexnet:
    """The network as archc builds it from the spec: `create(num_classes=10)`."""
    if variant is not None and variant != VARIANT:
        raise ValueError(f"this file holds variant {VARIANT!r}, not {variant!r}: emit it with --variant {variant}")
    if not INIT:
        return Alexnet(**params)  # PyTorch's default initialisation throughout: drawn once
    # Built on the meta device, so no weight is drawn twice (PyTorch's default, then the spec's
    # rule): tensors are allocated empty and each gets its value once.
    device = torch.get_default_device()
    with torch.device("meta"):
        model = Alexnet(**params)
    plan = _init_plan(model, empty=True)
    if plan is None:
        model = Alexnet(**params)  # a module sets tensors that no reset_parameters() redoes
        init_weights(model)
        return model
    # Module.to_empty, with torch.empty instead of empty_like of a meta tensor (three times slower).
    model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device=device))
    _run(plan)
    return model


def _run(plan: list) -> None:
    with torch.no_grad():
        for module, calls, reset in plan:
            if reset is not None:
                reset()
            for tensor, function, kwargs in calls:
                _initialise(getattr(module, tensor), function, kwargs)


def _initialise(tensor: torch.Tensor, function: str, kwargs: dict) -> None:
    """torch.nn.init.<function>(tensor, **kwargs).

    trunc_normal_ with both bounds 8 or more standard deviations out is drawn by normal_ (then
    clamped): the same distribution, as the mass cut off is 1e-15, four times faster than its
    inverse-CDF sampling (GoogLeNet's std 0.01 within +-2 cuts at 200 standard deviations).
    """
    if function == "trunc_normal_":
        mean, std, a, b = kwargs["mean"], kwargs["std"], kwargs["a"], kwargs["b"]
        if min(b - mean, mean - a) >= 8 * std:
            tensor.normal_(mean, std).clamp_(a, b)
            return
    getattr(nn.init, function)(tensor, **kwargs)


def _init_plan(model: nn.Module, empty: bool) -> list | None:
    """[(module, its init calls, the reset to run first or None)], in module order.

    None when `empty` and a module holds a tensor that neither a rule nor a reset sets.
    """
    rules = _init_rules()
    plan = []
    for path, module in model.named_modules():
        calls = _calls(rules, path, module)
        reset = _reset(module, calls) if empty and _keeps_default(module, calls) else None
        if reset is _NO_RESET:
            return None
        if calls or reset is not None:
            plan.append((module, calls, reset))
    return plan


def _init_rules() -> dict:
    """{module path, or "type " and a class name: [(tensor, init function, arguments)]}."""
    rules = {}
    for tensor, function, kwargs, where in INIT:
        for key in ((f"type {where}",) if isinstance(where, str) else where):
            rules.setdefault(key, []).append((tensor, function, kwargs))
    return rules


def _calls(rules: dict, path: str, module: nn.Module) -> list:
    """A module's init calls, by its path and by its type, in tensor order."""
    return sorted(rules.get(path, []) + rules.get(f"type {type(module).__name__}", []), key=lambda call: call[0])


def _keeps_default(module: nn.Module, calls) -> bool:
    """Whether the module holds a buffer, or a parameter that no rule sets."""
    ruled = {tensor for tensor, _, _ in calls}
    return any(True for _ in module.buffers(recurse=False)) or any(
        name not in ruled for name, _ in module.named_parameters(recurse=False)
    )


_NO_RESET = object()


def _reset(module: nn.Module, calls):
    """What gives the module's tensors that no rule sets their default values: its running
    statistics' reset where the rules set every parameter, else reset_parameters(), which
    is trusted with buffers only where it resets running statistics; else _NO_RESET."""
    has_buffers = any(True for _ in module.buffers(recurse=False))
    stats = getattr(module, "reset_running_stats", None)
    ruled = {tensor for tensor, _, _ in calls}
    if stats is not None and all(name in ruled for name, _ in module.named_parameters(recurse=False)):
        return stats
    if hasattr(module, "reset_parameters") and (not has_buffers or stats is not None):
        return module.reset_parameters
    return _NO_RESET


def alexnet_torchvision(**params) -> Alexnet:
    return create(**params)
