"""Network (model and checkpoint) files: DSSTNE's netCDF model layout plus Lamina's resume state.

Works on numpy arrays and config dataclasses only (no torch). See :func:`save_network`,
:func:`load_network` and the checkpoint helpers.
"""

from __future__ import annotations

from lamina.train.network_file.checkpoints import checkpoint_path, find_latest_checkpoint
from lamina.train.network_file.io import load_network, save_network
from lamina.train.network_file.records import (
    FORMAT_VERSION,
    BatchNormRecord,
    NetworkFile,
    TrainingState,
    WeightRecord,
)

__all__ = [
    "FORMAT_VERSION",
    "BatchNormRecord",
    "NetworkFile",
    "TrainingState",
    "WeightRecord",
    "checkpoint_path",
    "find_latest_checkpoint",
    "load_network",
    "save_network",
]
