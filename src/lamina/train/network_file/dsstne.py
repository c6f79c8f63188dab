"""DSSTNE's model-file layout (spec section 3.5): global, ``layer{i}_`` and ``weight{i}_`` items.

Writing reproduces ``NNNetwork::SaveNetCDF``, ``NNLayer::WriteNetCDF`` and
``NNWeight::WriteNetCDF`` (names, netCDF types, enum codes). Reading rebuilds a
:class:`NetworkConfig` from those items for files DSSTNE wrote, and reads weights and batch-norm
state for both DSSTNE and Lamina files.

Layers are written with their derived dims (``Nx..Nw``), as DSSTNE writes them. A weight's
``width, height, length, depth, breadth`` are DSSTNE's: ``(n_out, n_in, 1, 1, 1)`` for a
FullyConnected matrix ``W[n_in][n_out]``; for a convolution the cuDNN filter dims
``(C_out, C_in, *kernel)`` (kernel in torch order, e.g. ``kY, kX``) padded with 1, the row-major
order of ``weights`` (``NNWeight::NNWeight`` copies ``vFilterDim[0..4]`` into them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import netCDF4
import numpy as np

from lamina.config.enums import (
    Activation,
    ErrorFunction,
    LayerKind,
    LayerType,
    NetworkKind,
    PoolingFunction,
    WeightInitScheme,
)
from lamina.config.model import (
    LRN,
    SMCE,
    DeltaBoost,
    Denoising,
    LayerConfig,
    MaxOut,
    NetworkConfig,
    SharedWeights,
    SparsenessPenalty,
    WeightInit,
)
from lamina.errors import CheckpointError
from lamina.train.network_file._nc import (
    NcReader,
    put_float,
    put_int,
    put_text,
    put_uint,
    put_uint64,
    put_variable,
)
from lamina.train.network_file.records import BatchNormRecord, NetworkFile, WeightRecord
from lamina.train.network_file.shapes import Dims, batch_norm_size, connection_shapes

__all__ = [
    "NN_VERSION",
    "read_batch_norm",
    "read_config",
    "read_weights",
    "weight_extents",
    "write_batch_norm",
    "write_globals",
    "write_layer",
    "write_weight",
]

NN_VERSION = 0.9  # DSSTNE's NN_VERSION (NNTypes.h) at HEAD, written as the global "version"
SPARSE, DENOISING, BATCH_NORM = 0x1, 0x2, 0x4  # NNLayer::Attributes bits
_EXTENTS = ("width", "height", "length", "depth", "breadth")  # weight{i}_ attributes
_BN_VARS: tuple[tuple[str, str], ...] = (
    ("scale", "scaleBN"),
    ("bias", "biasBN"),
    ("running_mean", "runningMeanBN"),
    ("running_var", "runningVarianceBN"),
)


def _pad(dims: Sequence[int], length: int) -> tuple[int, ...]:
    return tuple(dims) + (1,) * (length - len(dims))


# --------------------------------------------------------------------------------------- writing
def write_globals(ds: netCDF4.Dataset, nf: NetworkFile) -> None:
    """Write the network-level attributes of ``NNNetwork::SaveNetCDF``."""
    c = nf.config
    put_float(ds, "version", NN_VERSION)
    put_text(ds, "name", c.name)
    put_uint(ds, "kind", c.kind)
    put_uint(ds, "errorFunction", c.error_function)
    put_int(ds, "maxout_k", c.maxout.k)
    put_float(ds, "decay", c.effective_decay)  # TrainingParameters.Decay wins
    put_float(ds, "LRN_k", c.lrn.k)
    put_int(ds, "LRN_n", c.lrn.n)
    put_float(ds, "LRN_alpha", c.lrn.alpha)
    put_float(ds, "LRN_beta", c.lrn.beta)
    put_uint(ds, "bSparsenessPenalty", c.sparseness_penalty.beta > 0)
    put_float(ds, "sparsenessPenalty_p", c.sparseness_penalty.p)
    put_float(ds, "sparsenessPenalty_beta", c.sparseness_penalty.beta)
    put_uint(ds, "bDenoising", c.denoising.p > 0)
    put_float(ds, "denoising_p", c.denoising.p)
    put_float(ds, "deltaBoost_one", c.delta_boost.one)
    put_float(ds, "deltaBoost_zero", c.delta_boost.zero)
    put_float(ds, "SMCE_oneScale", c.smce.one_scale)
    put_float(ds, "SMCE_zeroScale", c.smce.zero_scale)
    put_float(ds, "SMCE_oneTarget", c.smce.one_target)
    put_float(ds, "SMCE_zeroTarget", c.smce.zero_target)
    put_uint(ds, "ShuffleIndices", c.shuffle_indices)
    put_text(ds, "checkpoint_name", nf.checkpoint_name)
    put_int(ds, "checkpoint_interval", nf.checkpoint_interval)
    put_int(ds, "checkpoint_epochs", nf.checkpoint_epochs)
    put_uint(ds, "layers", len(c.layers))
    put_uint(ds, "weights", len(nf.weights))


def write_layer(
    ds: netCDF4.Dataset, i: int, layer: LayerConfig, config: NetworkConfig, dims: Dims
) -> None:
    """Write the ``layer{i}_`` attributes of ``NNLayer::WriteNetCDF`` (not the BN arrays).

    ``dims`` are the layer's derived dims (:func:`shapes.layer_dims`): what DSSTNE writes as
    ``Nx..Nw`` and ``dimensions`` (for a hidden convolution, the spatial sizes and channels).
    """
    pre = f"layer{i}_"
    put_text(ds, pre + "name", layer.name)
    put_uint(ds, pre + "kind", layer.kind)
    put_uint(ds, pre + "type", layer.type)
    pooling = layer.pooling_function if layer.pooling_function is not None else PoolingFunction.NONE
    put_uint(ds, pre + "poolingfunction", pooling)
    put_text(ds, pre + "dataSet", layer.dataset or "")
    for axis, n in zip("xyzw", _pad(dims, 4), strict=True):
        put_uint(ds, f"{pre}N{axis}", n)
    put_uint(ds, pre + "dimensions", len(dims))
    for axis, k in zip("XYZ", _pad(layer.kernel, 3), strict=True):
        put_uint(ds, f"{pre}kernel{axis}", k)
    put_uint(ds, pre + "kernelDimensions", len(layer.kernel))
    for axis, s in zip("XYZ", _pad(layer.kernel_stride, 3), strict=True):
        put_uint(ds, f"{pre}kernelStride{axis}", s)
    for axis in "XYZ":
        put_uint(ds, f"{pre}kernelPadding{axis}", 0)  # not settable from DSSTNE's JSON
    put_float(ds, pre + "pDropout", layer.p_dropout)
    put_uint(ds, pre + "weightInit", layer.weight_init.scheme)
    put_float(ds, pre + "weightInitScale", layer.weight_init.scale)
    put_float(ds, pre + "biasInit", layer.weight_init.bias)
    put_float(ds, pre + "weightNorm", layer.weight_norm)
    put_float(ds, pre + "deltaNorm", layer.delta_norm)
    put_uint(ds, pre + "activation", layer.activation)
    penalty = layer.sparseness_penalty or SparsenessPenalty()  # DSSTNE's layer default: 0, 0
    put_float(ds, pre + "sparsenessPenalty_p", penalty.p)
    put_float(ds, pre + "sparsenessPenalty_beta", penalty.beta)
    put_float(ds, pre + "RELUSlope", layer.relu_slope)
    put_float(ds, pre + "ELUAlpha", layer.elu_alpha)
    put_float(ds, pre + "SELULambda", layer.selu_lambda)
    denoised = layer.kind == LayerKind.INPUT and layer.sparse and config.denoising.p > 0
    bits = SPARSE * layer.sparse | DENOISING * denoised | BATCH_NORM * layer.batch_normalization
    put_uint(ds, pre + "attributes", bits)
    put_uint(ds, pre + "sources", len(layer.sources))
    for j, source in enumerate(layer.sources):
        put_text(ds, f"{pre}source{j}", source)
    put_uint(ds, pre + "skips", len(layer.skips))
    for j, skip in enumerate(layer.skips):
        put_text(ds, f"{pre}skip{j}", skip)


def write_batch_norm(ds: netCDF4.Dataset, i: int, record: BatchNormRecord) -> None:
    """Write dim ``layer{i}_bnDim`` and the four float variables of a batch-norm layer."""
    pre = f"layer{i}_"
    ds.createDimension(pre + "bnDim", record.scale.shape[0])
    for field_name, var_name in _BN_VARS:
        data = np.asarray(getattr(record, field_name), dtype=np.float32)
        put_variable(ds, pre + var_name, (pre + "bnDim",), data)


def weight_extents(shape: Dims) -> tuple[int, int, int, int, int]:
    """DSSTNE's ``(width, height, length, depth, breadth)`` of a weight of ``shape``.

    ``(n_in, n_out)`` -> ``(n_out, n_in, 1, 1, 1)``; ``(C_out, C_in, *kernel)`` -> itself padded
    with 1 (``NNWeight::NNWeight``: ``_width = vFilterDim[0]`` ... ``_breadth = vFilterDim[4]``).
    """
    if len(shape) == 2:
        return shape[1], shape[0], 1, 1, 1
    c_out, c_in, k0, k1, k2 = _pad(shape, 5)
    return c_out, c_in, k0, k1, k2


def write_weight(ds: netCDF4.Dataset, i: int, record: WeightRecord, shape: Dims) -> None:
    """Write the ``weight{i}_`` items of ``NNWeight::WriteNetCDF``.

    ``shape`` is the weight's (:func:`shapes.connection_shapes`): ``(n_in, n_out)`` row-major
    ``[n_in][n_out]``, or ``(C_out, C_in, *kernel)`` row-major (cuDNN's NCHW filter).
    """
    pre = f"weight{i}_"
    put_text(ds, pre + "inputLayer", record.input_layer)
    put_text(ds, pre + "outputLayer", record.output_layer)
    for name, extent in zip(_EXTENTS, weight_extents(shape), strict=True):
        put_uint64(ds, pre + name, extent)
    put_uint(ds, pre + "bShared", record.shared)
    put_uint(ds, pre + "bLocked", record.locked)
    put_float(ds, pre + "norm", record.norm)
    ds.createDimension(pre + "biasDim", record.bias.shape[0])
    put_variable(ds, pre + "bias", (pre + "biasDim",), np.asarray(record.bias, dtype=np.float32))
    if record.shared:
        put_uint(ds, pre + "bTransposed", record.transposed)
        put_text(ds, pre + "sourceInputLayer", record.source_input_layer)
        put_text(ds, pre + "sourceOutputLayer", record.source_output_layer)
    else:
        assert record.weights is not None  # checked by save_network
        ds.createDimension(pre + "weightDim", math.prod(shape))
        weights = np.ascontiguousarray(record.weights, dtype=np.float32).reshape(-1)
        put_variable(ds, pre + "weights", (pre + "weightDim",), weights)


# --------------------------------------------------------------------------------------- reading
def read_config(r: NcReader) -> NetworkConfig:
    """Rebuild the network config of a file DSSTNE wrote, from its global and ``layer{i}_`` items.

    DSSTNE stores no network-level ``RELUSlope``/``ELUAlpha``/``SELULambda``: they get DSSTNE's
    defaults (each layer keeps its own stored value). Shared weights come from the ``weight{i}_``
    items with ``bShared``.
    """
    layers = [_read_layer(r, i) for i in range(r.integer("layers", minimum=1))]
    shared: dict[str, list[SharedWeights]] = {}
    for i in range(r.integer("weights")):
        pre = f"weight{i}_"
        if r.flag(pre + "bShared"):
            shared.setdefault(r.text(pre + "outputLayer"), []).append(
                SharedWeights(
                    input_layer=r.text(pre + "inputLayer"),
                    source_input_layer=r.text(pre + "sourceInputLayer"),
                    source_output_layer=r.text(pre + "sourceOutputLayer"),
                    transposed=r.flag(pre + "bTransposed"),
                )
            )
    layers = [_with_shared(layer, tuple(shared.get(layer.name, ()))) for layer in layers]
    return NetworkConfig(
        version=r.number("version"),
        layers=tuple(layers),
        name=r.text("name", ""),
        kind=r.enum("kind", NetworkKind),
        lrn=LRN(
            k=r.number("LRN_k", 2.0),
            n=r.integer("LRN_n", 5),
            alpha=r.number("LRN_alpha", 0.0001),
            beta=r.number("LRN_beta", 0.75),
        ),
        maxout=MaxOut(k=r.integer("maxout_k", 2)),
        sparseness_penalty=SparsenessPenalty(
            p=r.number("sparsenessPenalty_p", 0.0), beta=r.number("sparsenessPenalty_beta", 0.0)
        ),
        denoising=Denoising(p=r.number("denoising_p", 0.0)),
        delta_boost=DeltaBoost(
            one=r.number("deltaBoost_one", 1.0), zero=r.number("deltaBoost_zero", 1.0)
        ),
        smce=SMCE(
            one_target=r.number("SMCE_oneTarget", 0.9),
            zero_target=r.number("SMCE_zeroTarget", 0.1),
            one_scale=r.number("SMCE_oneScale", 1.0),
            zero_scale=r.number("SMCE_zeroScale", 1.0),
        ),
        shuffle_indices=r.flag("ShuffleIndices", 1),
        decay=r.number("decay", 0.0),
        error_function=r.enum("errorFunction", ErrorFunction),
    )


def _with_shared(layer: LayerConfig, shared: tuple[SharedWeights, ...]) -> LayerConfig:
    return replace(layer, shared_weights=shared) if shared else layer


def _read_layer(r: NcReader, i: int) -> LayerConfig:
    pre = f"layer{i}_"
    name = r.text(pre + "name")
    kind = r.enum(pre + "kind", LayerKind)
    ltype = r.enum(pre + "type", LayerType, 0)
    dims = r.integer(pre + "dimensions", 1, minimum=1)
    if dims > 4:
        raise r.error(pre + "dimensions", "1, 2, 3 or 4", dims)
    n = tuple(r.integer(f"{pre}N{a}", 1, minimum=1) for a in "xyzw"[:dims])
    kdims = min(max(r.integer(pre + "kernelDimensions", 1, minimum=1), 1), 3)
    bits = r.integer(pre + "attributes", 0)
    sources = tuple(r.text(f"{pre}source{j}") for j in range(r.integer(pre + "sources", 0)))
    if kind != LayerKind.INPUT and not sources:
        raise r.error(pre + "sources", f"at least 1 for {kind.name.title()} layer {name!r}", 0)
    penalty = SparsenessPenalty(
        p=r.number(pre + "sparsenessPenalty_p", 0.0),
        beta=r.number(pre + "sparsenessPenalty_beta", 0.0),
    )
    pooling = r.enum(pre + "poolingfunction", PoolingFunction, 0)
    if kind == LayerKind.HIDDEN and ltype == LayerType.CONVOLUTIONAL:
        n = (n[min(kdims, len(n) - 1)],)  # derived (spatial..., C): the config's N is C
    return LayerConfig(
        name=name,
        kind=kind,
        type=ltype,
        n=n,
        sparse=bool(bits & SPARSE),
        p_dropout=r.number(pre + "pDropout", 0.0),
        dataset=r.text(pre + "dataSet", "") or None,
        sources=sources,
        skips=tuple(r.text(f"{pre}skip{j}") for j in range(r.integer(pre + "skips", 0))),
        kernel=tuple(r.integer(f"{pre}kernel{a}", 1, minimum=1) for a in "XYZ"[:kdims]),
        kernel_stride=tuple(
            r.integer(f"{pre}kernelStride{a}", 1, minimum=1) for a in "XYZ"[:kdims]
        ),
        batch_normalization=bool(bits & BATCH_NORM),
        sparseness_penalty=penalty if (penalty.p or penalty.beta) else None,
        pooling_function=pooling if ltype == LayerType.POOLING else None,
        activation=r.enum(pre + "activation", Activation, 0),
        relu_slope=_finite(r.number(pre + "RELUSlope", 1.0), 1.0),
        elu_alpha=_finite(r.number(pre + "ELUAlpha", 1.0), 1.0),
        selu_lambda=_finite(r.number(pre + "SELULambda", 1.050701), 1.050701),
        weight_norm=r.number(pre + "weightNorm", 0.0),
        delta_norm=r.number(pre + "deltaNorm", 0.0),
        weight_init=WeightInit(
            scheme=r.enum(pre + "weightInit", WeightInitScheme, 0),
            scale=r.number(pre + "weightInitScale", 1.0),
            bias=r.number(pre + "biasInit", 0.0),
        ),
    )


def _finite(value: float, default: float) -> float:
    return value if math.isfinite(value) else default  # DSSTNE's "unset" is NaN


def read_weights(
    r: NcReader, config: NetworkConfig, dims: Mapping[str, Dims]
) -> list[WeightRecord]:
    """Read every ``weight{i}_`` connection, each array in its :mod:`shapes` shape.

    Args:
        r: the open file.
        config: the file's config.
        dims: layer name -> derived dims (:func:`shapes.layer_dims` of ``config``).

    Raises:
        CheckpointError: a missing item, an unknown layer name, or an array of the wrong size.
    """
    records = []
    for i in range(r.integer("weights")):
        pre = f"weight{i}_"
        ends = {}
        for key in ("inputLayer", "outputLayer"):
            ends[key] = r.text(pre + key)
            if ends[key] not in dims:
                raise r.error(pre + key, f"one of the layers {sorted(dims)}", ends[key])
        shape, bias_shape = connection_shapes(config, dims, ends["inputLayer"], ends["outputLayer"])
        bias = _sized(r, pre + "bias", math.prod(bias_shape))
        shared = r.flag(pre + "bShared")
        weights = None if shared else _sized(r, pre + "weights", math.prod(shape)).reshape(shape)
        records.append(
            WeightRecord(
                input_layer=ends["inputLayer"],
                output_layer=ends["outputLayer"],
                weights=weights,
                bias=bias,
                shared=shared,
                transposed=r.flag(pre + "bTransposed", 0) if shared else False,
                source_input_layer=r.text(pre + "sourceInputLayer") if shared else "",
                source_output_layer=r.text(pre + "sourceOutputLayer") if shared else "",
                locked=r.flag(pre + "bLocked", 0),
                norm=r.number(pre + "norm", 0.0),
            )
        )
    return records


def read_batch_norm(
    r: NcReader, config: NetworkConfig, dims: Mapping[str, Dims]
) -> list[BatchNormRecord]:
    """Read the batch-norm arrays of every layer with ``BatchNormalization`` (per unit, or per
    channel for a Convolutional layer: :func:`shapes.batch_norm_size`)."""
    records = []
    for i, layer in enumerate(config.layers):
        if layer.batch_normalization:
            size = batch_norm_size(layer, dims[layer.name])
            arrays = {f: _sized(r, f"layer{i}_{v}", size) for f, v in _BN_VARS}
            records.append(BatchNormRecord(layer=layer.name, **arrays))
    return records


def _sized(r: NcReader, name: str, size: int) -> np.ndarray:
    data = r.variable(name, dtype=np.float32).reshape(-1)
    if data.size != size:
        raise CheckpointError(
            f"{r.path}: variable {name!r} must hold {size} values (from the layer sizes). "
            f"Got {data.size}.",
            hint="the file is corrupt or its layers do not match its weights",
        )
    return data
