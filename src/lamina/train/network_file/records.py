"""What a network (model or checkpoint) file holds, as plain numpy arrays and config dataclasses.

No torch here: the trainer converts tensors to these records before saving and back after loading.
Fully-connected weight matrices are DSSTNE's layout, ``W[n_in][n_out]`` row-major, so
``Z = X @ W + b``. Convolution weights are ``(C_out, C_in, *kernel)`` (kernel in torch order, e.g.
``(kY, kX)``): cuDNN's NCHW filter, which DSSTNE stores row-major in the same order. See
:mod:`lamina.train.network_file.shapes` for every array's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina import __version__
from lamina.config.model import NetworkConfig

__all__ = [
    "FORMAT_VERSION",
    "BatchNormRecord",
    "NetworkFile",
    "TrainingState",
    "WeightRecord",
]

FORMAT_VERSION = 1  # Lamina's own attributes (lamina_*); bump when their meaning changes


@dataclass(frozen=True, eq=False)
class WeightRecord:
    """One connection ``input_layer -> output_layer`` (one per source of a layer, as in DSSTNE).

    Attributes:
        input_layer: name of the source layer.
        output_layer: name of the layer this connection feeds.
        weights: float32; ``(n_in, n_out)`` when ``output_layer`` is FullyConnected (or Pooling),
            ``(C_out, C_in, *kernel)`` when it is Convolutional (kernel axes in torch order:
            ``(kX,)``, ``(kY, kX)`` or ``(kZ, kY, kX)``, cross-correlation as cuDNN); ``None``
            for a shared connection (it reuses the weights of
            ``source_input_layer -> source_output_layer``).
        bias: float32 ``(n_out,)``, or ``(C_out,)`` (one per output channel) for a convolution;
            biases are never shared.
        shared: True when the matrix belongs to another connection.
        transposed: the shared matrix is used transposed.
        source_input_layer: input layer of the connection that owns the shared matrix.
        source_output_layer: output layer of the connection that owns the shared matrix.
        locked: excluded from updates.
        norm: max L2 norm of each output unit's incoming weights (0 = none).
    """

    input_layer: str
    output_layer: str
    weights: np.ndarray | None
    bias: np.ndarray
    shared: bool = False
    transposed: bool = False
    source_input_layer: str = ""
    source_output_layer: str = ""
    locked: bool = False
    norm: float = 0.0


@dataclass(frozen=True, eq=False)
class BatchNormRecord:
    """Batch-norm state of one layer; every array is float32 ``(n,)``: per unit (n = the layer's
    units) for a FullyConnected layer, per channel (n = C) for a Convolutional one, as DSSTNE."""

    layer: str
    scale: np.ndarray
    bias: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray


@dataclass(frozen=True, eq=False)
class TrainingState:
    """Everything needed to resume training exactly (Lamina only; DSSTNE cannot resume).

    Attributes:
        epoch: epochs completed.
        batches: minibatches completed (DSSTNE's ``_batches``: Adam's step and the decay schedule).
        optimizer: optimizer label, e.g. ``"Adam"``.
        optimizer_state: flat name -> array (velocities, moments ...); dtype and shape kept exactly.
        optimizer_meta: JSON-able data: hyper-parameters, step counts, brake state, lr schedule,
            seeds.
        data_widths: dataset name -> dims, as stored in the data files.
        index_checksums: index file name (e.g. ``"features_input"``) -> sha256 hex digest.
        metrics: metric name -> per-epoch history.
    """

    epoch: int
    batches: int
    optimizer: str
    optimizer_state: dict[str, np.ndarray] = field(default_factory=dict)
    optimizer_meta: dict[str, Any] = field(default_factory=dict)
    data_widths: dict[str, list[int]] = field(default_factory=dict)
    index_checksums: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class NetworkFile:
    """The whole content of a network file.

    Attributes:
        config: the resolved network config (no ``"auto"`` left).
        weights: one record per connection, in the order DSSTNE numbers them (``weight{i}_``).
        batch_norm: one record per layer with ``BatchNormalization``.
        training: resume state, or ``None`` for a plain model file.
        format_version: version of Lamina's ``lamina_*`` additions (0: a file DSSTNE wrote). Set
            by ``load_network``; ``save_network`` always writes its own.
        lamina_version: the Lamina release that wrote the file (``""`` for DSSTNE files).
        checkpoint_name: DSSTNE's ``checkpoint_name`` attribute (the checkpoint file prefix).
        checkpoint_interval: DSSTNE's ``checkpoint_interval`` (epochs between checkpoints, 0: none).
        checkpoint_epochs: DSSTNE's ``checkpoint_epochs`` (epochs since the last checkpoint).
    """

    config: NetworkConfig
    weights: list[WeightRecord]
    batch_norm: list[BatchNormRecord] = field(default_factory=list)
    training: TrainingState | None = None
    format_version: int = FORMAT_VERSION
    lamina_version: str = __version__
    checkpoint_name: str = "checkpoint"  # DSSTNE's descriptor default
    checkpoint_interval: int = 0
    checkpoint_epochs: int = 0

    def weight(self, input_layer: str, output_layer: str) -> WeightRecord:
        """Return the record of the connection ``input_layer -> output_layer``.

        Raises:
            KeyError: there is no such connection.
        """
        for record in self.weights:
            if record.input_layer == input_layer and record.output_layer == output_layer:
                return record
        raise KeyError(f"{input_layer}->{output_layer}")
