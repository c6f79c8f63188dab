"""Forward numerics against references: a hand-computed 2-2-2 network, the sparse path against the
dense one, activations against hand formulas, DSSTNE's dropout semantics, weight norm."""

from __future__ import annotations

import math

import pytest
import torch
from conformance import hidden, inp, network, output, random_sparse, sparse_batch

from lamina.config.enums import Activation, LayerType, WeightInitScheme
from lamina.config.model import LayerConfig, SharedWeights, WeightInit
from lamina.errors import ModelError, NotSupportedError
from lamina.nn import build_network
from lamina.nn.activations import make_activation
from lamina.nn.dropout import DsstneDropout


def set_fc(net, layer: str, source: str, w: list[list[float]], b: list[float]) -> None:
    with torch.no_grad():
        net.layer(layer).weights[source].copy_(torch.tensor(w))
        net.layer(layer).biases[source].copy_(torch.tensor(b))


def test_hand_computed_2_2_2_network() -> None:
    cfg = network(
        inp(n=(2,)),
        hidden("Hidden", 2, ("Input",)),
        output("Output", 2, ("Hidden",), activation=Activation.LINEAR),
    )
    net = build_network(cfg, seed=0).eval()
    # W[n_in][n_out]: Z = X.W + b
    set_fc(net, "Hidden", "Input", [[0.1, 0.2], [0.3, 0.4]], [0.5, -0.5])
    set_fc(net, "Output", "Hidden", [[1.0, -1.0], [2.0, 0.5]], [0.0, 0.25])
    out = net({"Input": torch.tensor([[1.0, 2.0]])})
    z1 = [1 * 0.1 + 2 * 0.3 + 0.5, 1 * 0.2 + 2 * 0.4 - 0.5]  # [1.2, 0.5]
    h = [1 / (1 + math.exp(-z)) for z in z1]
    y = [h[0] * 1.0 + h[1] * 2.0, h[0] * -1.0 + h[1] * 0.5 + 0.25]
    torch.testing.assert_close(out.preactivations["Hidden"], torch.tensor([z1]))
    torch.testing.assert_close(out.activations["Hidden"], torch.tensor([h]))
    torch.testing.assert_close(out.activations["Output"], torch.tensor([y]))


def test_two_sources_add_both_biases() -> None:
    cfg = network(
        inp("A", n=(1,)),
        inp("C", n=(1,)),
        output("Output", 1, ("A", "C"), activation=Activation.LINEAR),
    )
    net = build_network(cfg, seed=0)
    set_fc(net, "Output", "A", [[2.0]], [1.0])
    set_fc(net, "Output", "C", [[3.0]], [10.0])
    out = net({"A": torch.tensor([[1.0]]), "C": torch.tensor([[1.0]])})
    assert out.activations["Output"].item() == pytest.approx(2 + 1 + 3 + 10)


@pytest.mark.parametrize("valued", [True, False])
def test_sparse_path_equals_dense_path(valued: bool) -> None:
    cfg = network(
        inp(n=(300,), sparse=True),
        hidden("H", 17, ("Input",), activation=Activation.LINEAR),
        output("Output", 5, ("H",)),
    )
    net = build_network(cfg, seed=3).eval()
    batch = random_sparse(8, 300, 11, generator=torch.Generator().manual_seed(0), valued=valued)
    sparse = net({"Input": batch})
    dense = net({"Input": batch.to_dense()})
    w = net.layer("H").weights["Input"]
    torch.testing.assert_close(
        sparse.preactivations["H"],
        batch.to_dense() @ w + net.layer("H").biases["Input"],
        rtol=0,
        atol=1e-6,
    )
    for name in ("H", "Output"):
        torch.testing.assert_close(
            sparse.activations[name], dense.activations[name], rtol=0, atol=1e-6
        )


def test_sparse_empty_rows_and_duplicates_add_up() -> None:
    cfg = network(
        inp(n=(4,), sparse=True), output("Output", 2, ("Input",), activation=Activation.LINEAR)
    )
    net = build_network(cfg, seed=0)
    set_fc(net, "Output", "Input", [[1, 2], [3, 4], [5, 6], [7, 8]], [0, 0])
    batch = sparse_batch([[], [1, 1, 3]], 4, [[], [1.0, 0.5, 2.0]])
    z = net({"Input": batch}).preactivations["Output"]
    torch.testing.assert_close(z, torch.tensor([[0.0, 0.0], [1.5 * 3 + 2 * 7, 1.5 * 4 + 2 * 8]]))


