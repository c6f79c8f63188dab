"""Torch-facing wrappers of the fused C kernels, each with a pure-torch twin.

Every function takes and returns torch tensors. When the kernels are available (see
:mod:`lamina.nn.native.build`) and the tensors qualify (float32, CPU, contiguous, not requiring a
graph of their own), the C kernel runs; otherwise the torch twin, with the same results up to
float32 rounding (the C sums are more precise: float32 per block of 256 units, then float64).
"""

from __future__ import annotations

import ctypes

import torch
import torch.nn.functional as F

from lamina.nn.native.build import load

__all__ = [
    "embedding_bag_backward",
    "native_ok",
    "scale_rows",
    "sigmoid",
    "sigmoid_softplus",
    "softplus_rows",
]


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def native_ok(*tensors: torch.Tensor) -> bool:
    """True when the kernels are loaded and every tensor is a contiguous float32 CPU tensor."""
    return load() is not None and all(
        t.dtype == torch.float32 and t.device.type == "cpu" and t.is_contiguous() for t in tensors
    )


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """``sigmoid(z)``, any shape; not differentiable (wrap it)."""
    lib = load()
    if lib is None or not native_ok(z):
        return torch.sigmoid(z.detach())
    a = torch.empty_like(z)
    lib.lamina_sigmoid(z.data_ptr(), a.data_ptr(), z.numel())
    return a


