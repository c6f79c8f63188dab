"""Parsing ``"Layers"`` as ``LoadNeuralNetworkJSON`` does (spec 1.3): kinds by position, keys
checked
per kind, default names and sources, network-level slopes inherited. References between layers are
checked afterwards by :mod:`lamina.config.graph`, once every name is known.
"""

from __future__ import annotations

from typing import Any

from lamina.config.enums import (
    POOLING_FUNCTIONS,
    LayerKind,
    LayerType,
    PoolingFunction,
    label,
)
from lamina.config.keys import KIND_KEYS, LAYER_KEYS
from lamina.config.model import AUTO, LayerConfig
from lamina.errors import ConfigError

__all__ = ["parse_layers"]

_INHERITED = ("relu_slope", "elu_alpha", "selu_lambda")  # NaN in DSSTNE's descriptor until filled


def parse_layers(value: Any, path: str, network: dict[str, float]) -> tuple[LayerConfig, ...]:
    """Parse the ``"Layers"`` value into layer configs.

    Args:
        value: an array of layer objects, or a single layer object.
        path: JSON path of the value (``"Layers"``).
        network: the network-level ``relu_slope``, ``elu_alpha`` and ``selu_lambda`` layers inherit.

    Returns:
        One :class:`LayerConfig` per element, in order, every default filled in.

    Raises:
        ConfigError: naming the layer's JSON path (``Layers[2].N``) and what is wrong.
    """
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(f"{path} must contain at least one layer. Got [].")
    # A single object: DSSTNE reads it as a one-layer list.
    path_of = [f"{path}[{i}]" for i in range(len(items))] if isinstance(value, list) else [path]
    layers: list[LayerConfig] = []
    used: dict[str, str] = {}
    for i, obj in enumerate(items):
        layer = _parse_layer(obj, path_of[i], i, len(items), layers, network)
        if layer.name in used:
            named = isinstance(obj, dict) and any(k.lower() == "name" for k in obj)
            what = "duplicate layer name" if named else "the default name"
            raise ConfigError(
                f"{path_of[i]}{'.Name' if named else ''}: {what} {layer.name!r} is already used "
                f"by {used[layer.name]}."
            )
        used[layer.name] = path_of[i]
        layers.append(layer)
    return tuple(layers)


def _parse_layer(
    obj: Any,
    path: str,
    index: int,
    count: int,
    previous: list[LayerConfig],
    network: dict[str, float],
) -> LayerConfig:
    matched = LAYER_KEYS.match(obj, path)
    # Pass 1 (as DSSTNE): Kind and Type decide which other keys are allowed.
    kind = LayerKind.INPUT if index == 0 else LayerKind.OUTPUT if index == count - 1 else None
    kind = kind if kind is not None else LayerKind.HIDDEN
    if "Kind" in matched:
        key, raw, where = matched["Kind"]
        kind = key.type.parse(raw, where)
    layer_type = LayerType.FULLY_CONNECTED
    if "Type" in matched:
        key, raw, where = matched["Type"]
        layer_type = key.type.parse(raw, where)
    LAYER_KEYS.match(obj, path, allowed=KIND_KEYS[kind], context=f" on {label(kind)} layers")
    if "Function" in matched and layer_type != LayerType.POOLING:
        raise ConfigError(
            f"{matched['Function'][2]} is only allowed on layers with Type Pooling "
            f"(this layer's Type is {label(layer_type)})."
        )

    # Pass 2: every value through its key's type.
    fields: dict[str, Any] = {"kind": kind, "type": layer_type}
    for name, (key, raw, where) in matched.items():
        if name not in ("Kind", "Type"):
            fields[key.field] = key.type.parse(raw, where)
    fields.setdefault("name", f"{label(kind)}{index}")  # DSSTNE: kind + index in the list
    for attr in _INHERITED:
        fields.setdefault(attr, network[attr])
    if kind != LayerKind.INPUT and "sources" not in fields:
        if not previous:
            raise ConfigError(
                f"{path}: a {label(kind)} layer needs a Source, and there is no previous layer "
                "to default to."
            )
        fields["sources"] = (previous[-1].name,)  # DSSTNE: the previous layer in the list

    _check_size(fields, matched, path, kind)
    if layer_type == LayerType.POOLING:
        _check_pooling(fields, path)
    elif layer_type != LayerType.POOLING and fields.get("shared_weights"):
        _check_shared(fields, path)
    return LayerConfig(**fields)


def _check_size(
    fields: dict[str, Any], matched: dict[str, Any], path: str, kind: LayerKind
) -> None:
    if fields.get("n") != AUTO:
        return
    where = matched["N"][2]
    if kind == LayerKind.HIDDEN:
        raise ConfigError(
            f"{where} is 'auto', which is not allowed on a Hidden layer: 'auto' copies the size of "
            "the layer's DataSet and only Input and Output layers have one.",
            hint='give the hidden layer\'s size as a number, e.g. "N": 128',
        )
    if fields.get("dataset") is None:
        raise ConfigError(
            f"{where} is 'auto' but {path} has no DataSet to take its size from.",
            hint='add "DataSet": "<name in the data file>" or give N as a number',
        )


def _check_pooling(fields: dict[str, Any], path: str) -> None:
    function = fields.get("pooling_function")
    if function is None:
        raise ConfigError(
            f"{path}.Function is required on a Pooling layer. "
            f"Must be one of [{', '.join(POOLING_FUNCTIONS.names())}]."
        )
    if fields.get("shared_weights"):
        raise ConfigError(f"{path}.SharedWeights: Pooling layers have no weights to share.")
    if function in (PoolingFunction.DOT_PRODUCT, PoolingFunction.COSINE):
        sources = fields["sources"]
        if len(sources) < 2:
            raise ConfigError(
                f"{path}.Source: a {label(function)} layer needs 2 or more sources. "
                f"Got {list(sources)}."
            )
        fields["n"] = (len(sources) - 1,)  # DSSTNE sizes these layers itself: one unit per pair


def _check_shared(fields: dict[str, Any], path: str) -> None:
    sources = fields["sources"]
    for j, shared in enumerate(fields["shared_weights"]):
        if shared.input_layer not in sources:
            raise ConfigError(
                f"{path}.SharedWeights[{j}].InputLayer must be one of this layer's sources "
                f"{list(sources)}. Got {shared.input_layer!r}."
            )
