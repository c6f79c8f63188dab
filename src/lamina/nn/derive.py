"""Each layer's geometry from its sources' (DSSTNE's ``CalculateDerivedLayerDimensions``).

FullyConnected and Input layers keep their declared dims; Convolutional and Pooling layers derive
theirs (see :mod:`lamina.nn.geometry` for the rule and the torch layout) and get one
:class:`SourceSpec` per source. Output/Input layers of those types must declare the dims their
sources produce.
"""

from __future__ import annotations

import math

from lamina.config.enums import LayerKind, LayerType, PoolingFunction
from lamina.config.model import AUTO, LayerConfig, NetworkConfig
from lamina.errors import ModelError, NotSupportedError
from lamina.nn.geometry import LayerGeometry, axis_geometry, spatial_shape
from lamina.nn.layers import SourceSpec

__all__ = ["derive_layer", "where"]


def where(config: NetworkConfig, layer: LayerConfig) -> str:
    """``Layers[i] (name)``: where a layer sits in the config, for messages."""
    index = next(i for i, lay in enumerate(config.layers) if lay.name == layer.name)
    return f"Layers[{index}] ({layer.name!r})"


def _pad(dims: tuple[int, ...], n: int) -> tuple[int, ...]:
    return tuple(dims) + (1,) * max(0, n - len(dims))


def derive_layer(
    config: NetworkConfig,
    lay: LayerConfig,
    geometry: dict[str, LayerGeometry],
    keys: dict[str, str],
) -> tuple[LayerGeometry, list[SourceSpec]]:
    """Geometry of ``lay`` from its sources' (already derived) geometry, and per-source specs."""
    assert lay.n != AUTO
    declared = tuple(int(d) for d in lay.n)  # type: ignore[union-attr]
    spatial = lay.type != LayerType.FULLY_CONNECTED
    if lay.kind == LayerKind.INPUT or not spatial:
        geo = LayerGeometry(declared, spatial)
        _check_skips(config, lay, geo, geometry)
        return geo, []
    if lay.type == LayerType.CONVOLUTIONAL:
        dims, specs = _derive_conv(config, lay, geometry, keys, declared)
    else:
        dims, specs = _derive_pool(config, lay, geometry, keys)
    if lay.kind != LayerKind.HIDDEN and lay.type == LayerType.POOLING:
        if _pad(dims, 4) != _pad(declared, 4):
            raise ModelError(
                f"{where(config, lay)}: N declares dims {list(declared)} but its sources give "
                f"{list(dims)}"
            )
        dims = declared
    geo = LayerGeometry(dims, True)
    _check_skips(config, lay, geo, geometry)
    return geo, specs


