"""Fused CPU kernels in plain C (``kernels.c``), compiled at first use and loaded with ctypes.

:mod:`~lamina.nn.native.build` compiles and caches the library (or reports it unavailable: then
every caller runs its pure-torch twin); :mod:`~lamina.nn.native.ops` wraps each kernel as a torch
function with that twin; :mod:`~lamina.nn.native.functions` holds the autograd Functions the
layers use in training (sigmoid with the softplus row sums the loss needs, and the sparse input
layer with a direct embedding-bag weight gradient). ``LAMINA_NATIVE=0`` forces the torch path.
"""

from __future__ import annotations

from lamina.nn.native.build import enabled, load, reset
from lamina.nn.native.functions import sigmoid_training, sparse_affine, stashed_softplus_rows

__all__ = [
    "enabled",
    "load",
    "reset",
    "sigmoid_training",
    "sparse_affine",
    "stashed_softplus_rows",
]
