"""archc: a declarative architecture-spec compiler (YAML spec -> IR -> shapes -> PyTorch)."""
from archc.api import build, load_spec
from archc.drawing import draw
from archc.errors import SpecError
from archc.ops.plugins import register_op
from archc.spec.limits import Limits

__all__ = ["Limits", "SpecError", "build", "draw", "load_spec", "register_op"]
__version__ = "0.1.0"
