"""Packaging: the archc packages, and the shipped specs as `archc/specs` (the top-level `specs/` folder).

Everything else is in pyproject.toml; this file exists because a pyproject-only configuration
cannot combine package discovery with mapping one package folder elsewhere.
"""
from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["archc", "archc.*"]), "archc.specs"],
    package_dir={"archc.specs": "specs"},
)
