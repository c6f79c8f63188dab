"""Every layer type and activation passes ``run_layer_test`` (shapes, grads, state_dict, eval)."""

from __future__ import annotations

import pytest
import torch
from conformance import conv, hidden, inp, network, output, random_sparse, run_layer_test

from lamina.config.enums import Activation, LayerType, PoolingFunction
from lamina.config.model import SharedWeights

B = 5
GEN = torch.Generator().manual_seed(0)


def dense(*shape: int) -> dict[str, torch.Tensor]:
    return {"Input": torch.randn(B, *shape, generator=GEN)}


def test_fully_connected_dense_input() -> None:
    cfg = network(inp(n=(6,)), hidden("H", 4, ("Input",)), output("Output", 3, ("H",)))
    run_layer_test(cfg, lambda: dense(6), expected_shapes={"H": (B, 4), "Output": (B, 3)})


def test_fully_connected_sparse_input() -> None:
    cfg = network(
        inp(n=(20,), sparse=True), hidden("H", 4, ("Input",)), output("Output", 3, ("H",))
    )
    g = torch.Generator().manual_seed(3)
    run_layer_test(
        cfg,
        lambda: {"Input": random_sparse(B, 20, 4, generator=g)},
        expected_shapes={"H": (B, 4), "Output": (B, 3)},
    )


def test_multi_source_and_skip() -> None:
    cfg = network(
        inp("A", n=(6,)),
        inp("Bin", n=(3,)),
        hidden("H1", 4, ("A", "Bin")),
        hidden("H2", 4, ("H1",), skips=("H1",)),
        output("Output", 2, ("H2", "A")),
    )
    run_layer_test(
        cfg,
        lambda: {"A": torch.randn(B, 6), "Bin": torch.randn(B, 3)},
        expected_shapes={"H1": (B, 4), "H2": (B, 4), "Output": (B, 2)},
    )


def test_shared_weights_same_shape() -> None:
    shared = (SharedWeights("Input", "Input", "H"),)  # Input -> H2 reuses Input -> H
    cfg = network(
        inp(n=(6,)),
        hidden("H", 4, ("Input",)),
        hidden("H2", 4, ("Input",), shared_weights=shared),
        output("Output", 2, ("H", "H2")),
    )
    net = run_layer_test(cfg, lambda: dense(6), expected_shapes={"H2": (B, 4)})
    assert net.layer("H2").weights["Input"] is net.layer("H").weights["Input"]
    assert net.layer("H2").biases["Input"] is not net.layer("H").biases["Input"]
    c_h2 = net.connections[1]  # config order: Input->H, Input->H2, H->Output, H2->Output
    assert c_h2.shared and c_h2.source == ("Input", "H") and c_h2.sharing_count == 2


def test_shared_weights_transposed_tied_autoencoder() -> None:
    tied = (SharedWeights("H", "Input", "H", transposed=True),)
    cfg = network(
        inp(n=(6,)), hidden("H", 4, ("Input",)), output("Output", 6, ("H",), shared_weights=tied)
    )
    net = run_layer_test(cfg, lambda: dense(6), expected_shapes={"Output": (B, 6)})
    assert net.layer("Output").weights["H"] is net.layer("H").weights["Input"]
    assert net.connections[1].transposed


def test_batch_normalization_fc() -> None:
    cfg = network(
        inp(n=(6,)),
        hidden("H", 4, ("Input",), batch_normalization=True),
        output("Output", 3, ("H",)),
    )
    run_layer_test(cfg, lambda: dense(6), expected_shapes={"H": (B, 4)})


@pytest.mark.parametrize(
    "activation",
    [
        a
        for a in Activation
        if a not in (Activation.PRELU, Activation.RELUMAX, Activation.LINEARMAX)
    ],
)
def test_every_activation(activation: Activation) -> None:
    cfg = network(
        inp(n=(6,)),
        hidden("H", 4, ("Input",), activation=activation, relu_slope=0.3),
        output("Output", 3, ("H",), activation=activation),
    )
    run_layer_test(cfg, lambda: dense(6), expected_shapes={"H": (B, 4), "Output": (B, 3)})


def test_convolution_with_batch_norm_then_fc() -> None:
    cfg = network(
        inp(n=(8, 7, 2), type=LayerType.CONVOLUTIONAL),
        conv("C", 3, "Input", (3, 3), batch_normalization=True, activation=Activation.RELU),
        output("Output", 4, ("C",)),
    )
    run_layer_test(
        cfg, lambda: dense(2 * 7 * 8), expected_shapes={"C": (B, 3, 7, 8), "Output": (B, 4)}
    )


@pytest.mark.parametrize(
    "function",
    [PoolingFunction.MAX, PoolingFunction.AVERAGE, PoolingFunction.LRN, PoolingFunction.MAXOUT],
)
def test_pooling(function: PoolingFunction) -> None:
    two = function == PoolingFunction.MAXOUT
    cfg = network(
        inp(n=(8, 8, 2), type=LayerType.CONVOLUTIONAL),
        conv("C", 4, "Input", (3, 3), activation=Activation.TANH),
        conv("D", 4, "Input", (3, 3), activation=Activation.TANH),
        hidden(
            "P",
            1,
            ("C", "D") if two else ("C",),
            type=LayerType.POOLING,
            pooling_function=function,
            kernel=(2, 2),
            kernel_stride=(2, 2),
        ),
        output("Output", 3, ("P", "D")),
    )
    shape = (
        (B, 4, 8, 8) if function in (PoolingFunction.LRN, PoolingFunction.MAXOUT) else (B, 4, 4, 4)
    )
    run_layer_test(cfg, lambda: dense(2 * 8 * 8), expected_shapes={"P": shape})
