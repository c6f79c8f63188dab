"""Convolution/pooling geometry as DSSTNE derives it, layout mapping, and build-time errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conformance import conv, hidden, inp, network, output

from lamina.config.enums import Activation, LayerKind, LayerType, PoolingFunction, WeightInitScheme
from lamina.config.model import LRN, LayerConfig, SharedWeights, WeightInit
from lamina.errors import ModelError, NotSupportedError
from lamina.nn import build_network
from lamina.nn.geometry import axis_geometry


@pytest.mark.parametrize(
    ("width", "kernel", "stride", "size", "padding"),
    [
        (32, 7, 1, 32, 3),
        (32, 4, 2, 15, 0),
        (15, 4, 2, 6, 0),
        (6, 2, 2, 3, 0),
        (3, 5, 1, 1, 1),
        (4, 4, 2, 1, 0),
        (6, 4, 1, 6, 2),
    ],
)
def test_axis_geometry_follows_calculate_convolution_dimensions(
    width, kernel, stride, size, padding
):
    g = axis_geometry(width, kernel, stride)
    assert (g.size, g.padding) == (size, padding)


def pool(
    name: str, source: str | tuple[str, ...], fn: PoolingFunction, kernel=(2, 2), stride=(2, 2)
):
    sources = (source,) if isinstance(source, str) else source
    return hidden(
        name,
        1,
        sources,
        type=LayerType.POOLING,
        pooling_function=fn,
        kernel=kernel,
        kernel_stride=stride,
    )


def cifar_like() -> tuple:
    gauss = WeightInit(WeightInitScheme.GAUSSIAN, 0.02)
    lin = {"activation": Activation.LINEAR, "weight_init": gauss}
    layers = (
        LayerConfig(
            "Input", LayerKind.INPUT, type=LayerType.CONVOLUTIONAL, n="auto", dataset="input"
        ),
        conv("C1", 128, "Input", (7, 7), **lin),
        conv("C1a", 128, "C1", (7, 7), **lin),
        pool("P1", "C1a", PoolingFunction.MAX, (4, 4), (2, 2)),
        conv("C2", 128, "P1", (7, 7), **lin),
        conv("C2a", 128, "C2", (7, 7), **lin),
        pool("P2", "C2a", PoolingFunction.MAX, (4, 4), (2, 2)),
        conv("C3", 96, "P2", (5, 5), **lin),
        conv("C3a", 96, "C3", (5, 5), **lin),
        pool("P3", "C3a", PoolingFunction.MAX, (2, 2), (2, 2)),
        hidden(
            "Hidden10",
            1024,
            ("P3",),
            batch_normalization=True,
            activation=Activation.RELU,
            p_dropout=0.5,
        ),
        LayerConfig(
            "Output",
            LayerKind.OUTPUT,
            n="auto",
            dataset="output",
            sources=("Hidden10",),
            activation=Activation.SOFTMAX,
        ),
    )
    return network(*layers)


def test_cifar_geometry_matches_dsstne_derivation() -> None:
    net = build_network(cifar_like(), {"input": (32, 32, 3), "output": (128,)}, seed=0)
    shapes = {name: net.geometry[name].tensor_shape for name in net.order}
    assert shapes["Input"] == (3, 32, 32)
    assert shapes["C1"] == shapes["C1a"] == (128, 32, 32)
    assert shapes["P1"] == (128, 15, 15) and shapes["C2a"] == (128, 15, 15)
    assert shapes["P2"] == (128, 6, 6) and shapes["C3a"] == (96, 6, 6)
    assert shapes["P3"] == (96, 3, 3)
    assert net.layer("Hidden10").weights["P3"].shape == (96 * 3 * 3, 1024)
    assert net.geometry["C1"].dims == (32, 32, 128)  # DSSTNE order (Nx, Ny, Nz)
    assert net.layer("C1").weights["Input"].shape == (128, 3, 7, 7)  # cuDNN filter (K, C, kY, kX)
    out = net({"Input": torch.randn(2, 3072)})
    assert out.activations["Output"].shape == (2, 128)
    torch.testing.assert_close(out.activations["Output"].sum(1), torch.ones(2))


def test_convolution_equals_torch_conv_on_dsstne_layout() -> None:
    cfg = network(
        inp(n=(5, 4, 2), type=LayerType.CONVOLUTIONAL),
        conv("C", 3, "Input", (3, 3), activation=Activation.LINEAR),
        output("Output", 1, ("C",)),
    )
    net = build_network(cfg, seed=0)
    flat = torch.randn(2, 40)  # DSSTNE order: x fastest, then y, then channel
    image = flat.reshape(2, 2, 4, 5)  # (B, Nz, Ny, Nx)
    with torch.no_grad():
        net.layer("C").biases["Input"].copy_(torch.tensor([0.1, -0.2, 0.3]))
    w = net.layer("C").weights["Input"]
    expected = F.conv2d(image, w, net.layer("C").biases["Input"], padding=1)
    torch.testing.assert_close(net({"Input": flat}).activations["C"], expected)


def test_even_kernel_at_stride_one_keeps_the_input_size() -> None:
    cfg = network(
        inp(n=(6, 6, 1), type=LayerType.CONVOLUTIONAL),
        conv("C", 2, "Input", (4, 4), activation=Activation.LINEAR),
        pool("P", "C", PoolingFunction.MAX, (2, 2), (1, 1)),
        output("Output", 1, ("P",)),
    )
    net = build_network(cfg, seed=0)
    out = net({"Input": torch.randn(3, 36)})
    assert out.activations["C"].shape == (3, 2, 6, 6) and out.activations["P"].shape == (3, 2, 6, 6)
    image = torch.randn(3, 1, 6, 6)
    full = F.conv2d(image, net.layer("C").weights["Input"], padding=2)[:, :, :6, :6]
    z = net({"Input": image}).preactivations["C"]
    torch.testing.assert_close(z, full + net.layer("C").biases["Input"].view(-1, 1, 1))


def test_one_dimensional_convolution_reads_channels_from_ny() -> None:
    cfg = network(
        inp(n=(10, 3), type=LayerType.CONVOLUTIONAL),
        conv("C", 4, "Input", (3,), (2,)),
        output("Output", 1, ("C",)),
    )
    net = build_network(cfg, seed=0)
    assert net.geometry["C"].dims == (4, 4) and net.geometry["C"].tensor_shape == (4, 4)
    assert net.layer("C").weights["Input"].shape == (4, 3, 3)


def test_pooling_functions_against_torch() -> None:
    lrn = LRN(k=1.5, n=3, alpha=0.01, beta=0.6)
    cfg = network(
        inp(n=(6, 6, 4), type=LayerType.CONVOLUTIONAL),
        pool("Max", "Input", PoolingFunction.MAX, (3, 3), (2, 2)),
        pool("Avg", "Input", PoolingFunction.AVERAGE, (3, 3), (1, 1)),
        pool("Lrn", "Input", PoolingFunction.LRN),
        pool("Sum", ("Input", "Input"), PoolingFunction.MAX, (2, 2), (2, 2)),  # sources add up
        output("Output", 1, ("Max", "Avg", "Lrn", "Sum")),
        lrn=lrn,
    )
    net = build_network(cfg, seed=0)
    x = torch.randn(2, 4, 6, 6)
    act = net({"Input": x}).activations
    torch.testing.assert_close(act["Max"], F.max_pool2d(x, 3, 2))
    torch.testing.assert_close(act["Avg"], F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
    torch.testing.assert_close(act["Lrn"], F.local_response_norm(x, 3, 0.01, 0.6, 1.5))
    torch.testing.assert_close(act["Sum"], 2 * F.max_pool2d(x, 2, 2))


def test_maxout_is_the_elementwise_max_over_sources() -> None:
    cfg = network(
        inp("A", n=(3, 2, 2), type=LayerType.CONVOLUTIONAL),
        inp("C", n=(3, 2, 2), type=LayerType.CONVOLUTIONAL),
        pool("M", ("A", "C"), PoolingFunction.MAXOUT),
        output("Output", 1, ("M",)),
    )
    a, c = torch.randn(4, 12), torch.randn(4, 12)
    out = build_network(cfg, seed=0)({"A": a, "C": c}).activations["M"]
    torch.testing.assert_close(out.reshape(4, 12), torch.maximum(a, c))


def test_missing_width_names_the_dataset_and_layer() -> None:
    cfg = network(
        LayerConfig("In", LayerKind.INPUT, n="auto", dataset="gl_input"),
        output("Output", 2, ("In",)),
    )
    with pytest.raises(ModelError, match=r"'gl_input'.*'In'"):
        build_network(cfg, {"other": (5,)})


@pytest.mark.parametrize(
    ("layers", "error", "match"),
    [
        (
            (inp(n=(4,)), hidden("H", 3, ("Input",), skips=("Input",)), output("O", 1, ("H",))),
            ModelError,
            "Skip 'Input' has 4 units but 'H' has 3",
        ),
        ((inp(n=(4,)), output("O", 1, ("Inptu",))), ModelError, "Did you mean 'Input'"),
        (
            (inp(n=(4,)), hidden("H", 3, ("Input", "O")), output("O", 1, ("H",))),
            ModelError,
            "cycle: H -> O -> H",
        ),
        (
            (
                inp(n=(4, 4, 2), type=LayerType.CONVOLUTIONAL),
                pool("Dot", "Input", PoolingFunction.DOT_PRODUCT),
                output("O", 1, ("Dot",)),
            ),
            NotSupportedError,
            "Layers\\[1\\] \\('Dot'\\).*DotProduct",
        ),
        (
            (
                inp(n=(4, 4, 2), type=LayerType.CONVOLUTIONAL),
                inp("Big", n=(8, 8, 2), type=LayerType.CONVOLUTIONAL),
                hidden("C", 2, ("Input", "Big"), type=LayerType.CONVOLUTIONAL, kernel=(3, 3)),
                output("O", 1, ("C",)),
            ),
            ModelError,
            "different output sizes",
        ),
        (
            (
                inp(n=(4,)),
                hidden("H", 3, ("Input",)),
                hidden("H2", 5, ("Input",), shared_weights=(SharedWeights("Input", "Input", "H"),)),
                output("O", 1, ("H2",)),
            ),
            ModelError,
            "needs a weight of shape \\[4, 5\\].*has \\[4, 3\\]",
        ),
    ],
)
def test_build_errors(layers, error, match) -> None:
    with pytest.raises(error, match=match):
        build_network(network(*layers))


def test_forward_input_errors() -> None:
    net = build_network(network(inp(n=(4,)), output("O", 1, ("Input",))), seed=0)
    with pytest.raises(ModelError, match="Did you mean 'Input'"):
        net({"input": torch.zeros(1, 4)})
    with pytest.raises(ModelError, match="expects 4 values per example"):
        net({"Input": torch.zeros(2, 5)})
