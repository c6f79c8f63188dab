"""A built :class:`~lamina.nn.Network` as an ONNX graph of standard operators (opset 17).

Lamina writes the graph itself from the network's modules instead of tracing ``forward`` with
``torch.onnx``: the dynamo exporter needs 10-20 s per network and leaves ``value_info`` that
``quantize_dynamic`` trips over, the TorchScript exporter is deprecated, and neither traces the
``SparseBatch`` path. Each layer maps to a few operators, and the tests check every layer type
against torch's forward pass (eval mode: no dropout, batch norm with running statistics).

Contract of the graph (see :mod:`lamina.export.metadata` for the names):

* per Input layer, one of two input forms:

  - dense: ``dense_<layer>`` ``(B, units)`` float32, the layer's row in DSSTNE's unit order (the
    dense form of a sparse row; indicators are 1.0);
  - sparse (Input layers marked ``Sparse``, the default for them): ``indices_<layer>`` ``(B, L)``
    int64 and ``values_<layer>`` ``(B, L)`` float32 (``L``: symbolic dim ``L_<layer>``), each
    row's non-zeros padded to ``L`` entries with index 0 and value 0 (the runtime takes ``L`` =
    the largest row of the batch). A
    FullyConnected consumer computes ``Squeeze(MatMul(values[:, None, :], Gather(W, indices))) + b``
    (per row, the values-weighted sum of the gathered weight rows: the ONNX twin of torch's
    ``embedding_bag``); other consumers (skips, convolution, pooling) get the
    dense row back from a ``ScatterElements(reduction="add")``.
* one output per exported layer, named after the layer: ``(B, units)`` float32 activations
  (convolutional layers flattened in ``(C, *spatial)`` order, as ``lamina predict`` dumps them).

Mapping: FullyConnected ``MatMul`` + ``Add`` per source (shared weights are materialised, a
transposed share as its transpose); Convolutional ``Conv`` (+ ``Slice`` crop) + bias; Pooling
``MaxPool`` / ``AveragePool(count_include_pad=0)`` / ``Max`` (Maxout) / LRN spelled out as torch's
``local_response_norm``; batch norm folded into ``Mul`` + ``Add``; activations as their ONNX ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from lamina.config.enums import LayerKind, PoolingFunction
from lamina.config.model import LRN
from lamina.errors import NotSupportedError
from lamina.nn import Network
from lamina.nn.activations import SELU, LeakyReLU, UnitSoftmax
from lamina.nn.layers import Convolutional, FullyConnected, LayerModule, Pooling, SourceSpec

__all__ = ["INPUT_FORMS", "OPSET", "build_onnx", "input_name", "input_names", "sparse_inputs"]

OPSET = 17  # LayerNormalization-era opset; every op used here exists since opset 13
_ACTIVATIONS: dict[type[nn.Module], str] = {
    nn.Sigmoid: "Sigmoid",
    nn.Tanh: "Tanh",
    nn.ReLU: "Relu",
    nn.Softplus: "Softplus",
    nn.Softsign: "Softsign",
}


INPUT_FORMS = ("dense", "sparse")


def input_name(layer: str) -> str:
    """ONNX input name of Input layer ``layer`` in the dense form: ``dense_<layer>``."""
    return f"dense_{layer}"


def input_names(layer: str, form: str) -> tuple[str, ...]:
    """ONNX input names of Input layer ``layer``: ``(dense_<layer>,)`` for the dense form,
    ``(indices_<layer>, values_<layer>)`` for the sparse form."""
    if form == "sparse":
        return f"indices_{layer}", f"values_{layer}"
    return (input_name(layer),)


def sparse_inputs(network: Network, form: str) -> tuple[str, ...]:
    """The Input layers exported in the sparse form: those marked ``Sparse`` when ``form`` is
    ``sparse``, none when it is ``dense``."""
    if form == "dense":
        return ()
    return tuple(n for n in network.input_layers if network.layer_config(n).sparse)


class _Graph:
    """Nodes and initializers under construction, with generated unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, hint: str, array: np.ndarray | np.generic) -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(
        self, op_type: str, inputs: Sequence[str], *, out: str | None = None, **attrs: Any
    ) -> str:
        name = out or self.fresh(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [name], name=f"n_{name}", **attrs)
        )
        return name

    def reshape(self, x: str, shape: Sequence[int]) -> str:
        """``x.reshape(-1, *shape)``: batch axis inferred."""
        return self.op("Reshape", [x, self.const("shape", np.array([-1, *shape], np.int64))])

    def add_all(self, terms: Sequence[str]) -> str:
        return terms[0] if len(terms) == 1 else self.op("Sum", terms)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy()


