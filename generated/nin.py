(
    'nin, variant cifar10: written by `archc emit` from nin.yaml. Edit the spec, not this '
    'file.\n\nNetwork in Network (Lin, Chen & Yan, 2013): each "mlpconv" layer is a convolution '
    'followed by two 1x1 convolutions (a small MLP slid over the image), each with ReLU; the '
    'last mlpconv has one map per class and global average pooling replaces the fully connected '
    "classifier. `cifar10` has the widths of the authors' released CIFAR-10 model (192/160/96, "
    '192/192/192, 192/192/10; dropout after the first two mlpconv blocks; Caffe ceil-mode pools '
    "32->16->8): 966,986 parameters. `imagenet` is the authors' released ImageNet model "
    '(224x224; 96/96/96 at 11x11/4, 256/256/256 at 5x5, 384/384/384 at 3x3, dropout, '
    '1024/1024/1000 at 3x3, global average pool over 6x6): 7,595,176 parameters (the paper '
    'states no count).'
)

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'cifar10'


class Mlpconv(nn.Sequential):
    def __init__(self, in_channels, kernel, padding, out_channels, out_channels_2):
        super().__init__(
            nn.Conv2d(in_channels, 192, kernel, padding=padding),
            nn.ReLU(inplace=True),
            nn.Conv2d(192, out_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels_2, 1),
            nn.ReLU(inplace=True),
        )


class Nin(nn.Module):
    (
        'Network in Network (Lin, Chen & Yan, 2013): each "mlpconv" layer is a convolution followed '
        'by two 1x1 convolutions (a small MLP slid over the image), each with ReLU; the last '
        'mlpconv has one map per class and global average pooling replaces the fully connected '
        "classifier. `cifar10` has the widths of the authors' released CIFAR-10 model (192/160/96, "
        '192/192/192, 192/192/10; dropout after the first two mlpconv blocks; Caffe ceil-mode pools '
        "32->16->8): 966,986 parameters. `imagenet` is the authors' released ImageNet model "
        '(224x224; 96/96/96 at 11x11/4, 256/256/256 at 5x5, 384/384/384 at 3x3, dropout, '
        '1024/1024/1000 at 3x3, global average pool over 6x6): 7,595,176 parameters (the paper '
        'states no count).'
    )

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            Mlpconv(3, 5, 2, 160, 96),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Dropout(0.5),
            Mlpconv(96, 5, 2, 192, 192),
            nn.AvgPool2d(3, stride=2, ceil_mode=True),
            nn.Dropout(0.5),
            Mlpconv(192, 3, 1, 192, 10),
            nn.AvgPool2d(8, stride=1),
        )

    def forward(self, x):
        x = self.features(x)  # N x 10 x 1 x 1
        x = torch.flatten(x, 1)  # N x 10
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


def create(variant=None, **params) -> Nin:
    """The network as archc builds it from the spec: `create(num_classes=10)`."""
    if variant is not None and variant != VARIANT:
        raise ValueError(f"this file holds variant {VARIANT!r}, not {variant!r}: emit it with --variant {variant}")
    if not INIT:
        return Nin(**params)  # PyTorch's default initialisation throughout: drawn once
    # Built on the meta device, so no weight is drawn twice (PyTorch's default, then the spec's
    # rule): tensors are allocated empty and each gets its value once.
    device = torch.get_default_device()
    with torch.device("meta"):
        model = Nin(**params)
    plan = _init_plan(model, empty=True)
    if plan is None:
        model = Nin(**params)  # a module sets tensors that no reset_parameters() redoes
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


def nin_cifar10(**params) -> Nin:
    return create(**params)
