"""DSSTNE's output-layer error functions (spec 2.3) as differentiable torch losses.

``output_loss`` returns the error summed over the minibatch, as DSSTNE reports it, and is built so
that ``d(output_loss(...) / B) / dz`` equals DSSTNE's output delta ``δ / B`` (spec 2.4) for every
pair where DSSTNE's delta is the gradient of a loss. Where it is not, the gradient of the reported
loss is used; each such choice is marked "Deviation:" below.

Cross-entropy-family losses are computed from the logits ``z`` (numerically stable, no 1e-12 clamp);
their margins (SMCE) compare DSSTNE's way, against the activation ``a``. L1/L2/L2Hinge/Hinge are
computed from ``a``, so their gradient reaches ``z`` through the model's own activation (its
``f'``).

Sparse targets (``SparseBatch``) are never densified: a "raw" term over all B x N units with t = 0
plus a correction over the O(nnz) listed units, as DSSTNE's kernels do. SoftMax outputs read
indicator targets as the distribution t = 1/nnz over the row's listed units (DSSTNE's
``a - 1/nnz``); analog targets are used as stored.

Hot path: CrossEntropy, SMCE and DSMCE on a Sigmoid output with a sparse target (the recommender
case; the output layer is 80-85 % of a training step) run through one ``autograd.Function``:
forward is one softplus pass over the B x N logits plus O(nnz) gathers; backward is one pass
writing ``grad_z = go * w * a`` (DSSTNE's raw delta, from ``a``: no second sigmoid) plus an O(nnz)
scatter for the listed units (the non-zero delta). No other (B, N) temporary is kept, and sums over
B x N units are cascade sums in the input dtype, accumulated in float64 per row.
``output_loss_and_error`` also returns the unboosted error DSSTNE reports, from the same pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lamina.config.enums import Activation, ErrorFunction, label
from lamina.config.model import SMCE, DeltaBoost
from lamina.data.batch import SparseBatch
from lamina.errors import ConfigError, ModelError, NotSupportedError

__all__ = ["check_error_function", "output_loss", "output_loss_and_error"]

EF = ErrorFunction
_CE_FAMILY = (
    EF.CROSS_ENTROPY,
    EF.SCALED_MARGINAL_CROSS_ENTROPY,
    EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY,
)
_Term = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_error_function(
    error_function: ErrorFunction, activation: Activation, *, where: str = "ErrorFunction"
) -> None:
    """Reject (error function, output activation) pairs DSSTNE has no delta for.

    DSSTNE computes CrossEntropy/SMCE deltas only for Sigmoid and SoftMax outputs (with any other
    activation it leaves the delta buffer untouched: garbage) and exits on DataScaledMarginal-
    CrossEntropy with SoftMax. Call this when the network is built; ``output_loss`` calls it too.

    Raises:
        ConfigError: the pair makes no sense; the message says what to use instead.
    """
    ef, act = label(error_function), label(activation)
    if error_function == EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY and activation != Activation.SIGMOID:
        raise ConfigError(
            f"{where} {ef} needs a Sigmoid output activation. Got {act!r}.",
            hint="use Sigmoid on the output layer, or ScaledMarginalCrossEntropy with SoftMax",
        )
    if error_function in _CE_FAMILY and activation not in (Activation.SIGMOID, Activation.SOFTMAX):
        raise ConfigError(
            f"{where} {ef} needs an output activation in [Sigmoid, SoftMax]. Got {act!r}.",
            hint="set the output layer's Activation to Sigmoid or SoftMax, or use ErrorFunction L2",
        )


def _pointwise(error_function: ErrorFunction, a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Per-unit L1 / L2 / L2Hinge / Hinge error of ``a`` against targets ``t`` (same shape)."""
    if error_function == EF.L1:
        return (a - t).abs()
    if error_function == EF.L2:
        return 0.5 * (a - t) ** 2
    if error_function == EF.L2_HINGE:
        d = a - t.abs()
        d = torch.where(t > 0, d.clamp(max=0.0), d.clamp(min=0.0))
        return 0.5 * d * d
    # Deviation: DSSTNE's Hinge delta is (a < 0 ? -t : 0), not the gradient of max(0, 1 - t*a);
    # autograd gives -t * [t*a < 1] * f'(z), the gradient of the error DSSTNE reports.
    return (1.0 - t * a).clamp(min=0.0)


