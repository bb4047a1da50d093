"""The Python API: load_spec, loads (no torch) and build (torch)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from archc.gc_pause import without_cycle_collection
from archc.errors import Location, spec_error
from archc.ir.graph import Network
from archc.ir.limits import check_param_count
from archc.ir.load import expand_source, load_network
from archc.spec.limits import DEFAULT_LIMITS, Limits
from archc.zoo import resolve

if TYPE_CHECKING:
    import torch

# What a spec argument may be: a shipped spec's name ("resnet"), a file, or the spec as a dict.
SpecLike = str | Path | Mapping[str, Any]


@without_cycle_collection
def load_spec(
    path: SpecLike, variant: str | None = None, *, outputs: Sequence[str] | None = None,
    params: dict[str, Any] | None = None, limits: Limits | None = None, input_shape: Sequence[int] | None = None,
    **more_params: Any,
) -> Network:
    """The validated, expanded spec graph with every shape, parameter and multiply-add count.

    `input_shape` replaces the spec's `input:` (per sample, channels first: `(3, 160, 160)`).
    `path` is a spec file, the name of a shipped spec (`"resnet"`: see `archc list`), or the
    spec itself as a dict (as `yaml.safe_load` gives; errors then point into its YAML dump).
    `outputs` names intermediate nodes (dotted paths) to output instead of the spec's
    outputs, as a feature extractor. Spec params come as keywords, or in `params` for a
    param whose name is one of this function's own keywords. `limits` raises (or lowers)
    the resource ceilings a spec is checked against (archc.Limits).
    Raises archc.SpecError (every problem, each with file:line:col) for a bad spec.
    Never imports torch. Arguments of the wrong type raise TypeError.
    """
    wanted = _output_names(outputs)
    _check_types(params, limits)
    merged = {**(params or {}), **more_params}
    shape = _input_shape(input_shape)
    if isinstance(path, Mapping):
        network = _load_text(_dump(path), "<dict>", variant, merged, limits, shape)
    elif isinstance(path, (str, Path)):
        path = resolve(path)
        if shape is None:
            network = load_network(path, variant, merged, limits)
        else:
            from archc.spec.source import read_spec_text

            text = read_spec_text(path, (limits or DEFAULT_LIMITS).max_file_bytes)
            network = _load_text(text, str(path), variant, merged, limits, shape)
    else:
        raise TypeError(f"a spec is a file path, a shipped spec's name or a dict, got {type(path).__name__}")
    return _extracted(network, wanted, str(path) if not isinstance(path, Mapping) else "<dict>")


@without_cycle_collection
def loads(
    text: str, variant: str | None = None, *, outputs: Sequence[str] | None = None, name: str = "<string>",
    params: dict[str, Any] | None = None, limits: Limits | None = None, input_shape: Sequence[int] | None = None,
    **more_params: Any,
) -> Network:
    """As load_spec, for a spec given as YAML text; errors are located as `NAME:LINE:COL`."""
    if not isinstance(text, str):
        raise TypeError(f"loads takes the spec's YAML text as a str, got {type(text).__name__}")
    wanted = _output_names(outputs)
    _check_types(params, limits)
    network = _load_text(text, name, variant, {**(params or {}), **more_params}, limits, _input_shape(input_shape))
    return _extracted(network, wanted, name)


def _input_shape(shape: Any) -> list[int] | None:
    if shape is None:
        return None
    dims = list(shape) if isinstance(shape, (list, tuple)) else None
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise TypeError(f"input_shape must be positive ints, channels first without the batch, such as (3, 160, 160), got {shape!r}")
    return dims


def _with_input(source: Any, shape: list[int]) -> Any:
    """The loaded spec with its one input's shape replaced (`--input 3x160x160`)."""
    from dataclasses import replace

    data = source.data
    if isinstance(data, dict) and isinstance(data.get("inputs"), dict):
        if len(data["inputs"]) != 1:
            raise spec_error(source.at(("inputs",)), "the spec has several inputs; an input shape override needs exactly one")
        return replace(source, data={**data, "inputs": {next(iter(data["inputs"])): shape}})
    if isinstance(data, dict):
        return replace(source, data={**data, "input": shape})
    return source


