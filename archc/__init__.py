"""archc: a declarative architecture-spec compiler (YAML spec -> IR -> shapes -> PyTorch)."""
from archc.api import build, load_spec
from archc.errors import SpecError

__all__ = ["SpecError", "build", "load_spec"]
__version__ = "0.1.0"