def _margins(a: torch.Tensor, smce: SMCE) -> tuple[torch.Tensor, torch.Tensor]:
    """(one_active, zero_active) bool masks: a < oneTarget, a > zeroTarget (strict, as DSSTNE)."""
    a = a.detach()
    return a < smce.one_target, a > smce.zero_target


def _dense_terms(
    z: torch.Tensor,
    a: torch.Tensor,
    t: torch.Tensor,
    ef: ErrorFunction,
    act: Activation,
    smce: SMCE,
) -> torch.Tensor:
    """(B, N) per-unit errors for a dense target ``t`` (B, N)."""
    if ef == EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY:
        raise NotSupportedError(
            "DataScaledMarginalCrossEntropy needs a sparse analog target dataset; got dense ones",
            hint="use ScaledMarginalCrossEntropy for dense targets",
        )
    one_on, zero_on = _margins(a, smce)
    if act == Activation.SOFTMAX and ef in _CE_FAMILY:
        logp = torch.log_softmax(z, dim=1)  # (B, N)
        if ef == EF.CROSS_ENTROPY:
            # Gradient a * sum(t) - t: DSSTNE's a - t whenever each row of t sums to 1.
            return -t * logp
        # Deviation: DSSTNE's SoftMax SMCE delta (a - t on t>0, a on t==0) is no loss's gradient;
        # we use the gradient of the error it reports, -oneScale*t*log(a) on t != 0, a < oneTarget.
        return torch.where((t != 0) & one_on, -smce.one_scale * t * logp, 0.0)
    if ef == EF.CROSS_ENTROPY:
        return F.binary_cross_entropy_with_logits(z, t, reduction="none")
    if ef == EF.SCALED_MARGINAL_CROSS_ENTROPY:
        one = torch.where((t == 1) & one_on, smce.one_scale * F.softplus(-z), 0.0)
        return one + torch.where((t == 0) & zero_on, smce.zero_scale * F.softplus(z), 0.0)
    return _pointwise(ef, a, t)


