"""``SharedWeights``: connect ``InputLayer -> this layer`` through the weight of another connection.

The shared connection reuses the very ``nn.Parameter`` of ``SourceInputLayer -> SourceOutputLayer``
(``Transposed``: its transpose, FullyConnected only); its bias stays its own. Shapes are checked
here, at build time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from lamina.config.enums import LayerKind, LayerType
from lamina.config.model import NetworkConfig
from lamina.errors import ModelError, NotSupportedError
from lamina.nn.layers import LayerModule
from lamina.nn.network import Connection

__all__ = ["attach_shared_weights"]


def attach_shared_weights(
    config: NetworkConfig, modules: dict[str, LayerModule], keys: dict[str, str]
) -> tuple[Connection, ...]:
    """Replace each shared connection's weight by its source's Parameter; list all connections.

    Args:
        config: the resolved config.
        modules: layer name -> layer module (weights already initialised).
        keys: layer name -> module key (also the per-source key inside a layer).

    Returns:
        Every connection (one per Source of every FullyConnected/Convolutional layer), config order.

    Raises:
        ModelError: the source connection does not exist, is itself shared, or has another shape.
        NotSupportedError: a transposed shared weight on a Convolutional layer.
    """
    sources: dict[tuple[str, str], tuple[str, str, bool]] = {}
    for index, lay in enumerate(config.layers):
        for sw in lay.shared_weights:
            where = f"Layers[{index}] ({lay.name!r}).SharedWeights"
            if sw.input_layer not in lay.sources:
                raise ModelError(
                    f"{where}: InputLayer must be one of this layer's Sources {list(lay.sources)}. "
                    f"Got {sw.input_layer!r}."
                )
            if (sw.input_layer, lay.name) in sources:
                raise ModelError(f"{where}: InputLayer {sw.input_layer!r} is shared twice")
            src_out = next((x for x in config.layers if x.name == sw.source_output_layer), None)
            if src_out is None or sw.source_input_layer not in src_out.sources:
                raise ModelError(
                    f"{where}: there is no connection {sw.source_input_layer!r} -> "
                    f"{sw.source_output_layer!r} to share"
                )
            if any(s.input_layer == sw.source_input_layer for s in src_out.shared_weights):
                raise ModelError(
                    f"{where}: the connection it names is itself shared; name its source"
                )
            if sw.transposed and lay.type != LayerType.FULLY_CONNECTED:
                raise NotSupportedError(
                    f"{where}: Transposed shared weights need FullyConnected layers"
                )
            if src_out.type != lay.type:
                raise ModelError(
                    f"{where}: cannot share weights between {src_out.type.name} and "
                    f"{lay.type.name} layers"
                )
            sources[(sw.input_layer, lay.name)] = (
                sw.source_input_layer,
                src_out.name,
                sw.transposed,
            )
            own = modules[lay.name].weights[keys[sw.input_layer]]
            theirs = modules[src_out.name].weights[keys[sw.source_input_layer]]
            wanted = tuple(theirs.t().shape) if sw.transposed else tuple(theirs.shape)
            if tuple(own.shape) != wanted:
                raise ModelError(
                    f"{where}: connection {sw.input_layer!r} -> {lay.name!r} needs a weight of "
                    f"shape "
                    f"{list(own.shape)} but {sw.source_input_layer!r} -> {src_out.name!r}"
                    f"{' transposed' if sw.transposed else ''} has {list(wanted)}"
                )
            module = modules[lay.name]
            module.weights[keys[sw.input_layer]] = theirs
            module.transposed[keys[sw.input_layer]] = sw.transposed
            module.shared.add(keys[sw.input_layer])
    connections = []
    for lay in config.layers:
        if lay.kind == LayerKind.INPUT or lay.type == LayerType.POOLING:
            continue
        module = modules[lay.name]
        for src in lay.sources:
            shared = sources.get((src, lay.name))
            connections.append(
                Connection(
                    input_layer=src,
                    output_layer=lay.name,
                    weight=module.weights[keys[src]],  # type: ignore[arg-type]
                    bias=module.biases[keys[src]],  # type: ignore[arg-type]
                    transposed=bool(shared and shared[2]),
                    source=None if shared is None else (shared[0], shared[1]),
                )
            )
    counts = Counter(id(c.weight) for c in connections)
    return tuple(replace(c, sharing_count=counts[id(c.weight)]) for c in connections)
