"""Op registry: ops of paper-only architectures (FractalNet's join, LeNet-5's subsampling, capsules)."""
from __future__ import annotations
