"""Rebuild a torch :class:`~lamina.nn.Network` from a network file, ready for inference.

``load_model`` reads the file (:func:`lamina.train.network_file.load_network`), builds the network
from its resolved config (:func:`lamina.nn.build_network`) and copies the stored weights in with the
trainer's :func:`lamina.train.weights.load_records`. The network is returned in eval mode: no
dropout, no denoising, batch norm with its running statistics, as DSSTNE's ``predict``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from lamina.errors import CheckpointError
from lamina.train.network_file import NetworkFile, load_network
from lamina.train.weights import load_records

if TYPE_CHECKING:
    from lamina.nn import Network

__all__ = ["LoadedModel", "load_model"]


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

    Example:
        >>> model = load_model("gl.nc")  # doctest: +SKIP
        >>> model.network.output_layers  # doctest: +SKIP
        ('Output',)
    """
    from lamina.nn import build_network

    path = Path(path)
    nf = load_network(path)
    network = build_network(nf.config, seed=0)
    try:
        load_records(network, nf)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc.message}", hint=exc.hint) from None
    dev = torch.device(device)
    network = network.to(dev).eval()
    return LoadedModel(path=path, file=nf, network=network, device=dev)
