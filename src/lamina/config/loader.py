"""``load_config``: the one load pipeline for DSSTNE network configs.

parse JSON -> match keys case-insensitively (unknown keys are errors) -> types and enum names ->
defaults -> cross-field checks. After it returns nothing re-validates: the config is trusted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from lamina.config.graph import check_graph
from lamina.config.jsontext import read_json_source
from lamina.config.keys import MIN_VERSION, NN_VERSION, TOP_KEYS
from lamina.config.layers import parse_layers
from lamina.config.model import NetworkConfig
from lamina.errors import ConfigError

__all__ = ["build_network", "load_config"]

# Network-level values a layer takes when it does not set its own (DSSTNE: NaN until filled).
_INHERITED_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(NetworkConfig)
    if f.name in ("relu_slope", "elu_alpha", "selu_lambda")
}


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any], *, name: str | None = None
) -> NetworkConfig:
    """Load, validate and complete a DSSTNE network config.

    Args:
        source: a path to a JSON file, JSON text (a ``str`` starting with ``{``), or an already
            parsed ``dict``.
        name: what messages call the source (default: the path, ``<string>`` for text, nothing for
            a dict).

    Returns:
        The frozen, fully defaulted :class:`NetworkConfig`. ``"N": "auto"`` stays ``"auto"`` until
        :meth:`NetworkConfig.resolve` is given the dataset widths.

    Raises:
        ConfigError: one error, ``<file>: <JSON path> <what is wrong>``, for the first problem found
            (``FILE:LINE:COLUMN`` for JSON syntax errors).

    Example:
        >>> cfg = load_config('{"Version": 0.8, "Layers": [{"N": 4}, {"N": 2}]}')
        >>> [layer.name for layer in cfg.layers], cfg.layers[1].sources
        (['Input0', 'Output1'], ('Input0',))
    """
    data, display = read_json_source(source, name)
    try:
        return build_network(data)
    except ConfigError as exc:
        if display is None:
            raise
        raise ConfigError(f"{display}: {exc.message}", exc.hint) from None


def build_network(data: Any) -> NetworkConfig:
    """Build a :class:`NetworkConfig` from parsed JSON data (the pipeline after parsing).

    Raises:
        ConfigError: as :func:`load_config`, without the file name.
    """
    matched = TOP_KEYS.match(data, "")
    fields: dict[str, Any] = {}
    for name, (key, raw, where) in matched.items():
        if name != "Layers":
            fields[key.field] = key.type.parse(raw, where)
    version = fields.setdefault("version", NN_VERSION)  # DSSTNE assumes its own version
    if version < MIN_VERSION - 1e-4:  # DSSTNE: version < 0.6999
        raise ConfigError(f"Version must be at least {MIN_VERSION}. Got {version!r}.")
    training = fields.get("training")
    if "decay" in fields and training is not None and training.decay is not None:
        raise ConfigError(
            "Decay and TrainingParameters.Decay are both set. Set only one: they mean the same "
            "learning-rate decay."
        )
    inherited = {k: fields.get(k, v) for k, v in _INHERITED_DEFAULTS.items()}
    key, raw, where = matched["Layers"]
    layers = parse_layers(raw, where, inherited)
    check_graph(layers, where)
    return NetworkConfig(layers=layers, **fields)
