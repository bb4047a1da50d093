"""Spec stage: the resource limits a spec is checked against before anything is built.

Spec files come from untrusted places, so every way a small file can ask for a huge
amount of work or memory has a ceiling, each far above what a real network needs and
each overridable (`archc.load_spec(..., limits=archc.Limits(max_nodes=10**6))`).
Expressions have fixed bounds of their own (archc/spec/expr.py).
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """Ceilings on what one spec may ask for; the defaults are 50-1000x the largest shipped spec."""

    max_file_bytes: int = 4 * 1024 * 1024
    # Values in the YAML document after aliases are expanded (a "billion laughs" file is tiny).
    max_yaml_values: int = 100_000
    # Blocks, groups and repeats inside each other.
    max_nesting: int = 64
    # Instances of one `repeat`.
    max_repeat: int = 10_000
    # Items expanded in the whole network: ops, block instances, groups, skipped optional nodes.
    max_nodes: int = 100_000
    # Learnable parameters; checked by `archc.build` and `archc build` before any weight exists.
    max_params: int = 10**10
    # The smoke forward of `archc build` (batch 1), checked before it runs. Activation memory is
    # estimated as 4 bytes per element of every input and op output, an overestimate: the
    # biggest shipped case, EfficientNet-B7 at 600x600, counts 3.8 GiB, and its whole build
    # peaks at 1.3 GB resident, weights and torch included. It needs 3.8 x 10^10 multiply-adds.
    max_activation_bytes: int = 16 * 1024**3
    max_macs: int = 5 * 10**11

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{f.name} must be a positive int, got {value!r}")


DEFAULT_LIMITS = Limits()