def build_onnx(
    network: Network,
    *,
    outputs: Sequence[str],
    graph_name: str = "lamina",
    input_form: str = "dense",
) -> onnx.ModelProto:
    """Write ``network`` (its current weights, eval semantics) as an ONNX model.

    Args:
        network: a built network; read only (train/eval mode does not matter).
        outputs: names of the non-input layers to expose as graph outputs.
        graph_name: the ONNX graph's name.
        input_form: ``dense`` (every Input layer as ``dense_<layer>``) or ``sparse`` (Input
            layers marked ``Sparse`` as ``indices_<layer>``/``values_<layer>``, see the module
            docstring; the others dense).

    Returns:
        A checked ONNX model with the inputs of ``input_form`` and outputs named after
        ``outputs``, (B, units) float32 each.

    Raises:
        NotSupportedError: a module this exporter does not know (a new layer or activation).
    """
    if input_form not in INPUT_FORMS:
        raise NotSupportedError(
            f"input form must be one of {list(INPUT_FORMS)}. Got {input_form!r}."
        )
    g = _Graph()
    flat = _Flat(g)  # layer -> (B, stride) value name
    inputs = []
    sparse = sparse_inputs(network, input_form)
    for name in network.order:
        cfg = network.layer_config(name)
        stride = network.geometry[name].stride
        if cfg.kind == LayerKind.INPUT:
            if name in sparse:
                idx, val = input_names(name, "sparse")
                flat.sparse[name] = (idx, val, stride)
                inputs.append(
                    helper.make_tensor_value_info(idx, TensorProto.INT64, ["B", f"L_{name}"])
                )
                inputs.append(
                    helper.make_tensor_value_info(val, TensorProto.FLOAT, ["B", f"L_{name}"])
                )
            else:
                flat[name] = input_name(name)
                inputs.append(
                    helper.make_tensor_value_info(flat[name], TensorProto.FLOAT, ["B", stride])
                )
            continue
        module = network.layer(name)
        shape = network.geometry[name].tensor_shape
        skips = [g.reshape(flat[s], shape) for s in cfg.skips]
        if isinstance(module, FullyConnected):
            act = _fully_connected(g, module, [flat.source(s) for s in cfg.sources], skips)
        elif isinstance(module, Convolutional):
            act = _convolution(g, module, [flat[s] for s in cfg.sources], skips)
        elif isinstance(module, Pooling):
            act = _pooling(g, module, [flat[s] for s in cfg.sources], skips)
        else:
            raise NotSupportedError(f"layer {name!r}: cannot export {type(module).__name__}")
        flat[name] = g.op("Flatten", [act], axis=1) if len(shape) > 1 else act
    graph_outputs = []
    for name in outputs:
        g.op("Identity", [flat[name]], out=name)
        units = network.geometry[name].stride
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["B", units]))
    graph = helper.make_graph(g.nodes, graph_name, inputs, graph_outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    model.producer_name = "lamina"
    onnx.checker.check_model(model)
    return model


class _Flat(dict[str, str]):
    """Layer -> (B, stride) value name; a sparse-form input is densified (once) on first use."""

    def __init__(self, g: _Graph) -> None:
        super().__init__()
        self.g = g
        self.sparse: dict[str, tuple[str, str, int]] = {}  # layer -> (indices, values, width)

    def __missing__(self, layer: str) -> str:
        idx, val, width = self.sparse[layer]
        g = self.g
        starts, ends = (
            g.const("start", np.array([0], np.int64)),
            g.const("end", np.array([1], np.int64)),
        )
        batch = g.op("Slice", [g.op("Shape", [idx]), starts, ends])  # (1,) int64: [B]
        shape = g.op("Concat", [batch, g.const("width", np.array([width], np.int64))], axis=0)
        zeros = g.op(
            "ConstantOfShape", [shape], value=numpy_helper.from_array(np.zeros(1, np.float32))
        )
        self[layer] = g.op("ScatterElements", [zeros, idx, val], axis=1, reduction="add")
        return self[layer]

    def source(self, layer: str) -> str | tuple[str, str]:
        """A FullyConnected source: the ``(indices, values)`` pair of a sparse-form input, else
        the dense value name."""
        if layer in self.sparse:
            return self.sparse[layer][:2]
        return self[layer]


def _fully_connected(
    g: _Graph,
    module: FullyConnected,
    srcs: Sequence[str | tuple[str, str]],
    skips: Sequence[str],
) -> str:
    terms = []
    for key, x in zip(module.source_keys, srcs, strict=True):
        w = module.weights[key].t() if module.transposed[key] else module.weights[key]
        weight = g.const(f"W_{key}", _np(w))  # (n_in, n_out)
        if isinstance(x, tuple):  # sparse form: sum of the weight rows of the non-zeros
            rows = g.op("Gather", [weight, x[0]], axis=0)  # (B, L, n_out)
            vals = g.op("Unsqueeze", [x[1], g.const("axes", np.array([1], np.int64))])  # (B, 1, L)
            # (B, 1, L) @ (B, L, n_out): one batched GEMM instead of Mul + ReduceSum over a
            # (B, L, n_out) product (1.5x faster first layer, benchmarks/README.md)
            y = g.op(
                "Squeeze",
                [g.op("MatMul", [vals, rows]), g.const("axes", np.array([1], np.int64))],
            )  # (B, n_out)
        else:
            y = g.op("MatMul", [x, weight])  # (B, n_in) @ (n_in, n_out)
        terms.append(g.op("Add", [y, g.const(f"b_{key}", _np(module.biases[key]))]))
    return _finish(g, module, g.add_all(terms), skips)


def _convolution(
    g: _Graph, module: Convolutional, srcs: Sequence[str], skips: Sequence[str]
) -> str:
    terms = []
    for spec, x in zip(module.specs, srcs, strict=True):
        x = g.reshape(x, spec.in_shape)  # (B, C_in, *spatial)
        y = g.op(
            "Conv",
            [x, g.const(f"W_{spec.key}", _np(module.weights[spec.key]))],
            kernel_shape=list(spec.kernel),
            strides=list(spec.stride),
            pads=[*spec.padding, *spec.padding],
        )
        y = _crop(g, y, spec.out_spatial)
        bias = _np(module.biases[spec.key]).reshape(-1, *([1] * len(spec.kernel)))
        terms.append(g.op("Add", [y, g.const(f"b_{spec.key}", bias)]))
    return _finish(g, module, g.add_all(terms), skips)


def _pooling(g: _Graph, module: Pooling, srcs: Sequence[str], skips: Sequence[str]) -> str:
    pooled = [_pool(g, module, spec, x) for spec, x in zip(module.specs, srcs, strict=True)]
    if module.function == PoolingFunction.MAXOUT:
        z = pooled[0] if len(pooled) == 1 else g.op("Max", pooled)
    else:
        z = g.add_all(pooled)
    return g.add_all([z, *skips])


def _pool(g: _Graph, module: Pooling, spec: SourceSpec, x: str) -> str:
    x = g.reshape(x, spec.in_shape)  # (B, C, *spatial)
    if module.function == PoolingFunction.MAXOUT:
        return g.reshape(x, module.out_shape)
    if module.function == PoolingFunction.LRN:
        return g.reshape(_lrn(g, x, rank=1 + len(spec.in_shape), lrn=module.lrn), module.out_shape)
    attrs: dict[str, Any] = {"kernel_shape": list(spec.kernel), "strides": list(spec.stride)}
    pads = [*spec.padding, *spec.padding]
    if module.function == PoolingFunction.MAX:
        y = g.op("MaxPool", [x], pads=pads, **attrs)
    else:
        y = g.op("AveragePool", [x], pads=pads, count_include_pad=0, **attrs)
    return g.reshape(_crop(g, y, spec.out_spatial), module.out_shape)


def _lrn(g: _Graph, x: str, *, rank: int, lrn: LRN) -> str:
    """torch's ``local_response_norm``: ``x / (k + alpha * mean_window(x^2)) ** beta`` with the
    channel window padded ``size // 2`` before and ``(size - 1) // 2`` after."""
    size, alpha, beta, k = lrn.n, lrn.alpha, lrn.beta, lrn.k
    if rank < 3:  # (B, C) -> (B, C, 1), as torch does
        x = g.op("Unsqueeze", [x, g.const("axes", np.array([-1], np.int64))])
        rank = 3
    sq = g.op("Unsqueeze", [g.op("Mul", [x, x]), g.const("axes", np.array([1], np.int64))])
    pads = np.zeros(2 * (rank + 1), np.int64)  # (B, 1, C, *spatial): pad axis 2
    pads[2], pads[rank + 1 + 2] = size // 2, (size - 1) // 2
    sq = g.op("Pad", [sq, g.const("pads", pads)])
    kernel = [size] + [1] * (rank - 2)
    mean = g.op("AveragePool", [sq], kernel_shape=kernel, strides=[1] * len(kernel))
    mean = g.op("Squeeze", [mean, g.const("axes", np.array([1], np.int64))])
    scaled = g.op(
        "Add",
        [g.op("Mul", [mean, g.const("alpha", np.float32(alpha))]), g.const("k", np.float32(k))],
    )
    return g.op("Div", [x, g.op("Pow", [scaled, g.const("beta", np.float32(beta))])])


def _crop(g: _Graph, y: str, sizes: tuple[int, ...]) -> str:
    """Keep the leading ``sizes`` entries of the spatial axes (see ``lamina.nn.geometry.crop_to``);
    a no-op slice when nothing is cut."""
    if not sizes:
        return y
    axes = np.arange(2, 2 + len(sizes), dtype=np.int64)
    return g.op(
        "Slice",
        [
            y,
            g.const("starts", np.zeros(len(sizes), np.int64)),
            g.const("ends", np.array(sizes, np.int64)),
            g.const("axes", axes),
        ],
    )


def _finish(g: _Graph, module: LayerModule, z: str, skips: Sequence[str]) -> str:
    """Skips, batch norm (folded), activation; dropout is off at inference."""
    z = g.add_all([z, *skips])
    bn = module.batch_norm
    if bn is not None:
        assert isinstance(bn, nn.modules.batchnorm._BatchNorm)
        var = _np(bn.running_var)  # type: ignore[arg-type]
        scale = 1.0 / np.sqrt(var + np.float32(bn.eps))
        if bn.weight is not None:
            scale = scale * _np(bn.weight)
        shift = -_np(bn.running_mean) * scale  # type: ignore[arg-type]
        if bn.bias is not None:
            shift = shift + _np(bn.bias)
        view = (-1,) + (1,) * (len(module.out_shape) - 1)
        z = g.op("Mul", [z, g.const("bn_scale", scale.astype(np.float32).reshape(view))])
        z = g.op("Add", [z, g.const("bn_shift", shift.astype(np.float32).reshape(view))])
    return _activation(g, module.activation, z)


def _activation(g: _Graph, act: nn.Module, z: str) -> str:
    if isinstance(act, nn.Identity):
        return z
    if type(act) in _ACTIVATIONS:
        return g.op(_ACTIVATIONS[type(act)], [z])
    if isinstance(act, nn.ELU):
        return g.op("Elu", [z], alpha=float(act.alpha))
    if isinstance(act, LeakyReLU):
        return g.op("LeakyRelu", [z], alpha=float(act.slope))
    if isinstance(act, SELU):
        return g.op("Selu", [z], alpha=float(act.alpha), gamma=float(act.lam))
    if isinstance(act, UnitSoftmax):  # softmax over all units of an example
        shape = g.op("Shape", [z])
        s = g.op("Softmax", [g.op("Flatten", [z], axis=1)], axis=1)
        return g.op("Reshape", [s, shape])
    raise NotSupportedError(f"cannot export activation {type(act).__name__}")