def _sparse_terms(
    ef: ErrorFunction, smce: SMCE, analog: bool
) -> tuple[_Term, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]]:
    """(zero_term(z, a), listed_term(z, a, v)): per-unit error of an unlisted (t = 0) unit and of a
    listed unit with target value ``v``, for non-SoftMax outputs."""
    if ef == EF.CROSS_ENTROPY:
        return (
            lambda z, a: F.softplus(z),
            lambda z, a, v: F.binary_cross_entropy_with_logits(z, v, reduction="none"),
        )
    if ef in (EF.SCALED_MARGINAL_CROSS_ENTROPY, EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY):
        # SMCE ignores stored values (every listed unit is t = 1); DSMCE scales by them.
        scale_by_v = ef == EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY and analog

        def zero(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
            return torch.where(_margins(a, smce)[1], smce.zero_scale * F.softplus(z), 0.0)

        def listed(z: torch.Tensor, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            term = smce.one_scale * F.softplus(-z) * (v if scale_by_v else 1.0)
            return torch.where(_margins(a, smce)[0], term, 0.0)

        return zero, listed
    return (
        lambda z, a: _pointwise(ef, a, torch.zeros_like(a)),
        lambda z, a, v: _pointwise(ef, a, v),
    )


@dataclass(frozen=True)
class _SigmoidTerms:
    """Per-unit errors of the sigmoid cross-entropy family on sparse targets (spec 2.3/2.4).

    Unlisted units: ``zero_scale * softplus(z)`` where ``a > zero_target`` (no margin if None).
    Listed units with value v: ``one_scale * bce(z, v)`` if ``bce`` (CrossEntropy), else
    ``one_scale * softplus(-z) * (v if scale_by_v else 1)`` where ``a < one_target`` (SMCE, DSMCE).
    """

    zero_scale: float
    one_scale: float
    zero_target: float | None = None
    one_target: float | None = None
    bce: bool = True
    scale_by_v: bool = False

    def listed(self, z: torch.Tensor, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(nnz,) error of listed units."""
        if self.bce:
            return self.one_scale * F.binary_cross_entropy_with_logits(z, v, reduction="none")
        term = self.one_scale * F.softplus(-z) * (v if self.scale_by_v else 1.0)
        return term if self.one_target is None else torch.where(a < self.one_target, term, 0.0)

    def listed_delta(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(nnz,) d(listed)/dz, DSSTNE's non-zero delta kernel."""
        if self.bce:
            return self.one_scale * (a - v)
        delta = self.one_scale * (a - 1.0) * (v if self.scale_by_v else 1.0)
        return delta if self.one_target is None else torch.where(a < self.one_target, delta, 0.0)

    def unboosted(self) -> _SigmoidTerms:
        """These terms without DeltaBoost (the boost is CrossEntropy's scales, never SMCE's)."""
        return _SigmoidTerms(zero_scale=1.0, one_scale=1.0) if self.bce else self

    def zero_mask(self, a: torch.Tensor) -> torch.Tensor | None:
        """Bool mask of unlisted units inside the margin, None when every unit counts."""
        return None if self.zero_target is None else a > self.zero_target


class _SparseSigmoidLoss(torch.autograd.Function):
    """Sigmoid cross-entropy family summed over all B x N units against a sparse target, with
    DSSTNE's sparse delta kernels as its backward (kDelta.cu: raw ``zero_scale * w * a``, then the
    listed units' non-zero delta). Using ``a`` rather than recomputing ``sigmoid(z)`` is DSSTNE's
    own delta and saves a transcendental pass; ``a`` must be the output activation of ``z``.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        z: torch.Tensor,
        a: torch.Tensor,
        rows: torch.Tensor,
        cols: torch.Tensor,
        v: torch.Tensor,
        w: torch.Tensor | None,
        terms: _SigmoidTerms,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z, a: (B, N); rows, cols: (nnz,) int64; v: (nnz,) target values; w: (B,) or None.

        Returns (error with ``terms``, error without DeltaBoost), both 0-d; the second is not
        differentiable and costs only O(nnz) more (the softplus pass is shared).
        """
        flat = rows * z.shape[1] + cols  # (nnz,) offsets into the contiguous (B, N) buffers
        z_nz = z.reshape(-1).index_select(0, flat)  # (nnz,)
        a_nz = a.reshape(-1).index_select(0, flat)
        mask_nz = terms.zero_mask(a_nz)
        softplus_nz = F.softplus(z_nz)
        softplus_nz = softplus_nz if mask_nz is None else torch.where(mask_nz, softplus_nz, 0.0)
        corrections = []
        for t in (terms, terms.unboosted()):  # listed units replace their raw term
            correction = t.listed(z_nz, a_nz, v) - t.zero_scale * softplus_nz  # (nnz,)
            corrections.append(correction if w is None else w[rows] * correction)
        raw_terms = F.softplus(z)  # (B, N): the only full pass of the forward
        mask = terms.zero_mask(a)
        if mask is not None:
            raw_terms = raw_terms.masked_fill_(~mask, 0.0)
        if w is None:  # cascade sum in z's dtype, then float64
            raw = raw_terms.sum().to(torch.float64)
        else:
            raw = (w.to(torch.float64) * raw_terms.sum(dim=1)).sum()
        total, plain = (
            t.zero_scale * raw + c.sum(dtype=torch.float64)
            for t, c in zip((terms, terms.unboosted()), corrections, strict=True)
        )
        ctx.save_for_backward(a, rows, flat, v, w)
        ctx.terms = terms
        plain = plain.to(z.dtype)
        ctx.mark_non_differentiable(plain)
        return total.to(z.dtype), plain

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, go: torch.Tensor, _go_plain: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        """grad_z (B, N) = go * w * (zero_scale * a on unlisted units, listed delta on listed)."""
        a, rows, flat, v, w = ctx.saved_tensors
        terms: _SigmoidTerms = ctx.terms
        scale = go * terms.zero_scale if w is None else (go * terms.zero_scale * w)[:, None]
        grad = torch.mul(a, scale).contiguous()  # (B, N): the only full pass of the backward
        mask = terms.zero_mask(a)
        if mask is not None:
            grad.masked_fill_(~mask, 0.0)
        a_nz = a.reshape(-1).index_select(0, flat)
        zero_nz = terms.zero_scale * a_nz
        mask_nz = terms.zero_mask(a_nz)
        zero_nz = zero_nz if mask_nz is None else torch.where(mask_nz, zero_nz, 0.0)
        fix = terms.listed_delta(a_nz, v) - zero_nz  # listed units: replace raw by non-zero delta
        fix = go * fix if w is None else go * w[rows] * fix
        grad.view(-1).index_add_(0, flat, fix.to(grad.dtype))
        return grad, None, None, None, None, None, None


def _sigmoid_terms(ef: ErrorFunction, smce: SMCE, boost: DeltaBoost, analog: bool) -> _SigmoidTerms:
    """The fused path's terms for CrossEntropy (with DeltaBoost), SMCE and DSMCE."""
    if ef == EF.CROSS_ENTROPY:
        return _SigmoidTerms(zero_scale=boost.zero, one_scale=boost.one)
    # a >= 0 always, and the raw term of a unit with a == 0 is 0: no zero margin when zt <= 0.
    zero_target = smce.zero_target if smce.zero_target > 0 else None
    return _SigmoidTerms(
        zero_scale=smce.zero_scale,
        one_scale=smce.one_scale,
        zero_target=zero_target,
        one_target=smce.one_target,
        bce=False,
        scale_by_v=ef == EF.DATA_SCALED_MARGINAL_CROSS_ENTROPY and analog,
    )


def _sparse_sum(
    z: torch.Tensor,
    a: torch.Tensor,
    target: SparseBatch,
    ef: ErrorFunction,
    act: Activation,
    smce: SMCE,
    boost: DeltaBoost,
    weights: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weighted error sum for a sparse target: raw term over all units + O(nnz) correction; and
    the sum without DeltaBoost when it came for free (fused path), else None."""
    n_rows, width = z.shape
    if target.batch_size != n_rows or target.width > width:
        raise ModelError(
            f"sparse target of {target.batch_size} rows x {target.width} columns does not fit the "
            f"output layer's activations of shape {tuple(z.shape)}"
        )
    if ef == EF.HINGE:
        raise NotSupportedError(
            "ErrorFunction Hinge supports dense targets only; got a sparse target dataset",
            hint="use L2Hinge or CrossEntropy with sparse targets",
        )
    rows, cols = target.row_ids.to(z.device), target.indices.to(z.device)
    analog = target.values is not None
    v = target.values.to(z) if target.values is not None else torch.ones_like(rows, dtype=z.dtype)
    if act == Activation.SIGMOID and ef in _CE_FAMILY:
        terms = _sigmoid_terms(ef, smce, boost, analog)
        total, plain = _SparseSigmoidLoss.apply(z, a, rows, cols, v, weights, terms)
        return total, plain
    w = torch.ones(n_rows, dtype=z.dtype, device=z.device) if weights is None else weights
    w_nz = w[rows]  # (nnz,)
    if act == Activation.SOFTMAX:
        if not analog:
            counts = (target.offsets[1:] - target.offsets[:-1]).to(z.device)
            v = 1.0 / counts[rows].to(z.dtype)  # the row's listed units share probability 1
        if ef in _CE_FAMILY:
            # Deviation: a row with no listed unit has no error and no gradient (DSSTNE: delta = a).
            term = -v * torch.log_softmax(z, dim=1)[rows, cols]  # (nnz,)
            if ef == EF.SCALED_MARGINAL_CROSS_ENTROPY:  # Deviation: see _dense_terms
                term = torch.where(_margins(a[rows, cols], smce)[0], smce.one_scale * term, 0.0)
            return (w_nz * term).sum(dtype=torch.float64), None
    zero, listed = _sparse_terms(ef, smce, analog)
    boosted = act == Activation.SIGMOID and ef in (EF.L2, EF.CROSS_ENTROPY)
    b_one, b_zero = (boost.one, boost.zero) if boosted else (1.0, 1.0)
    raw = (b_zero * zero(z, a)).sum(dim=1).to(torch.float64)  # (B,); cascade sum in z's dtype
    z_nz, a_nz = z[rows, cols], a[rows, cols]
    correction = b_one * listed(z_nz, a_nz, v) - b_zero * zero(z_nz, a_nz)  # (nnz,)
    return (w.to(raw.dtype) * raw).sum() + (w_nz * correction).sum(dtype=torch.float64), None


def output_loss(
    z: torch.Tensor,
    a: torch.Tensor,
    target: torch.Tensor | SparseBatch,
    *,
    error_function: ErrorFunction,
    activation: Activation,
    smce: SMCE | None = None,
    delta_boost: DeltaBoost | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The output layer's error summed over the minibatch (DSSTNE's reported training error).

    Backpropagating ``loss / B`` gives ``z`` (and, for L1/L2/L2Hinge/Hinge, ``a``) the gradient
    DSSTNE's output delta divided by the batch size (spec 2.4). For CrossEntropy on a Sigmoid output
    with a sparse target that delta is built from ``a`` itself (``a - t``, as DSSTNE does), in one
    fused pass: this is the training hot path.

    Args:
        z: (B, N) float pre-activations of the output layer.
        a: (B, N) float activations ``f(z)``, attached to ``z``'s graph.
        target: (B, N) float dense targets, or a ``SparseBatch`` of B rows (``values`` None for
            indicator data, where every listed unit is 1).
        error_function: DSSTNE's ``ErrorFunction``.
        activation: the output layer's activation (selects the SoftMax forms).
        smce: margins and scales of (Data)ScaledMarginalCrossEntropy; DSSTNE's defaults if None.
        delta_boost: ``DeltaBoost {one, zero}``: multiplies the error (hence the delta) of listed
            and unlisted units of sparse targets, for L2 and CrossEntropy on Sigmoid outputs. The
            returned value then includes the boost; DSSTNE reports the unboosted error (pass None
            to get it).
        weights: (B,) per-example data weights w_e, or None for 1.

    Returns:
        0-d tensor (dtype of ``z``): sum over examples and units of w_e x error.

    Raises:
        ConfigError: the error function needs another output activation.
        NotSupportedError: Hinge with sparse targets; DataScaledMarginalCrossEntropy with dense
            targets.
        ModelError: shapes of ``z``, ``a``, ``target`` or ``weights`` disagree.

    Example:
        >>> z = torch.zeros(2, 3, requires_grad=True)
        >>> t = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
        >>> loss = output_loss(z, torch.sigmoid(z), t, error_function=ErrorFunction.CROSS_ENTROPY,
        ...                    activation=Activation.SIGMOID)
        >>> round(loss.item(), 4)  # 6 units x log 2
        4.1589
    """
    return _output_loss(z, a, target, error_function, activation, smce, delta_boost, weights)[0]


def output_loss_and_error(
    z: torch.Tensor,
    a: torch.Tensor,
    target: torch.Tensor | SparseBatch,
    *,
    error_function: ErrorFunction,
    activation: Activation,
    smce: SMCE | None = None,
    delta_boost: DeltaBoost | None = None,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``output_loss`` with ``delta_boost`` (for gradients) and DSSTNE's reported error without it.

    Same arguments as :func:`output_loss`. On the fused path (CrossEntropy / SMCE / DSMCE, Sigmoid
    output, sparse target) both come from one pass over the logits; otherwise the unboosted error is
    a second, gradient-free evaluation (only when ``delta_boost`` is given).

    Returns:
        ``(loss, error)``: 0-d tensors; ``loss`` as :func:`output_loss` returns it, ``error`` the
        detached error DSSTNE reports (equal to ``loss.detach()`` when nothing is boosted).
    """
    loss, plain = _output_loss(z, a, target, error_function, activation, smce, delta_boost, weights)
    if plain is None:
        if delta_boost is None or delta_boost == DeltaBoost():
            plain = loss.detach()
        else:
            with torch.no_grad():
                plain = _output_loss(z, a, target, error_function, activation, smce, None, weights)[
                    0
                ]
    return loss, plain


def _output_loss(
    z: torch.Tensor,
    a: torch.Tensor,
    target: torch.Tensor | SparseBatch,
    error_function: ErrorFunction,
    activation: Activation,
    smce: SMCE | None,
    delta_boost: DeltaBoost | None,
    weights: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(error with DeltaBoost, error without it if it came for free else None)."""
    check_error_function(error_function, activation)
    smce = smce if smce is not None else SMCE()
    boost = delta_boost if delta_boost is not None else DeltaBoost()
    if z.dim() != 2 or a.shape != z.shape:
        raise ModelError(
            f"output_loss needs z and a of one shape (B, N); got {z.shape} and {a.shape}"
        )
    w = None if weights is None else weights.to(z)
    if w is not None and w.shape != (z.shape[0],):
        raise ModelError(f"weights must have shape ({z.shape[0]},); got {tuple(w.shape)}")
    if isinstance(target, SparseBatch):
        total, plain = _sparse_sum(z, a, target, error_function, activation, smce, boost, w)
        return total.to(z.dtype), plain
    if w is None:
        w = torch.ones(z.shape[0], dtype=z.dtype, device=z.device)
    if target.shape != z.shape:
        raise ModelError(f"dense target of shape {tuple(target.shape)} != output {tuple(z.shape)}")
    terms = _dense_terms(z, a, target.to(z), error_function, activation, smce)
    total = (w[:, None] * terms).sum(dim=1).to(torch.float64).sum()  # cascade sums per row
    return total.to(z.dtype), None
