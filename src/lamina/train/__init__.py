"""Training: DSSTNE's losses (whose gradients are its output deltas), sparseness penalty, weight
decay, seven optimizers, learning-rate decay, divergence brake, per-epoch denoising, the network
file, and the training loop (``train``).

Attributes are imported lazily (PEP 562), so ``lamina.train.network_file`` can be used without
importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BrakeDecision": "lamina.train.brake",
    "DivergenceBrake": "lamina.train.brake",
    "DenoisingMask": "lamina.train.denoising",
    "check_error_function": "lamina.train.losses",
    "output_loss": "lamina.train.losses",
    "output_loss_and_error": "lamina.train.losses",
    "OPTIMIZER_CLASSES": "lamina.train.optimizers",
    "DsstneOptimizer": "lamina.train.optimizers",
    "make_optimizer": "lamina.train.optimizers",
    "penalized_layers": "lamina.train.regularization",
    "regularization_error": "lamina.train.regularization",
    "sparseness_penalty": "lamina.train.regularization",
    "AlphaSchedule": "lamina.train.schedule",
    "set_learning_rate": "lamina.train.schedule",
    "train": "lamina.train.trainer",
    "TrainOptions": "lamina.train.options",
    "TrainResult": "lamina.train.options",
    "EpochReport": "lamina.train.options",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lamina.train' has no attribute {name!r}")
