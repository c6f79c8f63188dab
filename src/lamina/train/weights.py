"""Network <-> network-file records: copy torch parameters to numpy ``WeightRecord``s and back.

Parameters are copied in the shapes ``lamina.nn`` holds them, which are DSSTNE's layouts (see
:mod:`lamina.train.network_file.shapes`): FullyConnected matrices ``W[n_in][n_out]``, convolution
filters ``(C_out, C_in, *kernel)`` with one bias per output channel, batch norm per unit
(FullyConnected) or per channel (Convolutional). Shared connections are written as references (no
matrix), as DSSTNE writes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from lamina.errors import CheckpointError
from lamina.nn import Network
from lamina.train.network_file import BatchNormRecord, NetworkFile, WeightRecord

__all__ = ["load_records", "parameter_groups", "to_records"]


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


def parameter_groups(network: Network) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weight matrices, everything else): each owned matrix once, in connection order, then biases
    and batch-norm parameters in ``parameters()`` order. Only the first list is weight-decayed."""
    weights: list[nn.Parameter] = []
    seen: set[int] = set()
    for conn in network.connections:
        if id(conn.weight) not in seen:
            seen.add(id(conn.weight))
            weights.append(conn.weight)
    others = [p for p in network.parameters() if id(p) not in seen]
    return weights, others


def _batch_norms(network: Network) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in network.order:
        cfg = network.layer_config(name)
        if cfg.batch_normalization:
            bn = getattr(network.layer(name), "batch_norm", None)
            if bn is not None:
                out[name] = bn
    return out


def to_records(network: Network) -> tuple[list[WeightRecord], list[BatchNormRecord]]:
    """The network's weights and batch-norm state as records (numpy copies, float32).

    Returns:
        ``(weights, batch_norm)``: one :class:`WeightRecord` per connection, in
        ``network.connections`` order (weights ``(n_in, n_out)`` or ``(C_out, C_in, *kernel)``,
        ``None`` when shared), and one :class:`BatchNormRecord` per batch-normalised layer.
    """
    records = []
    for conn in network.connections:
        cfg = network.layer_config(conn.output_layer)
        records.append(
            WeightRecord(
                input_layer=conn.input_layer,
                output_layer=conn.output_layer,
                weights=None if conn.shared else _numpy(conn.weight),
                bias=_numpy(conn.bias),
                shared=conn.shared,
                transposed=conn.transposed,
                source_input_layer=conn.source[0] if conn.source else "",
                source_output_layer=conn.source[1] if conn.source else "",
                norm=float(cfg.weight_norm),
            )
        )
    bns = [
        BatchNormRecord(
            layer=name,
            scale=_numpy(bn.weight),
            bias=_numpy(bn.bias),
            running_mean=_numpy(bn.running_mean),
            running_var=_numpy(bn.running_var),
        )
        for name, bn in _batch_norms(network).items()
    ]
    return records, bns


@torch.no_grad()
def load_records(network: Network, nf: NetworkFile) -> None:
    """Copy the weights, biases and batch-norm state of ``nf`` into ``network`` (same config).

    Raises:
        CheckpointError: a connection or batch-norm layer is missing from the file, or an array
            has another shape than the network's parameter (e.g. a convolution's kernel).
    """
    for conn in network.connections:
        where = f"{conn.input_layer}->{conn.output_layer}"
        try:
            rec = nf.weight(conn.input_layer, conn.output_layer)
        except KeyError:
            raise CheckpointError(
                f"the network file has no weights for connection {where}"
            ) from None
        if not conn.shared:
            _copy(conn.weight, rec.weights, f"{where} weights")
        _copy(conn.bias, rec.bias, f"{where} bias")
    bns = {bn_rec.layer: bn_rec for bn_rec in nf.batch_norm}
    for name, bn in _batch_norms(network).items():
        if name not in bns:
            raise CheckpointError(f"the network file has no batch-norm state for layer {name!r}")
        bn_rec = bns[name]
        _copy(bn.weight, bn_rec.scale, f"{name} BN scale")
        _copy(bn.bias, bn_rec.bias, f"{name} BN bias")
        _copy(bn.running_mean, bn_rec.running_mean, f"{name} BN running mean")
        _copy(bn.running_var, bn_rec.running_var, f"{name} BN running variance")


def _copy(dst: torch.Tensor, src: np.ndarray | None, where: str) -> None:
    if src is None or tuple(src.shape) != tuple(dst.shape):
        found = None if src is None else tuple(src.shape)
        raise CheckpointError(f"{where}: expected shape {tuple(dst.shape)}. Got {found}.")
    dst.copy_(torch.from_numpy(np.ascontiguousarray(src)).to(dst))