def _kernel(lay: LayerConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
    k = len(lay.kernel)
    if not 1 <= k <= 3:
        raise ModelError(
            f"layer {lay.name!r}: Kernel must have 1-3 entries. Got {list(lay.kernel)}."
        )
    return tuple(lay.kernel), _pad(tuple(lay.kernel_stride), k)[:k]


def _derive_conv(
    config: NetworkConfig,
    lay: LayerConfig,
    geometry: dict[str, LayerGeometry],
    keys: dict[str, str],
    declared: tuple[int, ...],
) -> tuple[tuple[int, ...], list[SourceSpec]]:
    kernel, stride = _kernel(lay)
    k = len(kernel)
    if lay.kind == LayerKind.HIDDEN:
        channels = declared[0]  # DSSTNE: N (= Nx) is the number of output channels
    else:
        padded = _pad(declared, k + 1)
        if math.prod(padded[k + 1 :]) != 1:
            raise ModelError(f"{where(config, lay)}: N {list(declared)} has more than {k + 1} dims")
        channels = padded[k]
    specs, sizes_seen = [], None
    for src in lay.sources:
        sd = _pad(geometry[src].dims, k + 1)
        if math.prod(sd[k + 1 :]) != 1:
            raise ModelError(
                f"{where(config, lay)}: a {k}-D convolution reads (spatial x{k}, channels) "
                f"but source "
                f"{src!r} has dims {list(geometry[src].dims)}"
            )
        axes = [axis_geometry(sd[i], kernel[i], stride[i]) for i in range(k)]
        sizes = tuple(a.size for a in axes)
        if sizes_seen is not None and sizes != sizes_seen:
            raise ModelError(
                f"{where(config, lay)}: sources give different output sizes {list(sizes_seen)} "
                f"and {list(sizes)} (DSSTNE: inconsistent incoming data size)"
            )
        sizes_seen = sizes
        specs.append(
            SourceSpec(
                keys[src],
                (sd[k], *reversed(sd[:k])),
                kernel=tuple(reversed(kernel)),
                stride=tuple(reversed(stride)),
                padding=tuple(reversed([a.padding for a in axes])),
                out_spatial=tuple(reversed(sizes)),
            )
        )
    assert sizes_seen is not None
    if lay.kind != LayerKind.HIDDEN and sizes_seen != _pad(declared, k)[:k]:
        raise ModelError(
            f"{where(config, lay)}: N declares spatial dims {list(_pad(declared, k)[:k])} but the "
            f"convolution gives {list(sizes_seen)}"
        )
    return (*sizes_seen, channels), specs


def _derive_pool(
    config: NetworkConfig,
    lay: LayerConfig,
    geometry: dict[str, LayerGeometry],
    keys: dict[str, str],
) -> tuple[tuple[int, ...], list[SourceSpec]]:
    fn = lay.pooling_function
    if fn in (PoolingFunction.DOT_PRODUCT, PoolingFunction.COSINE):
        raise NotSupportedError(
            f"{where(config, lay)}: Pooling Function {fn.name.title().replace('_', '')} "  # type: ignore[union-attr]
            "is not supported",
            hint="use Max, Average, LRN or Maxout",
        )
    if fn not in (
        PoolingFunction.MAX,
        PoolingFunction.AVERAGE,
        PoolingFunction.LRN,
        PoolingFunction.MAXOUT,
    ):
        raise NotSupportedError(f"{where(config, lay)}: Pooling Function {fn!r} is not supported")
    specs: list[SourceSpec] = []
    dims_seen: tuple[int, ...] | None = None
    for src in lay.sources:
        sd = geometry[src].dims
        if fn in (PoolingFunction.LRN, PoolingFunction.MAXOUT):
            dims, spec = sd, SourceSpec(keys[src], spatial_shape(sd))
        else:
            kernel, stride = _kernel(lay)
            k = len(kernel)
            sdp = _pad(sd, k + 1)
            axes = [axis_geometry(sdp[i], kernel[i], stride[i]) for i in range(k)]
            sizes = tuple(a.size for a in axes)
            dims = _trim((*sizes, *sdp[k:]), len(sd))
            spec = SourceSpec(
                keys[src],
                (math.prod(sdp[k:]), *reversed(sdp[:k])),
                kernel=tuple(reversed(kernel)),
                stride=tuple(reversed(stride)),
                padding=tuple(reversed([a.padding for a in axes])),
                out_spatial=tuple(reversed(sizes)),
            )
        if dims_seen is not None and dims != dims_seen:
            raise ModelError(
                f"{where(config, lay)}: sources give different sizes {list(dims_seen)} and "
                f"{list(dims)}; pooled sources are combined elementwise"
            )
        dims_seen = dims
        specs.append(spec)
    assert dims_seen is not None
    return dims_seen, specs


def _trim(dims: tuple[int, ...], n: int) -> tuple[int, ...]:
    """Drop trailing size-1 axes beyond the first ``n`` (pooling keeps the source's dims count)."""
    dims = tuple(dims)
    while len(dims) > max(n, 1) and dims[-1] == 1:
        dims = dims[:-1]
    return dims


def _check_skips(
    config: NetworkConfig, lay: LayerConfig, geo: LayerGeometry, geometry: dict[str, LayerGeometry]
) -> None:
    for skip in lay.skips:
        if geometry[skip].stride != geo.stride:
            raise ModelError(
                f"{where(config, lay)}: Skip {skip!r} has {geometry[skip].stride} units but "
                f"{lay.name!r} has {geo.stride}; skip connections add elementwise, sizes must match"
            )