def test_sparse_batch_wider_than_layer_is_rejected() -> None:
    net = build_network(network(inp(n=(4,), sparse=True), output("Output", 2, ("Input",))), seed=0)
    with pytest.raises(ModelError, match="4 units but its sparse batch is 8 wide"):
        net({"Input": sparse_batch([[7]], 8)})


def test_transposed_shared_weight_is_w_transpose() -> None:
    cfg = network(
        inp(n=(3,)),
        hidden("H", 2, ("Input",), activation=Activation.LINEAR),
        output(
            "Output",
            3,
            ("H",),
            activation=Activation.LINEAR,
            shared_weights=(SharedWeights("H", "Input", "H", transposed=True),),
        ),
    )
    net = build_network(cfg, seed=0)
    x = torch.randn(4, 3)
    out = net({"Input": x})
    w = net.layer("H").weights["Input"]  # (3, 2)
    h = x @ w + net.layer("H").biases["Input"]
    torch.testing.assert_close(
        out.activations["Output"], h @ w.t() + net.layer("Output").biases["H"]
    )
    assert sum(p.numel() for p in net.parameters()) == 3 * 2 + 2 + 3


ACT_CASES = {
    Activation.SIGMOID: lambda x: 1 / (1 + torch.exp(-x)),
    Activation.TANH: torch.tanh,
    Activation.RELU: lambda x: torch.clamp(x, min=0),
    Activation.LINEAR: lambda x: x,
    Activation.SOFTPLUS: lambda x: torch.log1p(torch.exp(x)),
    Activation.SOFTSIGN: lambda x: x / (1 + x.abs()),
    Activation.SOFTMAX: lambda x: torch.exp(x) / torch.exp(x).sum(1, keepdim=True),
    Activation.ELU: lambda x: torch.where(x > 0, x, 0.7 * (torch.exp(x) - 1)),
    Activation.LRELU: lambda x: torch.maximum(x, 0.1 * x),  # DSSTNE's max(x, slope*x)
    Activation.SELU: lambda x: 1.5 * torch.where(x > 0, x, 0.7 * (torch.exp(x) - 1)),
}


@pytest.mark.parametrize("activation", list(ACT_CASES))
def test_activation_matches_hand_formula(activation: Activation) -> None:
    layer = LayerConfig(
        "H",
        hidden("H", 1, ("I",)).kind,
        activation=activation,
        relu_slope=0.1,
        elu_alpha=0.7,
        selu_lambda=1.5,
    )
    x = torch.linspace(-4, 4, 24, dtype=torch.float64).reshape(3, 8)
    torch.testing.assert_close(make_activation(layer)(x), ACT_CASES[activation](x))


def test_softmax_spans_all_units_of_a_spatial_layer() -> None:
    layer = LayerConfig("H", hidden("H", 1, ("I",)).kind, activation=Activation.SOFTMAX)
    y = make_activation(layer)(torch.randn(2, 3, 4, 5))
    torch.testing.assert_close(y.sum(dim=(1, 2, 3)), torch.ones(2))


@pytest.mark.parametrize("activation", [Activation.RELUMAX, Activation.LINEARMAX])
def test_undefined_activations_are_not_supported(activation: Activation) -> None:
    cfg = network(inp(n=(2,)), output("Output", 2, ("Input",), activation=activation))
    with pytest.raises(NotSupportedError, match="never defined"):
        build_network(cfg)


def test_dropout_sigmoid_sets_dropped_to_half_and_keeps_the_rest_unscaled() -> None:
    drop = DsstneDropout(0.3, activation=Activation.SIGMOID).train()
    torch.manual_seed(0)
    x = torch.rand(400, 50) * 0.4 + 0.55  # never exactly 0.5
    y = drop(x)
    dropped = y == 0.5
    assert 0.25 < dropped.float().mean() < 0.35
    torch.testing.assert_close(y[~dropped], x[~dropped], rtol=0, atol=0)


@pytest.mark.parametrize("activation", [Activation.RELU, Activation.TANH, Activation.LINEAR])
def test_dropout_other_activations_zero_and_rescale(activation: Activation) -> None:
    p = 0.4
    drop = DsstneDropout(p, activation=activation).train()
    x = torch.rand(500, 40) + 0.1
    y = drop(x)
    dropped = y == 0
    assert abs(dropped.float().mean().item() - p) < 0.03
    torch.testing.assert_close(y[~dropped], x[~dropped] / (1 - p))


