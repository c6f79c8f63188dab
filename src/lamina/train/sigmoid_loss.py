"""The training hot path: sigmoid cross-entropy family on a sparse target (spec 2.3/2.4).

CrossEntropy (with DeltaBoost), ScaledMarginalCrossEntropy and DataScaledMarginalCrossEntropy on a
Sigmoid output against a ``SparseBatch`` target (the recommender case; the output layer is 80-85 %
of a training step) run through one ``autograd.Function``:

* forward: the raw term ``zero_scale * softplus(z)`` summed per row over all B x N units (for
  CrossEntropy the row sums the output layer's fused sigmoid already computed in the same pass as
  ``a``: :func:`lamina.nn.native.stashed_softplus_rows`; otherwise one fused C pass over ``z``,
  masked by ``a > zero_target`` for SMCE), plus an O(nnz) correction for the listed units;
* backward: one pass writing ``grad_z = go * w_b * zero_scale * a`` (DSSTNE's raw delta, from ``a``:
  no second sigmoid; 0 outside SMCE's zero margin) plus an O(nnz) scatter for the listed units
  (DSSTNE's non-zero delta).

The full passes are the C kernels of :mod:`lamina.nn.native` when they are available, else torch
(same results up to float32 rounding). Row sums are float32 per block of units, then float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lamina.config.enums import ErrorFunction
from lamina.config.model import SMCE, DeltaBoost
from lamina.nn.native import ops, stashed_softplus_rows

__all__ = ["SigmoidTerms", "sigmoid_terms", "sparse_sigmoid_loss"]


@dataclass(frozen=True)
class SigmoidTerms:
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

    def unboosted(self) -> SigmoidTerms:
        """These terms without DeltaBoost (the boost is CrossEntropy's scales, never SMCE's)."""
        return SigmoidTerms(zero_scale=1.0, one_scale=1.0) if self.bce else self

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
        offsets: torch.Tensor,
        rows: torch.Tensor,
        cols: torch.Tensor,
        v: torch.Tensor,
        w: torch.Tensor | None,
        terms: SigmoidTerms,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z, a: (B, N); offsets (B + 1,), rows, cols (nnz,): int64 CSR coordinates of the listed
        units; v: (nnz,) target values; w: (B,) or None.

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
        raw = _raw_rows(z, a, terms)  # (B,) float64: the only full pass of the forward
        raw = raw.sum() if w is None else (w.to(torch.float64) * raw).sum()
        total, plain = (
            t.zero_scale * raw + c.sum(dtype=torch.float64)
            for t, c in zip((terms, terms.unboosted()), corrections, strict=True)
        )
        ctx.save_for_backward(a, a_nz, offsets, rows, cols, v, w)
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
        a, a_nz, offsets, rows, cols, v, w = ctx.saved_tensors
        terms: SigmoidTerms = ctx.terms
        scale = go * terms.zero_scale if w is None else go * terms.zero_scale * w  # () or (B,)
        zero_nz = terms.zero_scale * a_nz
        mask_nz = terms.zero_mask(a_nz)
        zero_nz = zero_nz if mask_nz is None else torch.where(mask_nz, zero_nz, 0.0)
        fix = terms.listed_delta(a_nz, v) - zero_nz  # listed units: replace raw by non-zero delta
        fix = go * fix if w is None else go * w[rows] * fix
        # (B, N): the only full pass; listed units get their fix while their row is in cache
        grad = ops.scale_rows(a, scale, terms.zero_target, listed=(offsets, cols, fix))
        return grad, None, None, None, None, None, None, None


def _raw_rows(z: torch.Tensor, a: torch.Tensor, terms: SigmoidTerms) -> torch.Tensor:
    """(B,) float64 per-row sums of softplus(z) over the units the raw term counts."""
    if terms.zero_target is None:
        stashed = stashed_softplus_rows(z, a)  # computed with a, in the same pass
        return stashed if stashed is not None else ops.softplus_rows(z)
    return ops.softplus_rows(z, a, terms.zero_target)


def sparse_sigmoid_loss(
    z: torch.Tensor,
    a: torch.Tensor,
    offsets: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    v: torch.Tensor,
    w: torch.Tensor | None,
    terms: SigmoidTerms,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over all B x N units of the sigmoid cross-entropy family against a sparse target.

    Args:
        z: (B, N) logits; a: (B, N) ``sigmoid(z)`` (attached to z's graph or not: the gradient
            goes to ``z`` only).
        offsets: (B + 1,) int64 row starts of the listed units (CSR, offsets[0] == 0);
            rows, cols: (nnz,) int64 their rows and columns; v: (nnz,) their target values.
        w: (B,) example weights or None.
        terms: the error function's scales and margins (:func:`sigmoid_terms`).

    Returns:
        (error with ``terms``, error without DeltaBoost): 0-d tensors of z's dtype; the second is
        not differentiable.
    """
    out = _SparseSigmoidLoss.apply(z, a, offsets.to(z.device), rows, cols, v, w, terms)
    return out  # type: ignore[no-any-return]


def sigmoid_terms(
    ef: ErrorFunction, smce: SMCE, boost: DeltaBoost, *, analog: bool
) -> SigmoidTerms:
    """The fused path's terms for CrossEntropy (with DeltaBoost), SMCE and DSMCE."""
    if ef == ErrorFunction.CROSS_ENTROPY:
        return SigmoidTerms(zero_scale=boost.zero, one_scale=boost.one)
    # a >= 0 always, and the raw term of a unit with a == 0 is 0: no zero margin when zt <= 0.
    zero_target = smce.zero_target if smce.zero_target > 0 else None
    return SigmoidTerms(
        zero_scale=smce.zero_scale,
        one_scale=smce.one_scale,
        zero_target=zero_target,
        one_target=smce.one_target,
        bce=False,
        scale_by_v=ef == ErrorFunction.DATA_SCALED_MARGINAL_CROSS_ENTROPY and analog,
    )
