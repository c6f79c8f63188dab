"""``build_network``: a resolved :class:`NetworkConfig` plus dataset widths -> :class:`Network`.

Steps: resolve ``"auto"`` -> check names and the Source/Skip graph (topological order) -> derive
every layer's geometry (:mod:`lamina.nn.geometry`) -> build one module per non-input layer ->
initialise weights (config order, one seeded generator) -> attach shared weights -> list the
connections.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from lamina.config.enums import LayerKind, LayerType
from lamina.config.model import LayerConfig, NetworkConfig
from lamina.errors import ModelError, NotSupportedError, did_you_mean
from lamina.nn.activations import make_activation
from lamina.nn.derive import derive_layer, where
from lamina.nn.dropout import DsstneDropout
from lamina.nn.geometry import LayerGeometry
from lamina.nn.init import init_bias, init_weight
from lamina.nn.layers import Convolutional, FullyConnected, LayerModule, Pooling, SourceSpec
from lamina.nn.network import Network
from lamina.nn.sharing import attach_shared_weights

__all__ = ["build_network"]

_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}


def build_network(
    config: NetworkConfig,
    widths: Mapping[str, tuple[int, ...]] | None = None,
    *,
    seed: int | None = None,
) -> Network:
    """Build the torch module graph of a DSSTNE network.

    Args:
        config: a loaded config (``lamina.config.load_config``), possibly with ``"N": "auto"``.
        widths: dataset name -> ``(width,)`` or ``(width, height, length)``; needed for every
        auto-sized
            layer.
        seed: seed of the weight-initialisation generator (None: nondeterministic).

    Returns:
        The network, in training mode, with freshly initialised weights.

    Raises:
        ModelError: a dataset width is missing, a Source/Skip is unknown or cyclic, or a geometry
        does
            not fit (skip sizes, convolution inputs, shared weight shapes).
        NotSupportedError: RELUMax/LinearMax activations, DotProduct/Cosine pooling, Target layers.

    Example:
        >>> from lamina.config.enums import LayerKind
        >>> from lamina.config.model import LayerConfig, NetworkConfig
        >>> cfg = NetworkConfig(version=0.8, layers=(
        ...     LayerConfig("Input", LayerKind.INPUT, n="auto", dataset="in"),
        ...     LayerConfig("Output", LayerKind.OUTPUT, n=(4,), sources=("Input",))))
        >>> net = build_network(cfg, {"in": (8,)}, seed=1)
        >>> net({"Input": torch.ones(2, 8)}).activations["Output"].shape
        torch.Size([2, 4])
    """
    config = _resolve(config, widths or {})
    order = _check_graph(config)
    keys = _module_keys(config)
    geometry: dict[str, LayerGeometry] = {}
    specs: dict[str, list[SourceSpec]] = {}
    for name in order:
        geometry[name], specs[name] = derive_layer(config, config.layer(name), geometry, keys)
    modules = {
        lay.name: _make_layer(config, lay, geometry, specs[lay.name], keys)
        for lay in config.layers
        if lay.kind != LayerKind.INPUT
    }
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    for lay in config.layers:
        if lay.kind != LayerKind.INPUT and lay.type != LayerType.POOLING:
            _initialise(lay, modules[lay.name], keys, generator)
    network = Network(config, order=order, geometry=geometry, modules=modules, keys=keys)
    network.connections = attach_shared_weights(config, modules, keys)
    return network.train()


def _resolve(config: NetworkConfig, widths: Mapping[str, tuple[int, ...]]) -> NetworkConfig:
    for name, dims in widths.items():
        if not dims or len(dims) > 4 or any(int(d) < 1 for d in dims):
            raise ModelError(f"width of data set {name!r} must be 1-4 positive ints. Got {dims!r}.")
    try:
        return config.resolve(widths)
    except KeyError as exc:
        raise ModelError(str(exc.args[0]), hint="give the dataset's width (widths[name])") from None


def _check_graph(config: NetworkConfig) -> tuple[str, ...]:
    """Names unique, Sources/Skips known, no cycle; return a topological order."""
    names = [lay.name for lay in config.layers]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ModelError(f"layer names must be unique. Got duplicates {dupes}.")
    if not any(lay.kind == LayerKind.INPUT for lay in config.layers):
        raise ModelError("a network needs at least one Input layer")
    for lay in config.layers:
        if lay.kind == LayerKind.TARGET:
            raise NotSupportedError(
                f"{where(config, lay)}: Target layers are not supported "
                "(DSSTNE never implemented them)"
            )
        if lay.kind != LayerKind.INPUT and not lay.sources:
            raise ModelError(
                f"{where(config, lay)}: a {lay.kind.name.title()} layer needs a Source"
            )
        for ref in (*lay.sources, *lay.skips):
            if ref not in names:
                raise ModelError(
                    f"{where(config, lay)}: Source/Skip must name a layer of {names}. Got {ref!r}."
                    + did_you_mean(ref, names)
                )
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join((*path[path.index(name) :], name))
            raise ModelError(f"the Source/Skip graph has a cycle: {cycle}")
        state[name] = 1
        lay = config.layer(name)
        for ref in (*lay.sources, *lay.skips):
            visit(ref, (*path, name))
        state[name] = 2
        order.append(name)

    for name in names:
        visit(name, ())
    return tuple(order)


def _module_keys(config: NetworkConfig) -> dict[str, str]:
    """Layer name -> ModuleDict key (the name itself unless torch forbids it)."""
    keys = {}
    for i, lay in enumerate(config.layers):
        ok = lay.name and "." not in lay.name and lay.name not in ("weights", "biases")
        keys[lay.name] = lay.name if ok else f"layer{i}"
    return keys


def _make_layer(
    config: NetworkConfig,
    lay: LayerConfig,
    geometry: dict[str, LayerGeometry],
    specs: list[SourceSpec],
    keys: dict[str, str],
) -> LayerModule:
    geo = geometry[lay.name]
    if lay.type == LayerType.POOLING:
        return Pooling(
            function=lay.pooling_function,  # type: ignore[arg-type]
            specs=specs,
            out_shape=geo.tensor_shape,
            lrn=config.lrn,
        )
    if not 0.0 <= lay.p_dropout < 1.0:
        raise ModelError(f"{where(config, lay)}: pDropout must be in [0, 1). Got {lay.p_dropout}.")
    common = {
        "activation": make_activation(lay),
        "dropout": DsstneDropout(
            lay.p_dropout,
            activation=lay.activation,
            elu_alpha=lay.elu_alpha,
            selu_lambda=lay.selu_lambda,
        )
        if lay.p_dropout > 0
        else None,
        "weight_norm": lay.weight_norm,
    }
    if lay.type == LayerType.FULLY_CONNECTED:
        bn: nn.Module | None = nn.BatchNorm1d(geo.stride) if lay.batch_normalization else None
        sources = [(keys[s], geometry[s].stride) for s in lay.sources]
        return FullyConnected(sources=sources, n_out=geo.stride, batch_norm=bn, **common)
    bn = _BATCH_NORM[len(geo.dims)](geo.dims[-1]) if lay.batch_normalization else None
    return Convolutional(specs=specs, out_shape=geo.tensor_shape, batch_norm=bn, **common)


def _initialise(
    lay: LayerConfig, module: LayerModule, keys: dict[str, str], generator: torch.Generator
) -> None:
    shared = {sw.input_layer for sw in lay.shared_weights}
    for src in lay.sources:
        key = keys[src]
        weight = module.weights[key]
        if src not in shared:
            if weight.dim() == 2:
                fan_in, fan_out = weight.shape[0], weight.shape[1]
            else:
                field = math.prod(weight.shape[2:])
                fan_in, fan_out = weight.shape[1] * field, weight.shape[0] * field
            init_weight(
                weight, lay.weight_init, fan_in=fan_in, fan_out=fan_out, generator=generator
            )
        init_bias(module.biases[key], lay.weight_init)
