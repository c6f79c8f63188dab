"""output_loss: gradient of (loss_sum / B) w.r.t. z == DSSTNE's output delta / B (spec 2.4), values
against hand-computed cases, sparse == dense formulation, and the rejected combinations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lamina.config.enums import Activation, ErrorFunction
from lamina.config.model import SMCE, DeltaBoost
from lamina.errors import ConfigError, NotSupportedError
from lamina.train.losses import check_error_function, output_loss

A, EF = Activation, ErrorFunction
SLOPE, ELU_ALPHA = 0.3, 1.0
SMCE_CFG = SMCE(one_target=0.8, zero_target=0.3, one_scale=2.0, zero_scale=0.5)
BOOST = DeltaBoost(one=30.0, zero=0.5)
ROWS = [[0, 3], [1], [], [2, 5, 6]]  # B = 4 rows of a 7-wide sparse target; one row empty

FORWARD = {
    A.SIGMOID: torch.sigmoid,
    A.TANH: torch.tanh,
    A.LINEAR: lambda z: z,
    A.RELU: torch.relu,
    A.LRELU: lambda z: F.leaky_relu(z, SLOPE),
    A.ELU: lambda z: F.elu(z, ELU_ALPHA),
    A.SOFTMAX: lambda z: torch.softmax(z, dim=1),
}


# ---- the reference: DSSTNE's delta formulas (kDelta.cu, spec 2.4), written out in NumPy ----
def fprime(act: Activation, a: np.ndarray) -> np.ndarray:
    """DSSTNE's f'(a) in CalculateOutputDelta."""
    return {
        A.SIGMOID: lambda: a * (1 - a),
        A.TANH: lambda: 1 - a * a,
        A.LINEAR: lambda: np.ones_like(a),
        A.RELU: lambda: (a > 0).astype(float),
        A.LRELU: lambda: (a > 0) + SLOPE * (a <= 0),
        A.ELU: lambda: (a >= 0) + (a < 0) * (a + ELU_ALPHA),
        A.SOFTMAX: lambda: np.ones_like(a),
    }[act]()


def l2hinge_d(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    d = a - np.abs(t)
    return np.where(t > 0, np.minimum(0, d), np.maximum(0, d))


def dsstne_dense_delta(
    ef: ErrorFunction, act: Activation, a: np.ndarray, t: np.ndarray
) -> np.ndarray:
    s = SMCE_CFG
    if ef == EF.L2:
        return (a - t) * fprime(act, a)
    if ef == EF.L1:
        return np.sign(a - t) * fprime(act, a)
    if ef == EF.L2_HINGE:
        return l2hinge_d(a, t) * fprime(act, a)
    if ef == EF.CROSS_ENTROPY:
        return a - t
    assert ef == EF.SCALED_MARGINAL_CROSS_ENTROPY and act == A.SIGMOID
    one = (t == 1) & (a < s.one_target)
    zero = (t == 0) & (a > s.zero_target)
    return np.where(one, s.one_scale * (a - 1), np.where(zero, s.zero_scale * a, 0.0))


def dsstne_sparse_delta(
    ef: ErrorFunction, act: Activation, a: np.ndarray, rows: list[list[int]], values, w: np.ndarray
) -> np.ndarray:
    """Raw kernel over all units (t = 0), then the non-zero kernel overwrites listed units."""
    s, fp = SMCE_CFG, fprime(act, a)
    boost = act == A.SIGMOID and ef in (EF.L2, EF.CROSS_ENTROPY)
    b1, b0 = (BOOST.one, BOOST.zero) if boost else (1.0, 1.0)
    raw = {
        EF.L2: lambda: b0 * a * fp,
        EF.L1: lambda: np.sign(a) * fp,
        EF.L2_HINGE: lambda: np.maximum(0, a) * fp,
        EF.CROSS_ENTROPY: lambda: b0 * a,
        EF.SCALED_MARGINAL_CROSS_ENTROPY: lambda: np.where(a > s.zero_target, s.zero_scale * a, 0),
        EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY: lambda: np.where(
            a > s.zero_target, s.zero_scale * a, 0
        ),
    }[ef]()
    delta = raw.copy()
    k = 0
    for b, cols in enumerate(rows):
        for c in cols:
            v = 1.0 if values is None else float(values[k])
            if act == A.SOFTMAX and values is None:
                v = 1.0 / len(cols)  # kCalculateSparseNonZeroSoftMaxOutputDelta: a - 1/nnz
            x, f = a[b, c], fp[b, c]
            if ef == EF.L2:
                delta[b, c] = b1 * (x - v) * f
            elif ef == EF.L1:
                delta[b, c] = np.sign(x - v) * f
            elif ef == EF.L2_HINGE:
                delta[b, c] = min(0.0, x - v) * f
            elif ef == EF.CROSS_ENTROPY:
                delta[b, c] = b1 * (x - v)
            elif ef == EF.SCALED_MARGINAL_CROSS_ENTROPY:
                delta[b, c] = s.one_scale * (x - 1) * (x < s.one_target)
            else:  # DataScaledMarginalCrossEntropy
                delta[b, c] = s.one_scale * v * (x - 1) * (x < s.one_target)
            k += 1
        if act == A.SOFTMAX and not cols:
            # Deviation (documented): no target, no softmax CE gradient; DSSTNE leaves delta = a.
            delta[b] = 0.0
    return delta * w[:, None]


# ---- helpers ----
def grad_of_mean_loss(z0: torch.Tensor, act: Activation, target, ef: ErrorFunction, **kw):
    z = z0.clone().requires_grad_(True)
    loss = output_loss(z, FORWARD[act](z), target, error_function=ef, activation=act, **kw)
    (loss / z.shape[0]).backward()
    return loss.detach(), z.grad


def logits(seed: int, shape=(4, 7)) -> torch.Tensor:
    return 2.0 * torch.randn(
        shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


POINTWISE_ACTS = [A.SIGMOID, A.TANH, A.LINEAR, A.RELU, A.LRELU, A.ELU]
DENSE_PAIRS = [(ef, act) for ef in (EF.L1, EF.L2, EF.L2_HINGE) for act in POINTWISE_ACTS] + [
    (EF.CROSS_ENTROPY, A.SIGMOID),
    (EF.CROSS_ENTROPY, A.SOFTMAX),
    (EF.SCALED_MARGINAL_CROSS_ENTROPY, A.SIGMOID),
]


@pytest.mark.parametrize(("ef", "act"), DENSE_PAIRS, ids=lambda x: x.name)
def test_dense_gradient_is_dsstne_delta(ef: ErrorFunction, act: Activation) -> None:
    z0 = logits(1)
    gen = torch.Generator().manual_seed(2)
    if act == A.SOFTMAX:  # CE with SoftMax: rows of t sum to 1 (a probability target)
        t = torch.softmax(torch.randn(4, 7, generator=gen, dtype=torch.float64), dim=1)
    elif ef == EF.SCALED_MARGINAL_CROSS_ENTROPY:
        t = (torch.rand(4, 7, generator=gen) < 0.5).double()
    else:
        t = torch.rand(4, 7, generator=gen, dtype=torch.float64) * 2 - 0.5
    w = torch.tensor([1.0, 0.5, 2.0, 1.5], dtype=torch.float64)
    _, grad = grad_of_mean_loss(z0, act, t, ef, smce=SMCE_CFG, weights=w)
    a = FORWARD[act](z0).numpy()
    expected = dsstne_dense_delta(ef, act, a, t.numpy()) * w.numpy()[:, None] / 4
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-9, atol=1e-12)


SPARSE_PAIRS = (
    [(ef, act) for ef in (EF.L1, EF.L2, EF.L2_HINGE) for act in POINTWISE_ACTS]
    + [(EF.CROSS_ENTROPY, A.SIGMOID), (EF.CROSS_ENTROPY, A.SOFTMAX)]
    + [(EF.SCALED_MARGINAL_CROSS_ENTROPY, A.SIGMOID)]
    + [(EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY, A.SIGMOID)]
)


@pytest.mark.parametrize("analog", [False, True], ids=["indicator", "analog"])
@pytest.mark.parametrize(("ef", "act"), SPARSE_PAIRS, ids=lambda x: x.name)
def test_sparse_gradient_is_dsstne_delta(ef, act, analog: bool, make_sparse) -> None:
    if act == A.SOFTMAX and analog:
        pytest.skip("SoftMax CE with analog targets: covered by the dense-equivalence test")
    target = make_sparse(ROWS, 7, analog=analog)
    z0 = logits(3)
    w = torch.tensor([1.0, 0.5, 2.0, 1.5], dtype=torch.float64)
    _, grad = grad_of_mean_loss(z0, act, target, ef, smce=SMCE_CFG, delta_boost=BOOST, weights=w)
    a = FORWARD[act](z0).numpy()
    values = None if target.values is None else target.values.numpy()
    expected = dsstne_sparse_delta(ef, act, a, ROWS, values, w.numpy()) / 4
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-6, atol=1e-9)


def dense_equivalent(target, act: Activation) -> torch.Tensor:
    t = target.to_dense().double()
    if act == A.SOFTMAX and target.values is None:
        t = t / t.sum(dim=1, keepdim=True).clamp(min=1)
    return t


@pytest.mark.parametrize("analog", [False, True], ids=["indicator", "analog"])
@pytest.mark.parametrize(
    ("ef", "act"),
    [
        (EF.L1, A.SOFTMAX),
        (EF.L2, A.SOFTMAX),
        (EF.L2, A.TANH),
        (EF.CROSS_ENTROPY, A.SIGMOID),
        (EF.CROSS_ENTROPY, A.SOFTMAX),
        (EF.SCALED_MARGINAL_CROSS_ENTROPY, A.SOFTMAX),
        (EF.L2_HINGE, A.SIGMOID),
    ],
    ids=lambda x: x.name,
)
def test_sparse_equals_dense_formulation(ef, act, analog: bool, make_sparse) -> None:
    """Raw + O(nnz) correction == the dense loss on the densified minibatch (value and gradient)."""
    target = make_sparse(ROWS, 7, analog=analog, seed=5)
    if ef == EF.SCALED_MARGINAL_CROSS_ENTROPY and analog:
        pytest.skip("SMCE ignores analog values; the dense form would not")
    z0 = logits(4)
    w = torch.tensor([0.3, 1.0, 2.0, 1.0], dtype=torch.float64)
    loss_s, grad_s = grad_of_mean_loss(z0, act, target, ef, smce=SMCE_CFG, weights=w)
    loss_d, grad_d = grad_of_mean_loss(
        z0, act, dense_equivalent(target, act), ef, smce=SMCE_CFG, weights=w
    )
    assert loss_s.item() == pytest.approx(loss_d.item(), rel=1e-9)
    torch.testing.assert_close(grad_s, grad_d, rtol=1e-9, atol=1e-12)


# ---- values against hand-computed cases ----
def value(z, target, ef, act, **kw) -> float:
    z = torch.as_tensor(z, dtype=torch.float64)
    return output_loss(z, FORWARD[act](z), target, error_function=ef, activation=act, **kw).item()


def test_values_by_hand(make_sparse) -> None:
    t = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    z = [[0.0, 0.0]]  # sigmoid -> a = 0.5 everywhere
    assert value(z, t, EF.L2, A.SIGMOID) == pytest.approx(2 * 0.5 * 0.25)
    assert value(z, t, EF.L1, A.SIGMOID) == pytest.approx(1.0)
    assert value(z, t, EF.CROSS_ENTROPY, A.SIGMOID) == pytest.approx(2 * math.log(2))
    assert value(z, t, EF.CROSS_ENTROPY, A.SOFTMAX) == pytest.approx(math.log(2))
    # L2Hinge: t=1, a=0.5 -> d = min(0, -0.5); t=0, a=0.5 -> d = max(0, 0.5)
    assert value(z, t, EF.L2_HINGE, A.SIGMOID) == pytest.approx(0.125 + 0.125)
    # Hinge (linear output): max(0, 1 - t*a) with t = [1, -1], a = [0.25, 0.5]
    tt = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    assert value([[0.25, 0.5]], tt, EF.HINGE, A.LINEAR) == pytest.approx(0.75 + 1.5)
    # weights multiply
    w = torch.tensor([3.0], dtype=torch.float64)
    assert value(z, t, EF.L2, A.SIGMOID, weights=w) == pytest.approx(0.75)


def test_smce_margins_by_hand(make_sparse) -> None:
    """oneTarget 0.8 / zeroTarget 0.3, scales 2 / 0.5: only units outside their margin count."""
    a = torch.tensor([[0.9, 0.6, 0.2, 0.5]], dtype=torch.float64)
    z = torch.log(a / (1 - a))
    t = torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    expected = 2.0 * -math.log(0.6) + 0.5 * -math.log(0.5)  # units 1 and 3 only
    assert value(z, t, EF.SCALED_MARGINAL_CROSS_ENTROPY, A.SIGMOID, smce=SMCE_CFG) == pytest.approx(
        expected
    )
    sparse = make_sparse([[0, 1]], 4, analog=False)
    got = value(z, sparse, EF.SCALED_MARGINAL_CROSS_ENTROPY, A.SIGMOID, smce=SMCE_CFG)
    assert got == pytest.approx(expected)
    # DSMCE scales the listed term by the stored value; indicator data falls back to SMCE
    analog = make_sparse([[0, 1]], 4, analog=True)
    v1 = analog.values[1].item()
    got = value(z, analog, EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY, A.SIGMOID, smce=SMCE_CFG)
    assert got == pytest.approx(2.0 * v1 * -math.log(0.6) + 0.5 * -math.log(0.5))
    got = value(z, sparse, EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY, A.SIGMOID, smce=SMCE_CFG)
    assert got == pytest.approx(expected)


def test_softmax_smce_value_by_hand() -> None:
    """a = 1/4 everywhere; listed units (t = 1/2) are below oneTarget 0.8, scale 2."""
    t = torch.tensor([[0.5, 0.5, 0.0, 0.0]], dtype=torch.float64)
    got = value(torch.zeros(1, 4), t, EF.SCALED_MARGINAL_CROSS_ENTROPY, A.SOFTMAX, smce=SMCE_CFG)
    assert got == pytest.approx(2.0 * math.log(4))


def test_sparse_softmax_ce_uses_uniform_target(make_sparse) -> None:
    """Two listed units of four, all logits equal: -(1/2 log 1/4) * 2 = log 4; empty rows add 0."""
    target = make_sparse([[0, 2], []], 4, analog=False)
    assert value(torch.zeros(2, 4), target, EF.CROSS_ENTROPY, A.SOFTMAX) == pytest.approx(
        math.log(4)
    )


def test_delta_boost_scales_the_objective(make_sparse) -> None:
    target = make_sparse([[0]], 2, analog=False)
    z = [[0.0, 0.0]]
    plain = value(z, target, EF.CROSS_ENTROPY, A.SIGMOID)
    boosted = value(z, target, EF.CROSS_ENTROPY, A.SIGMOID, delta_boost=DeltaBoost(one=3, zero=2))
    assert plain == pytest.approx(2 * math.log(2))
    assert boosted == pytest.approx(5 * math.log(2))


def test_cross_entropy_from_logits_is_finite_when_saturated() -> None:
    z = torch.tensor([[60.0, -60.0]], dtype=torch.float32)
    t = torch.tensor([[0.0, 1.0]])
    loss = output_loss(
        z, torch.sigmoid(z), t, error_function=EF.CROSS_ENTROPY, activation=A.SIGMOID
    )
    assert loss.item() == pytest.approx(120.0)


# ---- deliberate deviations: the gradient of the reported error ----
def test_hinge_gradient_is_gradient_of_reported_error() -> None:
    z0 = torch.tensor([[-0.5, 0.5, 2.0, -2.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 1.0, 1.0, -1.0]], dtype=torch.float64)
    _, grad = grad_of_mean_loss(z0, A.LINEAR, t, EF.HINGE)
    # -t where t*a < 1 (DSSTNE's delta would be -t only where a < 0: [-1, 0, 0, 1])
    torch.testing.assert_close(grad, torch.tensor([[-1.0, -1.0, 0.0, 0.0]], dtype=torch.float64))


def test_softmax_l2_and_selu_use_true_derivatives() -> None:
    z0 = logits(7)
    t = torch.rand(4, 7, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    for act, fwd in ((A.SOFTMAX, FORWARD[A.SOFTMAX]), (A.SELU, torch.selu)):
        z = z0.clone().requires_grad_(True)
        output_loss(z, fwd(z), t, error_function=EF.L2, activation=act).backward()
        zz = z0.clone().requires_grad_(True)
        (0.5 * (fwd(zz) - t) ** 2).sum().backward()
        torch.testing.assert_close(z.grad, zz.grad)


# ---- rejected combinations ----
@pytest.mark.parametrize("act", [A.LINEAR, A.RELU, A.TANH])
@pytest.mark.parametrize("ef", [EF.CROSS_ENTROPY, EF.SCALED_MARGINAL_CROSS_ENTROPY])
def test_cross_entropy_needs_sigmoid_or_softmax(ef, act) -> None:
    with pytest.raises(ConfigError, match=r"Sigmoid, SoftMax"):
        check_error_function(ef, act)
    z = torch.zeros(1, 2)
    with pytest.raises(ConfigError):
        output_loss(z, z, torch.zeros(1, 2), error_function=ef, activation=act)


def test_unsupported_combinations(make_sparse) -> None:
    z = torch.zeros(1, 3)
    with pytest.raises(ConfigError, match="Sigmoid"):
        check_error_function(EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY, A.SOFTMAX)
    with pytest.raises(NotSupportedError, match="dense"):
        output_loss(
            z, z, make_sparse([[0]], 3, analog=False), error_function=EF.HINGE, activation=A.LINEAR
        )
    with pytest.raises(NotSupportedError, match="sparse"):
        output_loss(
            z,
            torch.sigmoid(z),
            torch.zeros(1, 3),
            error_function=EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY,
            activation=A.SIGMOID,
        )