def _load_text(
    text: str, name: str, variant: str | None, params: dict[str, Any], limits: Limits | None,
    input_shape: list[int] | None = None,
) -> Network:
    from archc.ops.plugins import load_entry_points
    from archc.spec.source import load_source

    limits = limits or DEFAULT_LIMITS
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_file_bytes:
        raise spec_error(Location(name, 1, 1), f"spec is larger than {limits.max_file_bytes:,} bytes (Limits.max_file_bytes)")
    load_entry_points()
    source = load_source(text, name, limits.max_yaml_values)
    if input_shape is not None:
        source = _with_input(source, input_shape)
    try:
        return expand_source(source, variant, params, limits)
    except RecursionError:
        raise spec_error(source.at(("body",)), "the spec nests too deeply to expand (Limits.max_nesting)") from None


def _dump(spec: Mapping[str, Any]) -> str:
    """A dict spec as YAML text, so it goes through the same checks as a file."""
    import yaml

    try:
        return yaml.safe_dump(dict(spec), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise TypeError(f"a dict spec must hold only YAML values (str, int, float, bool, None, list, dict): {exc}") from None


def _extracted(network: Network, wanted: list[str] | None, where: str) -> Network:
    if wanted is not None:
        from archc.ir.extract import extract

        network = extract(network, wanted, Location(where, 1, 1))
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


@without_cycle_collection
def build(
    path: SpecLike | Network, variant: str | None = None, *, outputs: Sequence[str] | None = None,
    device: Any = None, dtype: Any = None, seed: int | None = None, params: dict[str, Any] | None = None,
    limits: Limits | None = None, input_shape: Sequence[int] | None = None, **more_params: Any,
) -> torch.nn.Module:
    """Compile a spec into a torch.nn.Module whose submodules and state_dict keys follow the spec's names.

    `path` is what load_spec takes, or a Network it (or `loads`) returned. With `outputs`,
    the module returns a dict of those intermediate outputs and computes only what they
    need, and has a timm-style `feature_info` (channels and reduction per output). With
    `seed`, the weights are the same bit for bit on every build (the global random state is
    left as it was). A spec with more parameters than `limits.max_params` is refused with a
    SpecError before any weight is allocated. Needs torch (`pip install 'archc[torch]'`).
    """
    if isinstance(path, Network):
        network = path if outputs is None else _extracted(path, _output_names(outputs), path.path)
    else:
        network = load_spec(
            path, variant, outputs=outputs, params=params, limits=limits, input_shape=input_shape, **more_params
        )
    check_param_count(network, (limits or Limits()).max_params)  # before torch is even imported
    from archc.models import require_torch

    require_torch("archc.build")
    from archc.backends.pytorch.build import build_network
    from archc.models import annotate

    return annotate(build_network(network, device=device, dtype=dtype, seed=seed), network)


@without_cycle_collection
def emit(
    path: SpecLike, variant: str | None = None, *, outputs: Sequence[str] | None = None,
    params: dict[str, Any] | None = None, limits: Limits | None = None, **more_params: Any,
) -> str:
    """The network as one standalone Python module (it imports only torch), as `archc emit` writes it.

    `create()` in that module builds exactly what `archc.build` builds with the same
    arguments: built models run this very source. Never imports torch.
    """
    from archc.backends.python.emit import emit_variants

    network = load_spec(path, variant, outputs=outputs, params=params, limits=limits, **more_params)
    return emit_variants(every_variant(network, variant, outputs, params or more_params, limits)).source


def every_variant(network: Network, variant: str | None, outputs: Any, params: Any, limits: Limits | None) -> list[Network]:
    """What `emit` writes: every variant of the spec (the default first), unless a variant,
    outputs or params were asked for; then that one network."""
    if variant is not None or outputs or params or len(network.variants) < 2 or not Path(network.path).is_file():
        return [network]
    from archc.ir.load import load_network

    return [network] + [load_network(network.path, v, {}, limits) for v in network.variants[1:]]
