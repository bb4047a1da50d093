"""The Python API: load_spec (no torch) and build (torch)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from archc.errors import Location
from archc.ir.graph import Network
from archc.ir.limits import check_param_count
from archc.ir.load import load_network
from archc.spec.limits import Limits


def load_spec(
    path: str | Path, variant: str | None = None, *, outputs: Sequence[str] | None = None,
    params: dict[str, Any] | None = None, limits: Limits | None = None, **more_params: Any,
) -> Network:
    """The validated, expanded spec graph with every shape, parameter and multiply-add count.

    `outputs` names intermediate nodes (dotted paths) to output instead of the spec's
    outputs, as a feature extractor. Spec params come as keywords, or in `params` for a
    param whose name is one of this function's own keywords. `limits` raises (or lowers)
    the resource ceilings a spec is checked against (archc.Limits).
    Raises archc.SpecError (every problem, each with file:line:col) for a bad spec.
    Never imports torch. Arguments of the wrong type raise TypeError.
    """
    wanted = _output_names(outputs)
    _check_types(params, limits)
    network = load_network(path, variant, {**(params or {}), **more_params}, limits)
    if wanted is not None:
        from archc.ir.extract import extract

        network = extract(network, wanted, Location(str(path), 1, 1))
    return network


def _output_names(outputs: Any) -> list[str] | None:
    """`outputs` as a list of names; a single string would otherwise be read letter by letter."""
    if outputs is None:
        return None
    if isinstance(outputs, str):
        raise TypeError(f"outputs must be a list of node names, not a string: write outputs=[{outputs!r}]")
    try:
        names = list(outputs)
    except TypeError:
        raise TypeError(f"outputs must be a list of node names, got {type(outputs).__name__}") from None
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"outputs must be node names (strings such as 'layer3'), got {name!r} ({type(name).__name__})")
    return names


def _check_types(params: Any, limits: Any) -> None:
    if limits is not None and not isinstance(limits, Limits):
        raise TypeError(
            f"limits must be an archc.Limits, such as archc.Limits(max_params=10**11), got {type(limits).__name__}"
        )
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of param names to values, got {type(params).__name__}")


def build(
    path: str | Path, variant: str | None = None, *, outputs: Sequence[str] | None = None,
    device: Any = None, dtype: Any = None, seed: int | None = None, params: dict[str, Any] | None = None,
    limits: Limits | None = None, **more_params: Any,
) -> Any:
    """Compile a spec into a torch.nn.Module whose submodules and state_dict keys follow the spec's names.

    With `outputs`, the module returns a dict of those intermediate outputs and computes
    only what they need. With `seed`, the weights are the same bit for bit on every build
    (the global random state is left as it was). A spec with more parameters than
    `limits.max_params` is refused with a SpecError before any weight is allocated.
    """
    network = load_spec(path, variant, outputs=outputs, params=params, limits=limits, **more_params)
    check_param_count(network, (limits or Limits()).max_params)  # before torch is even imported
    from archc.backends.pytorch.build import build_network

    return build_network(network, device=device, dtype=dtype, seed=seed)
