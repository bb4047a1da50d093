"""Backends: turn the IR into something that runs or can be read."""
