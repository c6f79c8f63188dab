"""Every layer type the builder supports, exported to ONNX, matches torch's fp32 forward pass.

Reference: ``Network.forward`` in eval mode (batch norm with non-trivial running statistics, dropout
configured but off), on random inputs; tolerance 1e-5 relative to the largest activation.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from lamina.config.enums import Activation, LayerKind, LayerType, PoolingFunction
from lamina.config.model import LRN, LayerConfig, NetworkConfig, SharedWeights
from lamina.data.batch import SparseBatch
from lamina.errors import UsageError
from lamina.export.onnx_graph import build_onnx, input_name
from lamina.nn import Network, build_network

B = 7
TOL = 1e-5


def inp(name: str = "Input", n: tuple[int, ...] = (6,), **kw: object) -> LayerConfig:
    return LayerConfig(name, LayerKind.INPUT, n=n, dataset=name.lower(), **kw)  # type: ignore[arg-type]


def layer(
    name: str, n: int | tuple[int, ...], sources: tuple[str, ...], **kw: object
) -> LayerConfig:
    kind = LayerKind.OUTPUT if name == "Output" else LayerKind.HIDDEN
    dims = (n,) if isinstance(n, int) else n
    return LayerConfig(name, kind, n=dims, sources=sources, **kw)  # type: ignore[arg-type]


def conv(name: str, n: int, source: str, kernel: tuple[int, ...], **kw: object) -> LayerConfig:
    stride = kw.pop("kernel_stride", (1,) * len(kernel))
    return layer(
        name, n, (source,), type=LayerType.CONVOLUTIONAL, kernel=kernel, kernel_stride=stride, **kw
    )


def pool(
    name: str, sources: tuple[str, ...], function: PoolingFunction, **kw: object
) -> LayerConfig:
    return layer(name, 1, sources, type=LayerType.POOLING, pooling_function=function, **kw)


def net_of(*layers: LayerConfig, **kw: object) -> Network:
    config = NetworkConfig(version=0.8, layers=tuple(layers), **kw)  # type: ignore[arg-type]
    net = build_network(config, seed=1)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():  # batch norm with real running statistics and affine parameters
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0.0, 0.5, generator=gen)
                module.running_var.uniform_(0.5, 2.0, generator=gen)
                module.weight.normal_(1.0, 0.3, generator=gen)
                module.bias.normal_(0.0, 0.3, generator=gen)
    return net.eval()


def check(net: Network, outputs: tuple[str, ...] = ("Output",), *, sparse: bool = False) -> None:
    """ORT on the exported graph == torch, for every exported layer."""
    gen = torch.Generator().manual_seed(4)
    dense = {}
    for name in net.input_layers:
        units = net.geometry[name].stride
        x = torch.randn(B, units, generator=gen)
        if sparse:
            x = (torch.rand(B, units, generator=gen) < 0.3).float() * torch.rand(
                B, units, generator=gen
            )
        dense[name] = x
    feed = dict(dense)
    if sparse:
        feed = {k: _to_sparse(v) for k, v in dense.items()}
    with torch.inference_mode():
        ref = net(feed).activations
    model = build_onnx(net, outputs=outputs)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(list(outputs), {input_name(k): v.numpy() for k, v in dense.items()})
    for name, value in zip(outputs, got, strict=True):
        want = ref[name].reshape(B, -1).numpy()
        assert value.shape == want.shape
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(value, want, rtol=0, atol=TOL * scale, err_msg=name)


def _to_sparse(x: torch.Tensor) -> SparseBatch:
    rows, cols = torch.nonzero(x, as_tuple=True)
    offsets = torch.cat(
        [torch.zeros(1, dtype=torch.int64), torch.bincount(rows, minlength=x.shape[0]).cumsum(0)]
    )
    return SparseBatch(cols, offsets, x[rows, cols], x.shape[1])


def test_fully_connected_dense_input() -> None:
    check(
        net_of(inp(n=(6,)), layer("H", 4, ("Input",)), layer("Output", 3, ("H",))), ("H", "Output")
    )


def test_fully_connected_sparse_input_matches_embedding_bag() -> None:
    net = net_of(
        inp(n=(40,), sparse=True),
        layer("H", 5, ("Input",), activation=Activation.RELU),
        layer("Output", 40, ("H",)),
    )
    check(net, sparse=True)


def test_multi_source_multi_input_and_skip() -> None:
    net = net_of(
        inp("A", n=(6,)),
        inp("Bin", n=(3,)),
        layer("H1", 4, ("A", "Bin"), activation=Activation.TANH),
        layer("H2", 4, ("H1",), skips=("H1",)),
        layer("Output", 2, ("H2", "A")),
    )
    check(net, ("H1", "H2", "Output"))


def test_shared_and_transposed_weights() -> None:
    tied = (SharedWeights("H", "Input", "H", transposed=True),)
    shared = (SharedWeights("Input", "Input", "H"),)
    net = net_of(
        inp(n=(6,)),
        layer("H", 4, ("Input",)),
        layer("H2", 4, ("Input",), shared_weights=shared),
        layer("Output", 6, ("H", "H2"), shared_weights=tied),
    )
    check(net)


def test_batch_norm_and_dropout_off() -> None:
    net = net_of(
        inp(n=(6,), p_dropout=0.5),
        layer(
            "H", 4, ("Input",), batch_normalization=True, p_dropout=0.5, activation=Activation.RELU
        ),
        layer("Output", 3, ("H",)),
    )
    check(net, ("H", "Output"))


ACTIVATIONS = [
    a for a in Activation if a not in (Activation.PRELU, Activation.RELUMAX, Activation.LINEARMAX)
]


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: a.name)
def test_every_activation(activation: Activation) -> None:
    net = net_of(
        inp(n=(6,)),
        layer("H", 4, ("Input",), activation=activation, relu_slope=0.3, elu_alpha=1.3),
        layer("Output", 3, ("H",), activation=activation),
    )
    check(net, ("H", "Output"))


@pytest.mark.parametrize(
    ("kernel", "stride"), [((3, 3), (1, 1)), ((2, 2), (1, 1)), ((3, 3), (2, 2))], ids=str
)
def test_convolution_with_batch_norm(kernel: tuple[int, int], stride: tuple[int, int]) -> None:
    net = net_of(
        inp(n=(8, 7, 2), type=LayerType.CONVOLUTIONAL),
        conv(
            "C",
            3,
            "Input",
            kernel,
            kernel_stride=stride,
            batch_normalization=True,
            activation=Activation.RELU,
        ),
        layer("Output", 4, ("C",)),
    )
    check(net, ("C", "Output"))


def test_convolution_1d_and_skip() -> None:
    net = net_of(
        inp(n=(9, 2), type=LayerType.CONVOLUTIONAL),
        conv("C", 2, "Input", (3,), activation=Activation.TANH),
        conv("D", 2, "C", (3,), skips=("C",)),
        layer("Output", 3, ("D",)),
    )
    check(net, ("C", "D", "Output"))


@pytest.mark.parametrize(
    "function",
    [PoolingFunction.MAX, PoolingFunction.AVERAGE, PoolingFunction.LRN, PoolingFunction.MAXOUT],
    ids=lambda f: f.name,
)
@pytest.mark.parametrize("stride", [(2, 2), (1, 1)], ids=str)
def test_pooling(function: PoolingFunction, stride: tuple[int, int]) -> None:
    two = function == PoolingFunction.MAXOUT
    kernel = (2, 2) if stride == (2, 2) else (3, 3)  # stride 1: padded windows at the borders
    net = net_of(
        inp(n=(8, 8, 2), type=LayerType.CONVOLUTIONAL),
        conv("C", 4, "Input", (3, 3), activation=Activation.TANH),
        conv("D", 4, "Input", (3, 3), activation=Activation.RELU),
        pool("P", ("C", "D") if two else ("C",), function, kernel=kernel, kernel_stride=stride),
        layer("Output", 3, ("P", "D")),
    )
    check(net, ("P", "Output"))


@pytest.mark.parametrize("n", [4, 5])
def test_lrn_even_and_odd_windows(n: int) -> None:
    net = net_of(
        inp(n=(5, 5, 6), type=LayerType.CONVOLUTIONAL),
        pool("P", ("Input",), PoolingFunction.LRN),
        layer("Output", 3, ("P",)),
        lrn=LRN(k=1.5, n=n, alpha=0.3, beta=0.75),
    )
    check(net, ("P", "Output"))


def test_export_result_is_a_valid_model_with_named_ports() -> None:
    net = net_of(inp(n=(6,)), layer("H", 4, ("Input",)), layer("Output", 3, ("H",)))
    model = build_onnx(net, outputs=("Output",))
    assert [i.name for i in model.graph.input] == ["dense_Input"]
    assert [o.name for o in model.graph.output] == ["Output"]
    assert not any(node.domain for node in model.graph.node)  # standard operators only


def test_settings_round_trip_and_validation() -> None:
    from lamina.export.settings import ExportSettings

    s = ExportSettings(int8="static", per_channel=True, output_layers=("H",), topk=5)
    assert ExportSettings.from_dict(s.to_dict()) == s
    with pytest.raises(UsageError, match="Did you mean 'dynamic'"):
        ExportSettings(int8="dynamc")
    with pytest.raises(UsageError, match="keys must be in"):
        ExportSettings.from_dict({"int9": "dynamic"})
