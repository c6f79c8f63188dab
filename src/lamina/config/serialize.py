"""``to_dict`` / ``from_dict``: a config as JSON-native DSSTNE data and back.

``to_dict`` writes DSSTNE's CamelCase keys with every default filled in, only the keys DSSTNE allows
for each layer kind, and enum values in their canonical spelling; it reads the same key tables the
parser uses, so ``from_dict(to_dict(c)) == c`` for every loadable config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamina.config.enums import LayerType
from lamina.config.keys import KIND_KEYS, LAYER_KEYS, TOP_KEYS
from lamina.config.model import LayerConfig, NetworkConfig

__all__ = ["from_dict", "layer_to_dict", "to_dict"]


def layer_to_dict(layer: LayerConfig) -> dict[str, Any]:
    """One layer as DSSTNE JSON: the keys its Kind allows, defaults included."""
    allowed = KIND_KEYS[layer.kind]
    out: dict[str, Any] = {}
    for key in LAYER_KEYS:
        if key.name not in allowed:
            continue
        if key.name == "Function" and layer.type != LayerType.POOLING:
            continue
        value = getattr(layer, key.field)
        if value is not None:  # None: DataSet unset, no per-layer SparsenessPenalty
            out[key.name] = key.type.dump(value)
    return out


def to_dict(config: NetworkConfig) -> dict[str, Any]:
    """The config as JSON-native data in DSSTNE's language, every default written out.

    ``TrainingParameters`` appears only when the config has one, with only the values it sets; the
    top-level ``Decay`` is left out when ``TrainingParameters.Decay`` carries the decay.

    Example:
        >>> from lamina.config import load_config
        >>> d = to_dict(load_config('{"Layers": [{"N": 4}, {"N": 2}]}'))
        >>> d["ErrorFunction"], d["Layers"][1]["Activation"], d["Layers"][1]["Source"]
        ('CrossEntropy', 'Sigmoid', ['Input0'])
    """
    out: dict[str, Any] = {}
    for key in TOP_KEYS:
        value = getattr(config, key.field)
        if key.name == "Layers":
            out[key.name] = [layer_to_dict(layer) for layer in value]
        elif key.name == "Decay" and config.training and config.training.decay is not None:
            continue
        elif value is not None:
            out[key.name] = key.type.dump(value)
    return out


def from_dict(data: Mapping[str, Any], *, name: str | None = None) -> NetworkConfig:
    """Load a config from parsed JSON data; the same as :func:`lamina.config.load_config` on a
    dict."""
    from lamina.config.loader import load_config

    return load_config(data, name=name)
