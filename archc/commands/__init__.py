"""Command line: one module per `archc` subcommand.

Each module defines NAME, HELP, `configure(parser)` and `run(args) -> int`; the CLI finds
them here, so adding a command touches only its own file. Modules import torch lazily:
`validate`, `summary` and `draw` must never import it.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def command_modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]
