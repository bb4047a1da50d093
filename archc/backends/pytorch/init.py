"""PyTorch backend: applying the IR's initialisation plan to a built model."""
from __future__ import annotations

import torch
import torch.nn as nn

from archc.ir.init_plan import InitCall


def apply_init(model: nn.Module, plan: dict[str, dict[str, InitCall]]) -> None:
    """Initialise tensors in module order, so a seeded build is reproducible."""
    with torch.no_grad():
        for path, module in model.named_modules():
            for tensor_name, call in sorted(plan.get(path, {}).items()):
                if call.scheme == "default":
                    continue
                tensor = getattr(module, tensor_name)
                getattr(nn.init, f"{call.scheme}_")(tensor, **dict(call.kwargs))
