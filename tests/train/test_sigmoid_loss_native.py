"""The fused sigmoid cross-entropy family with the C kernels (float32) against the torch path and
against autograd on the dense formulation in float64.

CrossEntropy (with DeltaBoost), ScaledMarginalCrossEntropy and DataScaledMarginalCrossEntropy;
indicator and analog targets, sparse and dense-ish rows, with and without example weights, with
edge logits (0, +-30, +-100); ``a`` made by ``torch.sigmoid`` and by the layers' fused training
sigmoid (whose softplus row sums the loss reuses).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lamina.config.enums import Activation, ErrorFunction
from lamina.config.model import SMCE, DeltaBoost
from lamina.data.batch import SparseBatch
from lamina.nn.native import build, sigmoid_training
from lamina.train.losses import output_loss_and_error

EF = ErrorFunction
B, N = 6, 700
SMCE_MARGINS = SMCE(one_target=0.8, zero_target=0.15, one_scale=2.0, zero_scale=0.5)


def _target(density: float, analog: bool, seed: int) -> SparseBatch:
    rng = np.random.default_rng(seed)
    rows = [np.flatnonzero(rng.random(N) < density) for _ in range(B)]
    rows[2] = np.array([], dtype=np.int64)  # an empty row
    indices = torch.from_numpy(np.concatenate(rows)).long()
    offsets = torch.tensor([0, *np.cumsum([r.size for r in rows])], dtype=torch.int64)
    values = torch.from_numpy(0.2 + 0.8 * rng.random(indices.numel())).float() if analog else None
    return SparseBatch(indices, offsets, values, N)


def _logits(seed: int) -> torch.Tensor:
    z = 5.0 * torch.randn(B, N, generator=torch.Generator().manual_seed(seed))
    z[0, :7] = torch.tensor([0.0, 30.0, -30.0, 100.0, -100.0, 1e-4, -1e-4])
    return z


def _dense_reference(
    z0: torch.Tensor, target: SparseBatch, ef: ErrorFunction, w: torch.Tensor | None, **kw: object
) -> tuple[float, torch.Tensor]:
    """float64 autograd of the dense formulation of each error function (spec 2.3)."""
    z = z0.double().requires_grad_(True)
    t = target.to_dense().double()
    listed = torch.zeros_like(t, dtype=torch.bool)
    listed[target.row_ids, target.indices] = True
    a = torch.sigmoid(z).detach()
    if ef == EF.CROSS_ENTROPY:
        boost: DeltaBoost = kw.get("delta_boost") or DeltaBoost()  # type: ignore[assignment]
        bce = F.binary_cross_entropy_with_logits(z, t, reduction="none")
        terms = torch.where(listed, boost.one * bce, boost.zero * bce)
    else:
        m = SMCE_MARGINS
        v = t if ef == EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY and target.values is not None else 1.0
        one = torch.where(a < m.one_target, m.one_scale * v * F.softplus(-z), 0.0)
        zero = torch.where(a > m.zero_target, m.zero_scale * F.softplus(z), 0.0)
        terms = torch.where(listed, one, zero)
    ww = torch.ones(B, dtype=torch.float64) if w is None else w.double()
    loss = (ww[:, None] * terms).sum()
    (loss / B).backward()
    return loss.item(), z.grad  # type: ignore[return-value]


def _run(
    z0: torch.Tensor,
    target: SparseBatch,
    ef: ErrorFunction,
    w: torch.Tensor | None,
    *,
    fused_sigmoid: bool,
    **kw: object,
) -> tuple[float, float, torch.Tensor]:
    z = z0.clone().requires_grad_(True)
    a = sigmoid_training(z) if fused_sigmoid else torch.sigmoid(z)
    loss, error = output_loss_and_error(
        z, a, target, error_function=ef, activation=Activation.SIGMOID, weights=w, **kw
    )
    (loss / B).backward()
    assert z.grad is not None
    return loss.item(), error.item(), z.grad


CASES = [
    (EF.CROSS_ENTROPY, {}),
    (EF.CROSS_ENTROPY, {"delta_boost": DeltaBoost(one=3.0, zero=0.5)}),
    (EF.SCALED_MARGINAL_CROSS_ENTROPY, {"smce": SMCE_MARGINS}),
    (EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY, {"smce": SMCE_MARGINS}),
]


@pytest.mark.parametrize(("ef", "kw"), CASES, ids=["ce", "ce-boost", "smce", "dsmce"])
@pytest.mark.parametrize("density", [0.02, 0.6], ids=["sparse", "dense-ish"])
@pytest.mark.parametrize("analog", [False, True], ids=["indicator", "analog"])
@pytest.mark.parametrize("weighted", [False, True], ids=["w=None", "weights"])
@pytest.mark.parametrize("fused_sigmoid", [False, True], ids=["torch-sigmoid", "fused-sigmoid"])
def test_native_matches_torch_path_and_dense_autograd(
    native: None,
    monkeypatch: pytest.MonkeyPatch,
    ef: ErrorFunction,
    kw: dict[str, object],
    density: float,
    analog: bool,
    weighted: bool,
    fused_sigmoid: bool,
) -> None:
    seed = int(density * 100) + 2 * analog + weighted
    target, z0 = _target(density, analog, seed), _logits(seed)
    w = 0.5 + torch.rand(B, generator=torch.Generator().manual_seed(seed)) if weighted else None
    loss, error, grad = _run(z0, target, ef, w, fused_sigmoid=fused_sigmoid, **kw)
    ref_loss, ref_grad = _dense_reference(z0, target, ef, w, **kw)
    assert loss == pytest.approx(ref_loss, rel=2e-6)
    scale = float(ref_grad.abs().max())
    # one ulp of a near 0.5 is 6e-8: gradients agree to that, relative to the largest one
    torch.testing.assert_close(grad.double(), ref_grad, rtol=0, atol=4e-7 * max(scale, 1e-3))
    # the pure-torch twin (LAMINA_NATIVE=0) gives the same numbers to float32 rounding
    monkeypatch.setenv("LAMINA_NATIVE", "0")
    build.reset()
    t_loss, t_error, t_grad = _run(z0, target, ef, w, fused_sigmoid=fused_sigmoid, **kw)
    assert loss == pytest.approx(t_loss, rel=2e-6)
    assert error == pytest.approx(t_error, rel=2e-6)
    torch.testing.assert_close(grad, t_grad, rtol=0, atol=4e-7 * max(scale, 1e-3))


def test_fused_sigmoid_stash_is_what_the_loss_uses(
    native: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``a`` from the fused sigmoid the loss runs no softplus pass of its own."""
    from lamina.nn.native import ops

    target, z0 = _target(0.05, False, 9), _logits(9)
    z = z0.clone().requires_grad_(True)
    a = sigmoid_training(z)

    def fail(*args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("softplus pass run although the sigmoid stashed its row sums")

    monkeypatch.setattr(ops, "softplus_rows", fail)
    loss, _ = output_loss_and_error(
        z, a, target, error_function=EF.CROSS_ENTROPY, activation=Activation.SIGMOID
    )
    expected = F.binary_cross_entropy_with_logits(
        z0.double(), target.to_dense().double(), reduction="sum"
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
