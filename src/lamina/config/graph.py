"""Cross-layer checks, run once every layer is parsed: names used by ``Source``, ``Skip`` and
``SharedWeights`` exist, shared matrices exist, skip sizes match, and the connections form no cycle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lamina.config.enums import LayerType
from lamina.config.model import AUTO, LayerConfig
from lamina.errors import ConfigError, did_you_mean

__all__ = ["check_graph", "find_cycle"]


def check_graph(layers: Sequence[LayerConfig], path: str = "Layers") -> None:
    """Check the references between layers.

    Raises:
        ConfigError: an unknown layer name, a shared matrix that does not exist, a skip between
            layers of different sizes, or a Source/Skip cycle; the message names the layers.
    """
    index = {layer.name: i for i, layer in enumerate(layers)}

    def known(name: str, where: str, user: LayerConfig) -> LayerConfig:
        if name not in index:
            raise ConfigError(
                f"{where}: layer {user.name!r} refers to unknown layer {name!r}. "
                f"Layers are: [{', '.join(index)}]." + did_you_mean(name, index)
            )
        return layers[index[name]]

    for i, layer in enumerate(layers):
        here = f"{path}[{i}]"
        for name in layer.sources:
            known(name, f"{here}.Source", layer)
        for name in layer.skips:
            other = known(name, f"{here}.Skip", layer)
            _check_skip_size(layer, other, f"{here}.Skip")
        for j, shared in enumerate(layer.shared_weights):
            where = f"{here}.SharedWeights[{j}]"
            known(shared.input_layer, f"{where}.InputLayer", layer)
            known(shared.source_input_layer, f"{where}.SourceInputLayer", layer)
            owner = known(shared.source_output_layer, f"{where}.SourceOutputLayer", layer)
            if owner.type == LayerType.POOLING or shared.source_input_layer not in owner.sources:
                raise ConfigError(
                    f"{where}: there is no weight matrix {shared.source_input_layer!r} -> "
                    f"{owner.name!r} to share (the sources of {owner.name!r} are "
                    f"{list(owner.sources)})."
                )
    cycle = find_cycle(layers)
    if cycle:
        raise ConfigError(
            f"{path}[{index[cycle[0]]}]: the Source/Skip connections form a cycle: "
            + " -> ".join(cycle)
            + ". A network must be acyclic."
        )


def _check_skip_size(layer: LayerConfig, other: LayerConfig, where: str) -> None:
    derived = (LayerType.POOLING, LayerType.CONVOLUTIONAL)  # sizes known only once geometry is
    if layer.n == AUTO or other.n == AUTO or layer.type in derived or other.type in derived:
        return  # sizes known only once data (or derived pooling sizes) are known
    a, b = math.prod(layer.n), math.prod(other.n)
    if a != b:
        raise ConfigError(
            f"{where}: a skip connection adds {other.name!r} ({b} units) to {layer.name!r} "
            f"({a} units); the sizes must match."
        )


def find_cycle(layers: Sequence[LayerConfig]) -> list[str]:
    """Return one cycle among Source/Skip edges as ``[a, b, ..., a]``, or ``[]`` if there is
    none."""
    feeds: dict[str, list[str]] = {layer.name: [] for layer in layers}
    for layer in layers:
        for src in (*layer.sources, *layer.skips):
            if src in feeds:
                feeds[src].append(layer.name)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for start in feeds:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = [start]
        state[start] = 1
        while stack:
            node, k = stack[-1]
            if k < len(feeds[node]):
                stack[-1] = (node, k + 1)
                nxt = feeds[node][k]
                if state.get(nxt) == 1:
                    return [*trail[trail.index(nxt) :], nxt]
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    trail.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                trail.pop()
    return []
