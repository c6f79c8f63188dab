"""Layer dims and array shapes a network file holds, derived from a resolved config (no torch).

A network file needs each layer's *derived* dims (DSSTNE writes them as ``layer{i}_Nx..Nw``) and the
shape of every weight, bias and batch-norm array. Convolutional and Pooling layers derive their dims
from their sources as ``lamina.nn.derive`` does (DSSTNE's ``CalculateDerivedLayerDimensions``); the
network-file tests check both derivations agree. Shapes, as ``lamina.nn`` holds them:

* FullyConnected connection: weights ``(n_in, n_out)`` (DSSTNE's ``W[n_in][n_out]``), bias
  ``(n_out,)``, with ``n`` the product of a layer's dims.
* Convolutional connection: weights ``(C_out, C_in, *kernel)`` with the kernel in torch order
  (``(kY, kX)`` for 2-D, ``(kZ, kY, kX)`` for 3-D): cuDNN's NCHW filter, which is DSSTNE's
  ``vFilterDim`` (``NNWeight::NNWeight``) and the row-major order of its ``weights`` variable;
  bias ``(C_out,)`` (one per output channel and source).
* Batch norm: ``(n,)`` for a FullyConnected layer (per activation), ``(C,)`` for a Convolutional one
  (per channel, DSSTNE's ``_strideBN``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from lamina.config.enums import LayerKind, LayerType, PoolingFunction
from lamina.config.model import AUTO, LayerConfig, NetworkConfig
from lamina.errors import ModelError

__all__ = ["Dims", "batch_norm_size", "connection_shapes", "layer_dims"]

Dims = tuple[int, ...]


def _pad(dims: Dims, n: int) -> Dims:
    return tuple(dims) + (1,) * max(0, n - len(dims))


def _axis_size(width: int, kernel: int, stride: int) -> int:
    """DSSTNE's output size along one kernel axis (``CalculateConvolutionDimensions``)."""
    if width <= kernel:
        return 1
    return width if stride == 1 else (width - kernel) // stride + 1


def layer_dims(config: NetworkConfig) -> dict[str, Dims]:
    """Every layer's DSSTNE dims ``(Nx, ...)``: declared for Input and FullyConnected layers,
    derived from the first source for Convolutional and hidden Pooling layers.

    Raises:
        ModelError: the config still has ``"N": "auto"``.
    """
    layers = {layer.name: layer for layer in config.layers}
    dims: dict[str, Dims] = {}

    def visit(name: str, seen: tuple[str, ...]) -> Dims:
        if name in dims:
            return dims[name]
        layer = layers[name]
        if layer.n == AUTO:
            raise ModelError(f'layer {name!r} still has "N": "auto"; resolve the config first')
        declared = tuple(int(d) for d in layer.n)  # type: ignore[union-attr]
        spatial = layer.type in (LayerType.CONVOLUTIONAL, LayerType.POOLING)
        sources = [s for s in layer.sources if s in layers and s not in seen]
        if layer.kind == LayerKind.INPUT or not spatial or not sources:
            result = declared
        else:
            source = visit(sources[0], (*seen, name))
            result = _derived(layer, declared, source)
        dims[name] = result
        return result

    for layer in config.layers:
        visit(layer.name, ())
    return {layer.name: dims[layer.name] for layer in config.layers}


def _derived(layer: LayerConfig, declared: Dims, source: Dims) -> Dims:
    kernel = tuple(layer.kernel) or (1,)
    k = len(kernel)
    stride = _pad(tuple(layer.kernel_stride), k)[:k]
    padded = _pad(source, k + 1)
    sizes = tuple(_axis_size(padded[i], kernel[i], stride[i]) for i in range(k))
    if layer.type == LayerType.CONVOLUTIONAL:
        if layer.kind == LayerKind.HIDDEN:
            return (*sizes, declared[0])  # DSSTNE: a hidden convolution's N is its channel count
        return (*sizes, _pad(declared, k + 1)[k])
    if layer.kind != LayerKind.HIDDEN:
        return declared  # Output pooling layers declare their dims
    if layer.pooling_function in (PoolingFunction.LRN, PoolingFunction.MAXOUT):
        return source
    pooled = (*sizes, *padded[k:])
    while len(pooled) > max(len(source), 1) and pooled[-1] == 1:
        pooled = pooled[:-1]  # pooling keeps its source's number of dims
    return pooled


def connection_shapes(
    config: NetworkConfig, dims: Mapping[str, Dims], input_layer: str, output_layer: str
) -> tuple[Dims, Dims]:
    """``(weights shape, bias shape)`` of the connection ``input_layer -> output_layer``.

    Args:
        config: the resolved config.
        dims: :func:`layer_dims` of ``config``.
        input_layer: the source layer.
        output_layer: the layer it feeds.
    """
    out = config.layer(output_layer)
    if out.type == LayerType.CONVOLUTIONAL:
        kernel = tuple(out.kernel) or (1,)
        k = len(kernel)
        c_out = _pad(dims[output_layer], k + 1)[k]
        c_in = _pad(dims[input_layer], k + 1)[k]
        return (c_out, c_in, *reversed(kernel)), (c_out,)
    n_in, n_out = math.prod(dims[input_layer]), math.prod(dims[output_layer])
    return (n_in, n_out), (n_out,)


def batch_norm_size(layer: LayerConfig, dims: Dims) -> int:
    """Values per batch-norm array: channels of a Convolutional layer, else every unit."""
    if layer.type == LayerType.CONVOLUTIONAL:
        return dims[-1]
    return math.prod(dims)