@pytest.mark.parametrize("activation", [Activation.ELU, Activation.SELU])
def test_alpha_dropout_formula(activation: Activation) -> None:
    p, alpha, lam = 0.2, 1.6733, 1.0507
    drop = DsstneDropout(p, activation=activation, elu_alpha=alpha, selu_lambda=lam).train()
    a_ = -(lam if activation == Activation.SELU else 1.0) * alpha
    a = 1 / math.sqrt((1 - p) + a_ * a_ * p * (1 - p))
    b = -a * p * a_
    x = torch.randn(300, 30)
    y = drop(x)
    dropped = torch.isclose(y, torch.full_like(y, a * a_ + b))
    assert abs(dropped.float().mean().item() - p) < 0.03
    torch.testing.assert_close(y[~dropped], a * x[~dropped] + b)


def test_dropout_is_identity_in_eval_and_active_on_dense_inputs_in_training() -> None:
    ones = WeightInit(WeightInitScheme.CONSTANT, 1.0)
    cfg = network(
        inp(n=(50,), p_dropout=0.5),
        hidden("H", 40, ("Input",), p_dropout=0.5, activation=Activation.LINEAR, weight_init=ones),
        output("Output", 3, ("H",)),
    )
    net = build_network(cfg, seed=0)
    x = torch.rand(20, 50) + 0.1
    net.eval()
    h = net({"Input": x}).activations["H"]
    torch.testing.assert_close(h, x.sum(1, keepdim=True).expand(20, 40))  # no dropout at all
    net.train()
    torch.manual_seed(1)
    h = net({"Input": x}).activations["H"]
    assert 0.4 < (h == 0).float().mean() < 0.6  # hidden dropout: zeros ...
    kept = h[h != 0].reshape(-1) / 2  # ... and 1/(1-p) on the rest
    assert not torch.allclose(kept, x.sum(1, keepdim=True).expand(20, 40)[h != 0])  # input dropout
    # inverted dropout keeps the expectation: E[2 * sum(kept x)] = sum(x)
    assert kept.mean().item() == pytest.approx(x.sum(1).mean().item(), rel=0.15)


def test_output_preactivation_is_before_activation() -> None:
    cfg = network(inp(n=(3,)), output("Output", 4, ("Input",), activation=Activation.SIGMOID))
    out = build_network(cfg, seed=0)({"Input": torch.randn(2, 3)})
    torch.testing.assert_close(
        out.activations["Output"], torch.sigmoid(out.preactivations["Output"])
    )


def test_weight_norm_caps_each_units_incoming_vector() -> None:
    cfg = network(
        inp(n=(6,)),
        hidden(
            "H",
            4,
            ("Input",),
            weight_norm=0.5,
            weight_init=WeightInit(WeightInitScheme.GAUSSIAN, 3.0),
        ),
        output("Output", 2, ("H",), weight_init=WeightInit(WeightInitScheme.CONSTANT, 0.01)),
    )
    net = build_network(cfg, seed=0)
    before_out = net.layer("Output").weights["H"].clone()
    net.apply_weight_norm()
    norms = net.layer("H").weights["Input"].norm(dim=0)  # one norm per output unit (column)
    torch.testing.assert_close(norms, torch.full((4,), 0.5))
    torch.testing.assert_close(
        net.layer("Output").weights["H"], before_out
    )  # WeightNorm 0: untouched


def test_forward_references_evaluate_in_dependency_order() -> None:
    cfg = network(
        inp(n=(3,)),
        output("Output", 2, ("Late",), activation=Activation.LINEAR),  # refers to a later layer
        hidden("Late", 4, ("Input",)),
    )
    net = build_network(cfg, seed=0)
    assert net.order == ("Input", "Late", "Output")
    out = net({"Input": torch.randn(2, 3)})
    late = out.activations["Late"]
    expected = late @ net.layer("Output").weights["Late"] + net.layer("Output").biases["Late"]
    torch.testing.assert_close(out.activations["Output"], expected)


def test_sparse_input_feeds_transposed_and_spatial_consumers() -> None:
    tied = (SharedWeights("Input", "H", "Output", transposed=True),)
    cfg = network(
        inp(n=(4, 4, 1), sparse=True),
        hidden("H", 5, ("Input",), activation=Activation.LINEAR),
        hidden(
            "C", 2, ("Input",), type=LayerType.CONVOLUTIONAL, kernel=(3, 3), kernel_stride=(1, 1)
        ),
        hidden("T", 5, ("Input",), shared_weights=tied, activation=Activation.LINEAR),
        output("Output", 16, ("H", "C")),
    )
    net = build_network(cfg, seed=0)
    batch = random_sparse(3, 16, 4, generator=torch.Generator().manual_seed(2))
    sparse, dense = net({"Input": batch}), net({"Input": batch.to_dense()})
    for name in ("H", "C", "T"):
        torch.testing.assert_close(sparse.activations[name], dense.activations[name])
