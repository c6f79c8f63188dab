"""Rebuild a torch :class:`~lamina.nn.Network` from a network file, ready for inference.

``load_model`` reads the file (:func:`lamina.train.network_file.load_network`), builds the network
from its resolved config (:func:`lamina.nn.build_network`) and copies the stored weights in. The copy
uses the trainer's ``Network`` <-> ``WeightRecord`` conversion when ``lamina.train.weights`` provides
it; otherwise the fallback here handles FullyConnected weights and batch norm (the layers of every
DSSTNE recommendation network). The network is returned in eval mode: no dropout, no denoising,
batch norm with its running statistics, as DSSTNE's ``predict``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lamina.errors import CheckpointError, NotSupportedError
from lamina.train.network_file import NetworkFile, load_network

if TYPE_CHECKING:
    from lamina.nn import Network

__all__ = ["LoadedModel", "copy_weights", "load_model"]


@dataclass(frozen=True)
class LoadedModel:
    """A network file turned into a torch module.

    Attributes:
        path: the network file.
        file: its content (config, weight records, training state).
        network: the built network, in eval mode, on ``device``.
        device: where the network lives.
    """

    path: Path
    file: NetworkFile
    network: Network
    device: torch.device


def load_model(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a network file for inference.

    Args:
        path: a ``.nc`` network file written by ``lamina train`` (or by DSSTNE).
        device: torch device, e.g. ``"cpu"`` or ``"cuda:0"``.

    Returns:
        The file and its network (eval mode, weights loaded).

    Raises:
        CheckpointError: the file is missing or corrupt, or its weights do not fit its config.
        NotSupportedError: the network has a layer the fallback weight copy cannot fill.

    Example:
        >>> model = load_model("gl.nc")  # doctest: +SKIP
        >>> model.network.output_layers  # doctest: +SKIP
        ('Output',)
    """
    from lamina.nn import build_network

    path = Path(path)
    nf = load_network(path)
    network = build_network(nf.config, seed=0)
    copy_weights(network, nf, where=str(path))
    dev = torch.device(device)
    network = network.to(dev).eval()
    return LoadedModel(path=path, file=nf, network=network, device=dev)


def copy_weights(network: Network, nf: NetworkFile, *, where: str = "<network>") -> None:
    """Copy ``nf``'s weight and batch-norm records into ``network`` (in place).

    Raises:
        CheckpointError: a record names no connection of the network or has the wrong shape.
        NotSupportedError: a Convolutional weight (only the trainer's conversion handles those).
    """
    trainer_copy = _trainer_conversion()
    if trainer_copy is not None:
        trainer_copy(network, nf)
        return
    connections = {(c.input_layer, c.output_layer): c for c in network.connections}
    with torch.no_grad():
        for record in nf.weights:
            key = (record.input_layer, record.output_layer)
            conn = connections.get(key)
            if conn is None:
                raise CheckpointError(
                    f"{where}: weight {key[0]}->{key[1]} matches no connection of the network "
                    f"(connections: {[f'{a}->{b}' for a, b in connections]})"
                )
            _put(conn.bias, record.bias, f"{where}: weight {key[0]}->{key[1]} bias")
            if record.shared or record.weights is None:
                continue  # the shared matrix is filled from its own record
            if conn.weight.dim() != 2:
                raise NotSupportedError(
                    f"{where}: weight {key[0]}->{key[1]} is a convolution kernel; loading it needs "
                    "the trainer's weight conversion (lamina.train.weights)"
                )
            _put(conn.weight, record.weights, f"{where}: weight {key[0]}->{key[1]}")
        for bn in nf.batch_norm:
            module = network.layer(bn.layer).batch_norm  # type: ignore[union-attr]
            if module is None:
                raise CheckpointError(f"{where}: batch norm record for {bn.layer!r}, a layer without")
            for name, array in (
                ("weight", bn.scale),
                ("bias", bn.bias),
                ("running_mean", bn.running_mean),
                ("running_var", bn.running_var),
            ):
                _put(getattr(module, name), array, f"{where}: {bn.layer} batch norm {name}")


def _put(target: torch.Tensor, array: np.ndarray, where: str) -> None:
    source = torch.as_tensor(np.asarray(array, dtype=np.float32))
    if tuple(source.shape) != tuple(target.shape):
        raise CheckpointError(
            f"{where}: expected shape {tuple(target.shape)}, found {tuple(source.shape)}"
        )
    target.copy_(source)


def _trainer_conversion() -> Callable[[Any, NetworkFile], None] | None:
    """The trainer's ``load_weights(network, nf)`` if ``lamina.train.weights`` provides one."""
    try:
        from lamina.train import weights
    except ImportError:
        return None
    return getattr(weights, "load_weights", None)
