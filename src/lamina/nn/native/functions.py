"""Autograd Functions the layers use in training, on the fused kernels of :mod:`.ops`.

* :func:`sigmoid_training`: ``a = sigmoid(z)`` for a (B, N) layer in one pass over ``z`` that also
  leaves the per-row sums of ``softplus(z)`` on ``a`` (the raw term of the sigmoid cross-entropy
  losses, read back by :func:`stashed_softplus_rows`): the loss then needs no pass of its own.
  Backward is torch's own ``sigmoid_backward`` from ``a``.
* :func:`sparse_affine`: ``embedding_bag(x) + b`` for a sparse input, whose weight gradient is
  written directly (zero fill, then one row update per non-zero) instead of by torch's generic
  embedding-bag backward.

Both give the results of their torch formulation up to float32 rounding (tests compare them with
autograd) and fall back to it when the kernels are unavailable.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina.data.batch import SparseBatch
from lamina.nn.native import ops

__all__ = ["sigmoid_training", "sparse_affine", "stashed_softplus_rows"]

_STASH = "_lamina_softplus_rows"


class _Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        a, rows = ops.sigmoid_softplus(z)
        ctx.save_for_backward(a)
        ctx.mark_non_differentiable(rows)
        ctx.set_materialize_grads(False)  # no gradient reached a (the fused loss): do nothing
        return a, rows

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad: torch.Tensor | None, _grad_rows: torch.Tensor | None
    ) -> torch.Tensor | None:
        if grad is None:
            return None
        (a,) = ctx.saved_tensors
        return torch.ops.aten.sigmoid_backward(grad, a)


def sigmoid_training(z: torch.Tensor) -> torch.Tensor:
    """``sigmoid(z)`` for (B, N) float32 ``z`` in training, stashing ``softplus(z).sum(1)`` on it.

    Args:
        z: (B, N) pre-activations (the fused kernel runs for contiguous float32 CPU tensors; other
            tensors, or no kernels, get plain ``torch.sigmoid`` and no stash).

    Returns:
        (B, N) activations, differentiable w.r.t. ``z`` as ``torch.sigmoid``.
    """
    if z.dim() != 2 or not ops.native_ok(z):
        return torch.sigmoid(z)  # nothing stashed: the loss computes its own softplus
    a, rows = _Sigmoid.apply(z)
    setattr(a, _STASH, (z, z._version, rows))
    return a


def stashed_softplus_rows(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor | None:
    """The (B,) float64 ``softplus(z).sum(1)`` that :func:`sigmoid_training` computed when it made
    ``a`` from this very ``z`` (unchanged since), else None."""
    stash = getattr(a, _STASH, None)
    if stash is None:
        return None
    source, version, rows = stash
    return rows if source is z and z._version == version else None


class _SparseAffine(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        w: torch.Tensor,
        b: torch.Tensor,
        indices: torch.Tensor,
        offsets: torch.Tensor,
        values: torch.Tensor | None,
    ) -> torch.Tensor:
        y = F.embedding_bag(
            indices, w, offsets, mode="sum", per_sample_weights=values, include_last_offset=True
        )  # (B, n_out)
        ctx.save_for_backward(indices, offsets, values)
        ctx.n_rows = w.shape[0]
        return y.add_(b)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        indices, offsets, values = ctx.saved_tensors
        dw = db = None
        if ctx.needs_input_grad[0]:
            # indices were range-checked by the forward's F.embedding_bag
            dw = ops.embedding_bag_backward(
                indices, offsets, values, dy, ctx.n_rows, validate=False
            )
        if ctx.needs_input_grad[1]:
            db = dy.sum(0)
        return dw, db, None, None, None


def sparse_affine(x: SparseBatch, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``embedding_bag(x, W, mode="sum") + b``: (B, n_out) for W (n_in, n_out), b (n_out,).

    Uses the direct weight gradient when ``W`` is a contiguous float32 CPU tensor and the values
    carry no gradient; otherwise torch's ``F.embedding_bag`` (same results).
    """
    values = None if x.values is None else x.values.to(w.dtype)
    if (values is None or not values.requires_grad) and ops.native_ok(w):
        return _SparseAffine.apply(w, b, x.indices, x.offsets, values)
    y = F.embedding_bag(
        x.indices, w, x.offsets, mode="sum", per_sample_weights=values, include_last_offset=True
    )
    return y + b
