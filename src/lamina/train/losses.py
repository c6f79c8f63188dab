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
case) run through :mod:`lamina.train.sigmoid_loss`: one fused pass over the B x N logits (shared
with the output sigmoid in training) and one for the gradient, plus O(nnz) corrections; sums over
B x N units are float32 per block, float64 per row. ``output_loss_and_error`` also returns the
unboosted error DSSTNE reports, from the same pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lamina.config.enums import Activation, ErrorFunction, label
from lamina.config.model import SMCE, DeltaBoost
from lamina.data.batch import SparseBatch
from lamina.errors import ConfigError, ModelError, NotSupportedError
from lamina.train.sigmoid_loss import sigmoid_terms, sparse_sigmoid_loss

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
        terms = sigmoid_terms(ef, smce, boost, analog=analog)
        return sparse_sigmoid_loss(z, a, target.offsets, rows, cols, v, weights, terms)
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
