"""``lamina.nn``: DSSTNE networks as ``torch.nn.Module`` graphs.

Public API: :func:`build_network` (config + dataset widths -> :class:`Network`),
:class:`NetworkOutputs`, :class:`Connection`, :func:`summary` / :func:`render_summary`. Tensor
shapes are described in :mod:`lamina.nn.geometry`: FullyConnected layers ``(B, N)``,
Convolutional/Pooling layers ``(B, C, *spatial)`` with DSSTNE's ``(Nx, Ny, Nz)`` mapped to ``(B, Nz,
Ny, Nx)``.
"""

from __future__ import annotations

from lamina.nn.build import build_network
from lamina.nn.geometry import LayerGeometry
from lamina.nn.network import Connection, Network, NetworkOutputs
from lamina.nn.summary import LayerRow, render_summary, summary

__all__ = [
    "Connection",
    "LayerGeometry",
    "LayerRow",
    "Network",
    "NetworkOutputs",
    "build_network",
    "render_summary",
    "summary",
]
