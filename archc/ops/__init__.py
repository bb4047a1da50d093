"""Op registry: every op archc knows, each declared once in the family modules here."""
from archc.ops.base import OPS, Op, ShapeError, get_op
from archc.ops import activation, conv, merge, norm, pad, paper, pool, tensor  # noqa: F401  (registers the ops)
from archc.ops import activation2, attention, learned, norm2, resample, shape  # noqa: F401  (language 1.1)
from archc.ops import scale  # noqa: F401

__all__ = ["OPS", "Op", "ShapeError", "get_op"]
