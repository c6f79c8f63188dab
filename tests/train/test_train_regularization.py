"""Sparseness penalty (gradient == DSSTNE's kCalculateSparsenessPenalty / B), which layers get it,
and the reported weight-decay error."""

from __future__ import annotations

import math

import pytest
import torch

from lamina.config.enums import LayerKind
from lamina.config.model import LayerConfig, NetworkConfig, SparsenessPenalty
from lamina.train.regularization import penalized_layers, regularization_error, sparseness_penalty


def dsstne_penalty(a: torch.Tensor, p: float, beta: float) -> torch.Tensor:
    """kDelta.cu kCalculateSparsenessPenalty: per unit, added to every example's delta."""
    rho = a.mean(dim=0).clamp(1e-6, 0.999999)
    return beta * (-p / rho + (1 - p) / (1 - rho))


@pytest.mark.parametrize("p", [0.0, 0.05, 0.5])
def test_penalty_gradient_is_dsstne_penalty_over_batch(p: float) -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(8, 5, generator=gen, dtype=torch.float64)
    a[:, 0] = 0.0  # rho below the clamp: DSSTNE still applies the penalty at rho = 1e-6
    a[:, 1] = 1.0  # rho above the clamp
    a.requires_grad_(True)
    sparseness_penalty(a, p=p, beta=2.0).backward()
    expected = dsstne_penalty(a.detach(), p, 2.0).expand(8, 5) / 8
    torch.testing.assert_close(a.grad, expected)


def test_penalty_value_is_kl_divergence() -> None:
    a = torch.tensor([[0.2, 0.5], [0.4, 0.5]], dtype=torch.float64)  # rho = [0.3, 0.5]
    p, rho = 0.1, 0.3
    kl = p * math.log(p / rho) + (1 - p) * math.log((1 - p) / (1 - rho))
    kl2 = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    assert sparseness_penalty(a, p=p, beta=3.0).item() == pytest.approx(3.0 * (kl + kl2))


def _net(beta: float, layers: list[LayerConfig]) -> NetworkConfig:
    return NetworkConfig(
        version=0.8, layers=tuple(layers), sparseness_penalty=SparsenessPenalty(p=0.5, beta=beta)
    )


def test_penalized_layers_follow_dsstne_rule() -> None:
    layers = [
        LayerConfig(name="In", kind=LayerKind.INPUT, sparse=True),
        LayerConfig(name="H1", kind=LayerKind.HIDDEN, sparse=True),
        LayerConfig(name="H2", kind=LayerKind.HIDDEN, sparse=False),
        LayerConfig(
            name="H3",
            kind=LayerKind.HIDDEN,
            sparse=True,
            sparseness_penalty=SparsenessPenalty(p=0.1, beta=0.0),  # p overrides, beta inherits
        ),
        LayerConfig(name="Out", kind=LayerKind.OUTPUT, sparse=True),
    ]
    assert penalized_layers(_net(2.0, layers)) == {"H1": (0.5, 2.0), "H3": (0.1, 2.0)}
    assert penalized_layers(_net(0.0, layers)) == {}  # network beta 0 switches it off everywhere


def test_regularization_error() -> None:
    w1 = torch.tensor([[1.0, -2.0]])
    w2 = torch.tensor([3.0])
    # 0.5 * 0.1 * (1 + 4 + 9) + 0.01 * (1 + 2 + 3)
    assert regularization_error([w1, w2], 0.1, 0.01) == pytest.approx(0.7 + 0.06)
    assert regularization_error([], 0.1, 0.01) == 0.0


def test_regularization_error_matches_float64_on_a_large_matrix() -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3000, 700, generator=gen)  # 2.1 M weights: float32 sums must stay accurate
    ref = 0.5 * 1e-4 * float((w.double() ** 2).sum()) + 1e-5 * float(w.double().abs().sum())
    assert regularization_error([w], 1e-4, 1e-5) == pytest.approx(ref, rel=1e-6)
