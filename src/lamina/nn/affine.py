"""The dense ``Z = X W + b`` of a FullyConnected connection, with the bias folded into the GEMMs.

A connection's weight ``W`` (n_in, n_out) and bias ``b`` (n_out,) are stored in ONE buffer
``[W; b]`` of shape (n_in + 1, n_out) (:func:`affine_parameters`): ``W`` is rows ``0..n_in-1``,
``b`` row ``n_in``. Appending a column of ones to ``X`` then makes every bias operation part of
a GEMM:

* forward ``Z = [X, 1] . [W; b]`` (no separate (B, n_out) pass to broadcast ``b``);
* backward ``[dW; db] = [X, 1]^T . dZ`` (the bias gradient ``sum_B dZ`` is the GEMM's last row, no
  separate reduction over (B, n_out));
* backward ``dX = dZ . W^T`` through oneDNN's fp32 inner product when available (on the AVX-512
  machines measured, 20-30 % faster than MKL's ``mm(dZ, W.t())`` for ``W`` stored (n_in, n_out),
  see benchmarks/README.md), else ``torch.mm``.

All arithmetic is IEEE float32 (no reduced-precision GEMM modes): results match ``X @ W + b`` up to
float32 summation order. When ``W`` and ``b`` do not share one buffer (e.g. a shared weight, or
parameters replaced by user code), :func:`dense_affine` falls back to ``torch.addmm`` with identical
results.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["affine_parameters", "dense_affine", "fused_buffer"]


def affine_parameters(n_in: int, n_out: int) -> tuple[nn.Parameter, nn.Parameter]:
    """A weight (n_in, n_out) and bias (n_out,) Parameter sharing one (n_in + 1, n_out) buffer.

    Both are ordinary contiguous float32 leaf Parameters (uninitialised, like ``torch.empty``);
    in-place initialisation and ``load_state_dict`` keep them in their buffer.
    """
    buffer = torch.empty(n_in + 1, n_out)
    return nn.Parameter(buffer[:n_in]), nn.Parameter(buffer[n_in])


def fused_buffer(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    """The (n_in + 1, n_out) ``[W; b]`` view when ``b`` directly follows ``W`` in one storage.

    Args:
        w: weight (n_in, n_out); b: bias (n_out,).

    Returns:
        A view of the shared storage, or None when the two are not laid out as
        :func:`affine_parameters` makes them (then use the unfused path).
    """
    n_in, n_out = w.shape
    if (
        w.dtype != torch.float32
        or b.dtype != torch.float32
        or w.device.type != "cpu"
        or not w.is_contiguous()
        or b.shape != (n_out,)
        or b.stride() != (1,)
        or w.untyped_storage().data_ptr() != b.untyped_storage().data_ptr()
        or b.storage_offset() != w.storage_offset() + n_in * n_out
    ):
        return None
    return w.detach().as_strided((n_in + 1, n_out), (n_out, 1))


def _onednn_enabled() -> bool:
    return torch.backends.mkldnn.is_available() and torch._C._get_mkldnn_enabled()


_ONEDNN_MIN_MACS = 1 << 22  # below this, oneDNN's per-call overhead outweighs its faster kernel


def _grad_input(dz: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """dX (B, n_in) = dZ (B, n_out) . W^T for W (n_in, n_out), fp32."""
    if dz.shape[0] * w.numel() >= _ONEDNN_MIN_MACS and _onednn_enabled():
        try:  # oneDNN inner product: W is its (out_features, in_features) weight as stored
            return torch.ops.mkldnn._linear_pointwise(dz, w, None, "none", [], "")
        except (RuntimeError, AttributeError):  # op missing or shape unsupported: MKL below
            pass
    return torch.mm(dz, w.t())


class _FusedAffine(torch.autograd.Function):
    """``Z = [X, 1] . [W; b]`` with ``[W; b]`` one buffer; backward as in the module docstring."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, wb: torch.Tensor
    ) -> torch.Tensor:
        """x: (B, n_in); w: (n_in, n_out); b: (n_out,); wb: their (n_in + 1, n_out) buffer."""
        x1 = torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)  # (B, n_in + 1)
        ctx.save_for_backward(x1, w)
        return torch.mm(x1, wb)  # (B, n_out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, dz: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        x1, w = ctx.saved_tensors
        dz = dz.contiguous()
        n_in = w.shape[0]
        dx = _grad_input(dz, w) if ctx.needs_input_grad[0] else None
        dw = db = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            dwb = torch.mm(x1.t(), dz)  # (n_in + 1, n_out) = [dW; db]
            dw, db = dwb[:n_in], dwb[n_in]
        return dx, dw, db, None


def dense_affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``X W + b`` for a dense (B, n_in) ``x``, W (n_in, n_out), b (n_out,): returns (B, n_out).

    Uses the bias-folded GEMMs when ``w`` and ``b`` share an :func:`affine_parameters` buffer and
    ``x`` is float32 on the CPU; otherwise ``torch.addmm(b, x, w)``. Differentiable in all three.
    """
    wb = fused_buffer(w, b)
    if wb is None or x.dtype != torch.float32 or x.device.type != "cpu":
        return torch.addmm(b, x, w)
    return _FusedAffine.apply(x, w, b, wb)
