"""Op registry: every op archc knows, each declared once in the family modules here."""
from archc.ops.base import OPS, Op, ShapeError, get_op
from archc.ops import activation, conv, merge, norm, pad, pool, tensor  # noqa: F401  (registers the ops)
from archc.ops import attention, learned, resample, scale, shape  # noqa: F401
from archc.ops import capsule, fractal, lenet  # noqa: F401  (units of paper-only networks)

__all__ = ["OPS", "Op", "ShapeError", "get_op"]
