"""Spec stage: reading YAML spec files into validated, located Pydantic models."""
