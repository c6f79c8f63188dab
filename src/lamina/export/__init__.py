"""``lamina.export``: trained networks to ONNX, optionally int8, verified against fp32.

Public API (imported lazily: ``lamina.export.runtime`` serves models without torch):

* :func:`export_network` (``lamina export``) -> :class:`ExportResult`;
* :class:`ExportSettings` (int8 mode, weight type, per-channel, verification bounds);
* :class:`VerifyReport`;
* :func:`load_onnx` -> :class:`OnnxNetwork` (ONNX Runtime, numpy only);
* :func:`build_onnx` (a :class:`lamina.nn.Network` as an ONNX graph) and :func:`quantize`.

ONNX contract: inputs ``dense_<Input layer>`` (B, units) float32, or for Input layers marked
``Sparse`` (``ExportSettings.input_form="sparse"``, the default) ``indices_<layer>`` (B, L) int64
and ``values_<layer>`` (B, L) float32, padded; outputs named after the layers,
(B, units) float32; ``lamina.*`` metadata (see :mod:`lamina.export.metadata`).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ExportMetadata",
    "ExportResult",
    "ExportSettings",
    "OnnxNetwork",
    "VerifyReport",
    "build_onnx",
    "export_network",
    "load_onnx",
    "quantize",
]

_WHERE = {
    "ExportMetadata": "lamina.export.metadata",
    "ExportResult": "lamina.export.api",
    "ExportSettings": "lamina.export.settings",
    "OnnxNetwork": "lamina.export.runtime",
    "VerifyReport": "lamina.export.verify",
    "build_onnx": "lamina.export.onnx_graph",
    "export_network": "lamina.export.api",
    "load_onnx": "lamina.export.runtime",
    "quantize": "lamina.export.quantize",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'lamina.export' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
