"""Shapes stage: sizes over the input symbols, and the input sizes a network accepts."""
