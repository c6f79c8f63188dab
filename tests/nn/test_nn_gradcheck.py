"""Gradient checks in the spirit of DSSTNE's ``NNNetwork::Validate``: float64 finite differences
(``torch.autograd.gradcheck``) against autograd, for the Jacobian of every output w.r.t. every
weight and bias."""

from __future__ import annotations

import pytest
import torch
from conformance import conv, hidden, inp, network, output, random_sparse
from torch.func import functional_call

from lamina.config.enums import Activation, LayerType, PoolingFunction
from lamina.config.model import NetworkConfig, SharedWeights, WeightInit
from lamina.nn import build_network

B = 3


def gradcheck_network(
    cfg: NetworkConfig, inputs: dict, *, train: bool = False, fast: bool = False
) -> None:
    """``fast``: gradcheck's fast mode (random projections of the Jacobian), for conv/pool nets."""
    net = build_network(cfg, seed=4).double()
    net.train(train)
    names, params = zip(
        *[(n, p.detach().clone().requires_grad_()) for n, p in net.named_parameters()],
        strict=True,
    )
    outs = net.output_layers

    def f(*ps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        result = functional_call(net, dict(zip(names, ps, strict=True)), (inputs,))
        return tuple(result.activations[o] for o in outs)

    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=fast)


def dense(*shape: int, seed: int = 0) -> dict[str, torch.Tensor]:
    return {
        "Input": torch.randn(
            B, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
        )
    }


def test_fc_dense() -> None:
    gradcheck_network(
        network(inp(n=(5,)), hidden("H", 4, ("Input",)), output("Output", 3, ("H",))), dense(5)
    )


def test_fc_sparse_input() -> None:
    cfg = network(
        inp(n=(12,), sparse=True), hidden("H", 4, ("Input",)), output("Output", 3, ("H",))
    )
    batch = random_sparse(B, 12, 3, generator=torch.Generator().manual_seed(1))
    gradcheck_network(cfg, {"Input": batch})


def test_multi_source_and_skip() -> None:
    cfg = network(
        inp("A", n=(4,)),
        inp("C", n=(3,)),
        hidden("H1", 3, ("A", "C"), activation=Activation.TANH),
        hidden("H2", 3, ("H1", "C"), skips=("H1", "C")),
        output("Output", 2, ("H2",), skips=()),
    )
    g = torch.Generator().manual_seed(2)
    gradcheck_network(
        cfg,
        {
            "A": torch.randn(B, 4, generator=g, dtype=torch.float64),
            "C": torch.randn(B, 3, generator=g, dtype=torch.float64),
        },
    )


@pytest.mark.parametrize("transposed", [False, True])
def test_shared_weights(transposed: bool) -> None:
    if transposed:  # autoencoder with tied decoder: Output uses H's W^T
        cfg = network(
            inp(n=(5,)),
            hidden("H", 3, ("Input",)),
            output(
                "Output",
                5,
                ("H",),
                shared_weights=(SharedWeights("H", "Input", "H", transposed=True),),
            ),
        )
    else:
        cfg = network(
            inp(n=(5,)),
            hidden("H", 3, ("Input",)),
            hidden("H2", 3, ("Input",), shared_weights=(SharedWeights("Input", "Input", "H"),)),
            output("Output", 2, ("H", "H2")),
        )
    gradcheck_network(cfg, dense(5))


@pytest.mark.parametrize(
    "activation",
    [
        a
        for a in Activation
        if a not in (Activation.PRELU, Activation.RELUMAX, Activation.LINEARMAX)
    ],
)
def test_every_activation(activation: Activation) -> None:
    init = WeightInit(bias=0.1)  # keeps z away from ReLU's kink when a row's inputs are all 0
    cfg = network(
        inp(n=(4,)),
        hidden(
            "H",
            3,
            ("Input",),
            activation=activation,
            relu_slope=0.2,
            elu_alpha=1.3,
            weight_init=init,
        ),
        output("Output", 3, ("H",), activation=activation, relu_slope=0.2, weight_init=init),
    )
    gradcheck_network(cfg, dense(4, seed=5))


def test_batch_norm_in_training_mode() -> None:
    cfg = network(
        inp(n=(4,)),
        hidden("H", 3, ("Input",), batch_normalization=True),
        output("Output", 2, ("H",)),
    )
    gradcheck_network(cfg, {"Input": torch.randn(6, 4, dtype=torch.float64)}, train=True)


def test_convolution_with_stride_and_batch_norm() -> None:
    cfg = network(
        inp(n=(5, 4, 2), type=LayerType.CONVOLUTIONAL),
        conv("C", 2, "Input", (3, 3), (2, 1), batch_normalization=True, activation=Activation.TANH),
        output("Output", 2, ("C",)),
    )
    gradcheck_network(cfg, dense(2 * 4 * 5), train=True, fast=True)


@pytest.mark.parametrize(
    "function",
    [PoolingFunction.MAX, PoolingFunction.AVERAGE, PoolingFunction.LRN, PoolingFunction.MAXOUT],
)
def test_each_pooling_function(function: PoolingFunction) -> None:
    cfg = network(
        inp(n=(5, 5, 1), type=LayerType.CONVOLUTIONAL),
        conv("C", 2, "Input", (3, 3), activation=Activation.SIGMOID),
        conv("D", 2, "Input", (3, 3), activation=Activation.TANH),
        hidden(
            "P",
            1,
            ("C", "D"),
            type=LayerType.POOLING,
            pooling_function=function,
            kernel=(3, 3),
            kernel_stride=(2, 2),
        ),
        output("Output", 2, ("P",)),
    )
    gradcheck_network(cfg, dense(25, seed=7), fast=True)