def sigmoid_softplus(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sigmoid(z), softplus(z).sum(1))`` in one pass over z.

    Args:
        z: (B, N) float pre-activations.

    Returns:
        (B, N) activations (dtype of z) and (B,) float64 row sums; not differentiable.
    """
    lib = load()
    z = z.detach()
    if lib is None or not native_ok(z) or z.dim() != 2:
        return torch.sigmoid(z), F.softplus(z).sum(dim=1).to(torch.float64)
    a = torch.empty_like(z)
    rows = torch.empty(z.shape[0], dtype=torch.float64)
    lib.lamina_sigmoid_softplus(z.data_ptr(), a.data_ptr(), rows.data_ptr(), *z.shape)
    return a, rows


def softplus_rows(
    z: torch.Tensor, a: torch.Tensor | None = None, zero_target: float | None = None
) -> torch.Tensor:
    """Per-row sums of ``softplus(z)``, over units with ``a > zero_target`` when that is given.

    Args:
        z: (B, N) pre-activations; a: (B, N) activations (needed with ``zero_target``).
        zero_target: SMCE's zero margin, or None to count every unit.

    Returns:
        (B,) float64.
    """
    z = z.detach()
    mask_by: torch.Tensor | None = None
    if zero_target is not None:
        if a is None:
            raise ValueError("softplus_rows: zero_target needs the activations a")
        mask_by = a.detach()
    lib = load()
    if lib is None or z.dim() != 2 or not native_ok(z, *([] if mask_by is None else [mask_by])):
        terms = F.softplus(z)
        if mask_by is not None and zero_target is not None:
            terms = terms.masked_fill_(~(mask_by > zero_target), 0.0)
        return terms.sum(dim=1).to(torch.float64)
    rows = torch.empty(z.shape[0], dtype=torch.float64)
    zt = ctypes.c_float(0.0 if zero_target is None else zero_target)
    a_ptr = _ptr(mask_by)
    lib.lamina_softplus_rows(z.data_ptr(), a_ptr, zt, rows.data_ptr(), *z.shape)
    return rows


def scale_rows(
    a: torch.Tensor,
    scale: torch.Tensor,
    zero_target: float | None = None,
    *,
    listed: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """``scale[b] * a[b, j]`` (0 where ``a <= zero_target`` when that is given), then ``+ fix[k]``
    at each listed unit ``(b, cols[k])``: a new tensor.

    Args:
        a: (B, N) activations; scale: (B,) or 0-d factors (a's dtype).
        zero_target: SMCE's zero margin, or None.
        listed: ``(offsets (B + 1,), cols (nnz,), fix (nnz,))``: CSR positions of the listed units
            (row b's are ``offsets[b]:offsets[b + 1]``, offsets[0] == 0) and what to add there.

    Returns:
        (B, N), dtype of ``a``, contiguous.
    """
    a = a.detach()
    s = scale.detach().to(a.dtype).expand(a.shape[0]).contiguous()
    lib = load()
    if listed is not None:
        offsets, cols, fix = (t.detach().contiguous() for t in listed)
        fix = fix.to(a.dtype)
        int_ok = offsets.dtype == cols.dtype == torch.int64 and cols.device.type == "cpu"
    if (
        lib is None
        or a.dim() != 2
        or not native_ok(a, s, *([fix] if listed is not None else []))
        or (listed is not None and not int_ok)
    ):
        g = torch.mul(a, s[:, None]).contiguous()
        if zero_target is not None:
            g.masked_fill_(~(a > zero_target), 0.0)
        if listed is not None:
            bags = torch.repeat_interleave(
                torch.arange(a.shape[0], device=a.device), offsets[1:] - offsets[:-1]
            )
            g.view(-1).index_add_(0, bags * a.shape[1] + cols, fix)
        return g
    g = torch.empty_like(a)
    zt = ctypes.c_float(zero_target if zero_target is not None else 0.0)
    ptrs = (None, None, None) if listed is None else (_ptr(offsets), _ptr(cols), _ptr(fix))
    lib.lamina_scale_rows(
        a.data_ptr(), s.data_ptr(), zt, int(zero_target is not None), g.data_ptr(), *a.shape, *ptrs
    )
    return g


def embedding_bag_backward(
    indices: torch.Tensor,
    offsets: torch.Tensor,
    values: torch.Tensor | None,
    dy: torch.Tensor,
    n_rows: int,
    *,
    validate: bool = True,
) -> torch.Tensor:
    """Weight gradient of ``embedding_bag(indices, W, offsets, mode="sum", per_sample_weights=
    values, include_last_offset=True)``: ``dW[indices[k]] += values[k] * dy[bag of k]``.

    Args:
        indices: (nnz,) int64 rows of W; offsets: (B + 1,) int64; values: (nnz,) or None (1).
        dy: (B, H) gradient of the bags; n_rows: rows of W.
        validate: check that every index is in [0, n_rows) (skip only when the forward's
            ``F.embedding_bag`` already did).

    Returns:
        (n_rows, H) dense gradient, dtype of ``dy``.

    Raises:
        IndexError: an index out of range (with ``validate``).
    """
    dy = dy.detach().contiguous()
    lib = load()
    idx, off = indices.contiguous(), offsets.contiguous()
    vals = None if values is None else values.detach().to(dy.dtype).contiguous()
    int_ok = idx.dtype == torch.int64 and off.dtype == torch.int64 and idx.device.type == "cpu"
    if lib is None or not int_ok or not native_ok(dy, *([] if vals is None else [vals])):
        bag = torch.repeat_interleave(
            torch.arange(dy.shape[0], device=dy.device), off[1:] - off[:-1]
        )
        rows = dy.index_select(0, bag)  # (nnz, H)
        if vals is not None:
            rows = rows * vals[:, None]
        return dy.new_zeros(n_rows, dy.shape[1]).index_add_(0, idx, rows)
    if validate and idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n_rows):
        raise IndexError(f"embedding_bag_backward: indices must be in [0, {n_rows})")
    dw = torch.empty(n_rows, dy.shape[1], dtype=dy.dtype)
    status = lib.lamina_embag_backward(
        idx.data_ptr(), off.data_ptr(), _ptr(vals), dy.data_ptr(), dw.data_ptr(),
        dy.shape[0], dy.shape[1], n_rows,
    )  # fmt: skip
    if status != 0:
        raise MemoryError("lamina_embag_backward: out of memory for its scratch buffers")
    return dw
