"""DSSTNE's network definition language: parse, validate, fill defaults, serialize. Imports neither
torch nor ray, so ``lamina --help`` and ``lamina config validate`` are instant.

Public API:
    load_config(source, *, name=None) -> NetworkConfig   (path, JSON text or dict)
    to_dict(config) -> dict / from_dict(data) -> NetworkConfig
    json_schema() -> dict                                 (JSON Schema draft 2020-12)
    TOP_KEYS, LAYER_KEYS, KIND_KEYS, ...                  (the key tables all of these read)
"""

from __future__ import annotations

from lamina.config.keys import (
    KIND_KEYS,
    LAYER_KEYS,
    NN_VERSION,
    TOP_KEYS,
    TRAINING_PARAMETERS,
)
from lamina.config.loader import load_config
from lamina.config.model import (
    AUTO,
    LRN,
    SMCE,
    DeltaBoost,
    Denoising,
    LayerConfig,
    MaxOut,
    NetworkConfig,
    SharedWeights,
    SparsenessPenalty,
    TrainingParameters,
    WeightInit,
)
from lamina.config.schema import json_schema
from lamina.config.serialize import from_dict, layer_to_dict, to_dict

__all__ = [
    "AUTO",
    "KIND_KEYS",
    "LAYER_KEYS",
    "LRN",
    "NN_VERSION",
    "SMCE",
    "TOP_KEYS",
    "TRAINING_PARAMETERS",
    "DeltaBoost",
    "Denoising",
    "LayerConfig",
    "MaxOut",
    "NetworkConfig",
    "SharedWeights",
    "SparsenessPenalty",
    "TrainingParameters",
    "WeightInit",
    "from_dict",
    "json_schema",
    "layer_to_dict",
    "load_config",
    "to_dict",
]
