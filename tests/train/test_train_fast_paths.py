"""The training hot paths: fused sparse sigmoid cross-entropy (output_loss) and fused Adam.

Both must give the numbers of the plain formulation (autograd on the dense loss; spec 2.6's Adam
table; ``torch.optim.Adam(fused=True)``) and must actually take the fast route.
"""

from __future__ import annotations

import copy
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lamina.config.enums import Activation, ErrorFunction, Optimizer
from lamina.config.model import SMCE, DeltaBoost
from lamina.train.losses import output_loss, output_loss_and_error
from lamina.train.optimizers import make_optimizer

CE, SIGMOID = ErrorFunction.CROSS_ENTROPY, Activation.SIGMOID
ROWS = [[0, 3, 8], [1], [], [2, 5, 6, 7], [4]]  # B = 5 rows of a 9-wide target, one empty


def _loss_and_grad(
    z0: torch.Tensor, target, *, error_function: ErrorFunction = CE, **kw
) -> tuple[torch.Tensor, torch.Tensor]:
    z = z0.clone().requires_grad_(True)
    a = torch.sigmoid(z)
    loss = output_loss(z, a, target, error_function=error_function, activation=SIGMOID, **kw)
    (loss / z.shape[0]).backward()
    return loss.detach(), z.grad


@pytest.mark.parametrize("analog", [False, True], ids=["indicator", "analog"])
def test_unweighted_sparse_ce_equals_dense_autograd(make_sparse, analog: bool) -> None:
    """weights=None takes the scalar-scale branch; value and gradient equal BCE on the dense t."""
    target = make_sparse(ROWS, 9, analog=analog, seed=3)
    z0 = 3.0 * torch.randn(5, 9, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    loss, grad = _loss_and_grad(z0, target)
    t = target.to_dense().double()
    expected = F.binary_cross_entropy_with_logits(z0, t, reduction="sum")
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    torch.testing.assert_close(grad, (torch.sigmoid(z0) - t) / 5, rtol=1e-12, atol=1e-15)


def test_unweighted_delta_boost_is_dsstne_delta(make_sparse) -> None:
    """Raw b0 * a on unlisted units, b1 * (a - 1) on listed ones (kDelta.cu), divided by B."""
    target = make_sparse(ROWS, 9, analog=False)
    z0 = torch.randn(5, 9, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    boost = DeltaBoost(one=4.0, zero=0.25)
    _, grad = _loss_and_grad(z0, target, delta_boost=boost)
    a, t = torch.sigmoid(z0), target.to_dense().double()
    expected = torch.where(t > 0, boost.one * (a - 1), boost.zero * a) / 5
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-15)


def test_float32_at_scale_matches_float64_reference(make_sparse) -> None:
    """A 64 x 3000 float32 minibatch: loss within 1e-6 relative, gradient within 1e-7 absolute."""
    gen = torch.Generator().manual_seed(6)
    rows = [sorted(set(torch.randint(0, 3000, (40,), generator=gen).tolist())) for _ in range(64)]
    target = make_sparse(rows, 3000, analog=False)
    z0 = torch.randn(64, 3000, generator=gen) * 4 - 5  # mostly small activations, some saturated
    z0[0, :5] = torch.tensor([40.0, -40.0, 90.0, -90.0, 0.0])
    loss, grad = _loss_and_grad(z0, target)
    t = target.to_dense().double()
    ref = F.binary_cross_entropy_with_logits(z0.double(), t, reduction="sum")
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    ref_grad = (torch.sigmoid(z0.double()) - t) / 64
    torch.testing.assert_close(grad.double(), ref_grad, rtol=0, atol=1e-7)


def test_fast_path_keeps_only_the_activations(make_sparse) -> None:
    """The graph saves no (B, N) tensor of its own: only ``a``, which the network holds anyway."""
    target = make_sparse(ROWS, 9, analog=False)
    z = torch.randn(5, 9, requires_grad=True)
    a = torch.sigmoid(z)
    loss = output_loss(z, a, target, error_function=CE, activation=SIGMOID)
    big = [s for s in loss.grad_fn.saved_tensors if s is not None and s.dim() == 2]
    assert len(big) == 1 and big[0].data_ptr() == a.data_ptr()


def test_no_grad_forward_gives_the_same_value(make_sparse) -> None:
    target = make_sparse(ROWS, 9, analog=True)
    z = torch.randn(5, 9, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        plain = output_loss(z, torch.sigmoid(z), target, error_function=CE, activation=SIGMOID)
    loss, _ = _loss_and_grad(z, target)
    assert plain.item() == loss.item()


@pytest.mark.parametrize("zero_target", [0.0, -0.5, 0.2])
@pytest.mark.parametrize(
    "ef",
    [ErrorFunction.SCALED_MARGINAL_CROSS_ENTROPY, ErrorFunction.DATA_SCALED_MARGINAL_CROSS_ENTROPY],
)
def test_smce_fused_path_equals_dense_formulation(make_sparse, ef, zero_target: float) -> None:
    """MovieLens sample margins (zeroTarget 0, oneTarget 1) skip the zero mask: still the dense
    formulation's value and gradient, saturated units included (a == 0 and a == 1 exactly)."""
    smce = SMCE(one_target=1.0, zero_target=zero_target, one_scale=2.0, zero_scale=0.5)
    target = make_sparse(ROWS, 9, analog=False)
    z0 = 3.0 * torch.randn(5, 9, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    z0[0, 0], z0[0, 1], z0[3, 2], z0[3, 4] = 40.0, -800.0, 45.0, -760.0  # listed/unlisted extremes
    fused_loss, fused_grad = _loss_and_grad(z0, target, smce=smce, error_function=ef)
    dense_loss, dense_grad = _loss_and_grad(
        z0,
        target.to_dense().double(),
        smce=smce,
        error_function=ErrorFunction.SCALED_MARGINAL_CROSS_ENTROPY,
    )
    assert fused_loss.item() == pytest.approx(dense_loss.item(), rel=1e-12)
    torch.testing.assert_close(fused_grad, dense_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "ef", [CE, ErrorFunction.L2, ErrorFunction.SCALED_MARGINAL_CROSS_ENTROPY], ids=lambda e: e.name
)
def test_loss_and_error_returns_boosted_loss_and_unboosted_error(make_sparse, ef) -> None:
    """One call gives output_loss with the boost (same value and gradient) and the error without
    it (what DSSTNE reports), fused (CE, SMCE) or not (L2)."""
    target = make_sparse(ROWS, 9, analog=True, seed=2)
    z0 = torch.randn(5, 9, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    w = torch.tensor([1.0, 0.5, 2.0, 1.5, 0.25], dtype=torch.float64)
    kw = {"error_function": ef, "activation": SIGMOID, "weights": w}
    boost = DeltaBoost(one=3.0, zero=0.5)
    z = z0.clone().requires_grad_(True)
    loss, error = output_loss_and_error(z, torch.sigmoid(z), target, delta_boost=boost, **kw)
    loss.backward()
    zb = z0.clone().requires_grad_(True)
    boosted = output_loss(zb, torch.sigmoid(zb), target, delta_boost=boost, **kw)
    boosted.backward()
    plain = output_loss(z0, torch.sigmoid(z0), target, **kw)
    assert loss.item() == pytest.approx(boosted.item(), rel=1e-12)
    assert error.item() == pytest.approx(plain.item(), rel=1e-12)
    assert not error.requires_grad
    torch.testing.assert_close(z.grad, zb.grad, rtol=1e-12, atol=1e-15)
    if ef != ErrorFunction.SCALED_MARGINAL_CROSS_ENTROPY:  # SMCE is never boosted
        assert abs(loss.item() - error.item()) > 1e-3


# ---- Adam: the fused route ----
def _adam_reference(w, b, grads_w, grads_b, *, lr, lam, mu, mu1, t_offset):
    """Spec 2.6's Adam row in NumPy (positive gradients; weights decayed, biases not)."""
    mw, sw, mb, sb = (np.zeros_like(x) for x in (w, w, b, b))
    for step, (gw, gb) in enumerate(zip(grads_w, grads_b, strict=True), start=1):
        t = step + t_offset
        g = gw + lam * w
        mw, sw = mu * mw + (1 - mu) * g, mu1 * sw + (1 - mu1) * g * g
        w = w - lr * (mw / (1 - mu**t)) / (np.sqrt(sw / (1 - mu1**t)) + 1e-8)
        mb, sb = mu * mb + (1 - mu) * gb, mu1 * sb + (1 - mu1) * gb * gb
        b = b - lr * (mb / (1 - mu**t)) / (np.sqrt(sb / (1 - mu1**t)) + 1e-8)
    return w, b


@pytest.mark.parametrize("t_offset", [0, 1])
def test_fused_adam_matches_spec_table(t_offset: int) -> None:
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    gws, gbs = [rng.normal(size=(4, 3)) for _ in range(3)], [rng.normal(size=3) for _ in range(3)]
    pw, pb = torch.nn.Parameter(torch.tensor(w)), torch.nn.Parameter(torch.tensor(b))
    hyper = {"lr": 0.05, "lam": 0.01, "mu": 0.8, "mu1": 0.95}
    opt = make_optimizer(
        "adam", [pw], [pb], alpha=0.05, lambda_l2=0.01, mu=0.8, mu1=0.95, adam_t_offset=t_offset
    )
    with mock.patch.object(torch, "_fused_adam_", wraps=torch._fused_adam_) as fused:
        for gw, gb in zip(gws, gbs, strict=True):
            pw.grad, pb.grad = torch.tensor(gw), torch.tensor(gb)
            opt.step()
    assert fused.call_count == 6  # two groups x three steps, no slow path
    ref_w, ref_b = _adam_reference(w, b, gws, gbs, t_offset=t_offset, **hyper)
    np.testing.assert_allclose(pw.detach().numpy(), ref_w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pb.detach().numpy(), ref_b, rtol=1e-10, atol=1e-12)
    assert opt.state[pw]["step"] == 3


def test_fused_adam_is_torch_fused_adam_bit_for_bit() -> None:
    gen = torch.Generator().manual_seed(1)
    w0, b0 = torch.randn(6, 5, generator=gen), torch.randn(5, generator=gen)
    pw, pb = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(b0.clone())
    qw, qb = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(b0.clone())
    ours = make_optimizer(Optimizer.ADAM, [pw], [pb], alpha=1e-2, lambda_l2=1e-3, mu=0.9, mu1=0.999)
    theirs = torch.optim.Adam(
        [{"params": [qw], "weight_decay": 1e-3}, {"params": [qb]}],
        lr=1e-2,
        betas=(0.9, 0.999),
        eps=1e-8,
        fused=True,
    )
    for _ in range(4):
        gw, gb = torch.randn(6, 5, generator=gen), torch.randn(5, generator=gen)
        pw.grad, pb.grad, qw.grad, qb.grad = gw.clone(), gb.clone(), gw.clone(), gb.clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(pw.detach(), qw.detach(), rtol=0, atol=0)
    torch.testing.assert_close(pb.detach(), qb.detach(), rtol=0, atol=0)


def test_l1_decay_and_sparse_gradients_take_the_exact_slow_path() -> None:
    pw = torch.nn.Parameter(torch.ones(4, 2))
    opt = make_optimizer("adam", [pw], [], alpha=0.1, lambda_l1=0.01, mu=0.9, mu1=0.99)
    with mock.patch.object(torch, "_fused_adam_", wraps=torch._fused_adam_) as fused:
        pw.grad = torch.ones(4, 2)
        opt.step()
        assert fused.call_count == 0
    sparse = torch.nn.Parameter(torch.ones(4, 2))
    dense = torch.nn.Parameter(torch.ones(4, 2))
    opt_s = make_optimizer("adam", [sparse], [], alpha=0.1, mu=0.9, mu1=0.99)
    opt_d = make_optimizer("adam", [dense], [], alpha=0.1, mu=0.9, mu1=0.99)
    g = torch.zeros(4, 2)
    g[1] = torch.tensor([1.0, -2.0])
    sparse.grad, dense.grad = g.to_sparse(), g.clone()
    opt_s.step()
    opt_d.step()
    torch.testing.assert_close(sparse.detach(), dense.detach(), rtol=1e-6, atol=1e-7)


def test_fused_adam_resumes_through_state_dict() -> None:
    gen = torch.Generator().manual_seed(2)
    grads = [torch.randn(3, 3, generator=gen) for _ in range(3)]
    p = torch.nn.Parameter(torch.randn(3, 3, generator=gen))
    start = p.detach().clone()
    opt = make_optimizer("adam", [p], [], alpha=0.1, mu=0.9, mu1=0.99, adam_t_offset=1)
    for g in grads[:2]:
        p.grad = g.clone()
        opt.step()
    saved, mid = copy.deepcopy(opt.state_dict()), p.detach().clone()  # state_dict aliases
    p.grad = grads[2].clone()
    opt.step()

    q = torch.nn.Parameter(mid.clone())
    opt2 = make_optimizer("adam", [q], [], alpha=0.1, mu=0.9, mu1=0.99, adam_t_offset=1)
    opt2.load_state_dict(saved)
    q.grad = grads[2].clone()
    opt2.step()
    torch.testing.assert_close(q.detach(), p.detach(), rtol=0, atol=0)
    assert not torch.equal(start, p.detach())
