"""Lamina: DSSTNE's network definition language and tools, on PyTorch.

A user describes a network in DSSTNE's JSON language, converts data with
``lamina generate-netcdf`` and trains and predicts from the command line, on CPU or GPU.
See ``docs/architecture.md`` for the layers.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
