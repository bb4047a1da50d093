"""archc: a declarative architecture-spec compiler (YAML spec -> IR -> shapes -> PyTorch)."""
from archc.api import build, emit, load_spec, loads
from archc.drawing import draw
from archc.errors import SpecError
from archc.models import export, load_weights
from archc.ops.plugins import register_op
from archc.spec.limits import Limits
from archc.zoo import list_specs

__all__ = [
    "Limits", "SpecError", "build", "draw", "emit", "export", "list_specs", "load_spec", "load_weights", "loads",
    "register_op",
]
__version__ = "0.1.0"
