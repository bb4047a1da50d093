(
    'vit, variants base_patch16_224, small_patch16_224, tiny_patch16_224: written by `archc '
    'emit` from vit.yaml. Edit the spec, not this file.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'base_patch16_224'


def learnable_tensor(shape: tuple[int, ...], init: str = "zeros", scale: float = 1.0) -> nn.Parameter:
    """A learnable tensor a block holds under the node's name (timm's `cls_token`, `gamma`).

    `init`: "zeros", "ones", "constant" (every value `scale`), "normal" (std `scale`) or
    "trunc_normal" (std `scale`, cut at -2 and 2, as timm's trunc_normal_).
    """
    data = torch.zeros(shape)
    with torch.no_grad():
        if init == "ones":
            data.fill_(1.0)
        elif init == "constant":
            data.fill_(scale)
        elif init == "normal":
            data.normal_(0.0, scale)
        elif init == "trunc_normal":
            nn.init.trunc_normal_(data, 0.0, scale, -2.0, 2.0)
    return nn.Parameter(data)


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens, with timm's `Attention` layout (`qkv`, `proj`)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, proj_bias: bool = True) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(batch, tokens, dim))

    def extra_repr(self) -> str:
        return f"heads={self.heads}"


class PatchEmbed(nn.Module):
    def __init__(self, dim=768):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, 16, stride=16)

    def forward(self, x):
        x = self.proj(x)
        x = torch.flatten(x, 2)
        x = x.transpose(1, 2)
        return x


class EncoderBlock(nn.Module):
    def __init__(self, fc2_out_features, heads=12, dim=768):
        super().__init__()
        self.norm1 = nn.LayerNorm(fc2_out_features, eps=1e-06)
        self.attn = SelfAttention(fc2_out_features, heads)
        self.norm2 = nn.LayerNorm(fc2_out_features, eps=1e-06)
        self.mlp = nn.Sequential(OrderedDict([
            ('fc1', nn.Linear(fc2_out_features, 4 * dim)),
            ('1', nn.GELU()),
            ('fc2', nn.Linear(4 * dim, dim)),
        ]))

    def forward(self, x):
        out = self.norm1(x)
        out = self.attn(out)
        out = out.add_(x)
        out_2 = self.norm2(out)
        out_2 = self.mlp(out_2)
        out_2 = out_2.add_(out)
        return out_2


class Vit(nn.Module):
    (
        'Vision Transformer (Dosovitskiy et al., 2020) as timm builds it: non-overlapping patches '
        'embedded by a strided conv, a learned class token and position embedding, pre-norm encoder '
        "blocks (multi-head self-attention, GELU MLP), and a linear head on the class token's "
        'features.'
    )

    def __init__(
        self,
        patch_embed_dim=768,
        cls_token_arg0=(1, 1, 768),
        pos_embed_arg0=(1, 197, 768),
        heads=12,
        num_classes=1000,
    ):
        super().__init__()
        self.patch_embed = PatchEmbed(dim=patch_embed_dim)
        self.cls_token = learnable_tensor(cls_token_arg0, 'normal', 1e-06)
        self.pos_embed = learnable_tensor(pos_embed_arg0, 'trunc_normal', 0.02)
        self.blocks = nn.Sequential(
            *[EncoderBlock(patch_embed_dim, heads=heads, dim=patch_embed_dim) for _ in range(12)],
        )
        self.norm = nn.LayerNorm(patch_embed_dim, eps=1e-06)
        self.head = nn.Linear(patch_embed_dim, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] == 224,
            'this network takes input height H = 224 only (`embedded` (an add) needs ((H - '
            '16) // 16 + 1) * ((W - 16) // 16 + 1) + 1 == 197)',
        )
        torch._assert(
            x.shape[3] == 224,
            'this network takes input width W = 224 only (`embedded` (an add) needs ((H - '
            '16) // 16 + 1) * ((W - 16) // 16 + 1) + 1 == 197)',
        )
        x = self.patch_embed(x)
        out = self.cls_token.expand(x.shape[0], -1, -1)
        out = torch.cat([out, x], 1)
        pos_embed = self.pos_embed.expand(out.shape[0], -1, -1)
        out_2 = out + pos_embed
        out_2 = self.blocks(out_2)
        out_2 = self.norm(out_2)
        out_2 = out_2.select(1, 0)
        out_2 = self.head(out_2)  # N x 1000
        return out_2


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'base_patch16_224': (Vit, {}),
    'small_patch16_224': (Vit, {'patch_embed_dim': 384, 'cls_token_arg0': (1, 1, 384), 'pos_embed_arg0': (1, 197,
        384), 'heads': 6}),
    'tiny_patch16_224': (Vit, {'patch_embed_dim': 192, 'cls_token_arg0': (1, 1, 192), 'pos_embed_arg0': (1, 197,
        192), 'heads': 3}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('num_classes',)

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
    ('bias', 'zeros_', {}, ('blocks.0.mlp.fc1', 'blocks.0.mlp.fc2', 'blocks.1.mlp.fc1', 'blocks.1.mlp.fc2',
        'blocks.2.mlp.fc1', 'blocks.2.mlp.fc2', 'blocks.3.mlp.fc1', 'blocks.3.mlp.fc2', 'blocks.4.mlp.fc1',
        'blocks.4.mlp.fc2', 'blocks.5.mlp.fc1', 'blocks.5.mlp.fc2', 'blocks.6.mlp.fc1', 'blocks.6.mlp.fc2',
        'blocks.7.mlp.fc1', 'blocks.7.mlp.fc2', 'blocks.8.mlp.fc1', 'blocks.8.mlp.fc2', 'blocks.9.mlp.fc1',
        'blocks.9.mlp.fc2', 'blocks.10.mlp.fc1', 'blocks.10.mlp.fc2', 'blocks.11.mlp.fc1', 'blocks.11.mlp.fc2',
        'head')),
    ('weight', 'trunc_normal_', {'mean': 0.0, 'std': 0.02, 'a': -2.0, 'b': 2.0}, ('blocks.0.mlp.fc1',
        'blocks.0.mlp.fc2', 'blocks.1.mlp.fc1', 'blocks.1.mlp.fc2', 'blocks.2.mlp.fc1', 'blocks.2.mlp.fc2',
        'blocks.3.mlp.fc1', 'blocks.3.mlp.fc2', 'blocks.4.mlp.fc1', 'blocks.4.mlp.fc2', 'blocks.5.mlp.fc1',
        'blocks.5.mlp.fc2', 'blocks.6.mlp.fc1', 'blocks.6.mlp.fc2', 'blocks.7.mlp.fc1', 'blocks.7.mlp.fc2',
        'blocks.8.mlp.fc1', 'blocks.8.mlp.fc2', 'blocks.9.mlp.fc1', 'blocks.9.mlp.fc2', 'blocks.10.mlp.fc1',
        'blocks.10.mlp.fc2', 'blocks.11.mlp.fc1', 'blocks.11.mlp.fc2', 'head')),
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


def create(variant=None, **params) -> Vit:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('base_patch16_224')`."""
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




def vit_base_patch16_224(**params) -> Vit:
    return create('base_patch16_224', **params)


def vit_small_patch16_224(**params) -> Vit:
    return create('small_patch16_224', **params)


def vit_tiny_patch16_224(**params) -> Vit:
    return create('tiny_patch16_224', **params)
