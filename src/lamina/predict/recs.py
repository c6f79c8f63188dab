"""Top-k recommendations as DSSTNE's ``predict`` makes them (the file format: :mod:`.recs_file`).

``top_k`` is the host-side equivalent of ``NNRecsGenerator::generateRecs``: scale scores by the
per-sample filter, drop excluded columns and the 128-padding, keep the best ``k``. Unlike DSSTNE it
has no ``k < 128`` limit, breaks ties by the lower column (DSSTNE's GPU sort left them unspecified)
and never returns a removed column: a row with fewer than ``k`` candidates is padded with index
``-1`` (score NaN), which the writer skips, as DSSTNE skipped padding units.

Everything here works on numpy arrays (CPU torch tensors convert through ``np.asarray``); no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.errors import DataError, UsageError

__all__ = ["Csr", "as_csr", "labels_by_column", "top_k"]

_CHUNK_ELEMENTS = 1 << 20  # scores handled per step: bounds top_k's scratch memory to ~24 MB
_REMOVED = np.int64(np.iinfo(np.int32).max)  # sort key above every float, +inf and NaN included
_LOW32 = np.int64(0xFFFFFFFF)


@dataclass(frozen=True)
class Csr:
    """Rows of sparse columns (compressed sparse rows), e.g. one row of items per user.

    Attributes:
        indptr: (R + 1,) int64 row starts: from 0, non-decreasing, ``indptr[-1] == nnz``.
        indices: (nnz,) int64 column indices, row after row.
        values: (nnz,) float32 values, or ``None`` when only the columns matter.
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray | None = None

    def __post_init__(self) -> None:
        indptr = _int_array(self.indptr, "Csr.indptr")
        indices = _int_array(self.indices, "Csr.indices")
        if indptr.size == 0 or indptr[0] != 0 or indptr[-1] != indices.size:
            raise DataError(
                f"Csr.indptr must start at 0 and end at len(indices)={indices.size}, "
                f"found {indptr[:1].tolist()}...{indptr[-1:].tolist()}"
            )
        if np.any(np.diff(indptr) < 0):
            raise DataError("Csr.indptr must be non-decreasing")
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "indices", indices)
        if self.values is not None:
            values = np.ascontiguousarray(self.values, dtype=np.float32).reshape(-1)
            if values.size != indices.size:
                raise DataError(f"Csr.values has {values.size} entries, indices {indices.size}")
            object.__setattr__(self, "values", values)

    @classmethod
    def from_rows(
        cls, rows: Sequence[Sequence[int]], values: Sequence[Sequence[float]] | None = None
    ) -> Csr:
        """Build from Python lists, e.g. ``Csr.from_rows([[3, 1], [], [2]])``."""
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        indices = np.array([c for r in rows for c in r], dtype=np.int64)
        vals = None if values is None else np.array([v for r in values for v in r], np.float32)
        return cls(indptr, indices, vals)

    @property
    def n_rows(self) -> int:
        """R, the number of rows."""
        return int(self.indptr.size) - 1

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.indices.size)

    def row_ids(self) -> np.ndarray:
        """(nnz,) int64 row of every stored entry."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))

    def select(self, rows: np.ndarray | Sequence[int] | slice) -> Csr:
        """The rows ``rows`` (in that order, repeats allowed) as a new ``Csr``."""
        if isinstance(rows, slice):
            rows = np.arange(self.n_rows)[rows]
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        starts, lengths = self.indptr[rows], np.diff(self.indptr)[rows]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        take = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
        return Csr(indptr, self.indices[take], None if self.values is None else self.values[take])


def as_csr(obj: Any) -> Csr:
    """Accept a ``Csr``, an ``(indptr, indices[, values])`` tuple or a scipy CSR matrix."""
    if isinstance(obj, Csr):
        return obj
    if isinstance(obj, tuple) and len(obj) in (2, 3):
        return Csr(*obj)
    if all(hasattr(obj, a) for a in ("indptr", "indices", "data")):
        return Csr(obj.indptr, obj.indices, obj.data)
    raise UsageError(f"expected a Csr or an (indptr, indices[, values]) tuple, found {type(obj)}")


def _int_array(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a).reshape(-1)
    if arr.size and arr.dtype.kind not in "iu":
        raise DataError(f"{name} must hold integers, found dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def top_k(
    scores: np.ndarray,
    k: int,
    *,
    n_real: int | None = None,
    remove: Csr | None = None,
    multiply: Csr | None = None,
    exclude: Csr | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of every row, after DSSTNE's filter and exclusions.

    Order of operations per row: multiply listed columns by ``multiply``'s values (a value of
    ``-inf`` removes the column instead); drop ``remove``'s and ``exclude``'s columns (their values
    are ignored) and columns ``>= n_real``; sort by score, highest first, ties by lower column.
    NaN scores are never recommended. Duplicate columns in a ``multiply`` row: the last one counts.
    Columns ``>= n_real`` in the CSR inputs are ignored; each CSR has one row per score row.

    Args:
        scores: (B, N) float scores (e.g. the output layer's activations).
        k: how many to keep per row, ``k >= 1``; no upper limit.
        n_real: number of real output units (columns ``>= n_real`` are padding); default N.
        remove: (B rows) columns to drop, e.g. a filter's removals.
        multiply: (B rows) columns to scale, values = multipliers or ``-inf`` for "remove".
        exclude: (B rows) more columns to drop, e.g. the sample's own training features.

    Returns:
        ``(indices, values)``, both (B, k') with ``k' = min(k, n_real)``: int64 columns and
        float32 (multiplied) scores, best first; ``-1`` and NaN where a row has fewer candidates.

    Raises:
        UsageError: bad ``k`` or ``n_real``, or CSR inputs that do not match ``scores``.

    Example:
        >>> idx, val = top_k(np.array([[0.1, 0.9, 0.5]]), 2)
        >>> idx.tolist(), val.tolist()
        ([[1, 2]], [[0.8999999761581421, 0.5]])
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise UsageError(f"top_k: scores must be 2-D (B, N), found shape {scores.shape}")
    b, n = scores.shape
    n_real = n if n_real is None else int(n_real)
    if not 0 <= n_real <= n:
        raise UsageError(f"top_k: n_real must be in [0, {n}], found {n_real}")
    if int(k) < 1:
        raise UsageError(f"top_k: k must be >= 1, found {k}")
    kk = min(int(k), n_real)
    csrs = {"remove": remove, "multiply": multiply, "exclude": exclude}
    for name, csr in csrs.items():
        if csr is not None:
            if csr.n_rows != b:
                raise UsageError(f"top_k: {name} has {csr.n_rows} rows, scores {b}")
            if csr.nnz and csr.indices.min() < 0:
                raise UsageError(f"top_k: {name} has a negative column index")
    if multiply is not None and multiply.values is None:
        raise UsageError("top_k: multiply needs values (the multipliers)")
    out_idx = np.full((b, kk), -1, dtype=np.int64)
    out_val = np.full((b, kk), np.nan, dtype=np.float32)
    if kk == 0:
        return out_idx, out_val
    step = max(1, _CHUNK_ELEMENTS // max(n_real, 1))
    for r0 in range(0, b, step):
        r1 = min(b, r0 + step)
        neg = np.array(scores[r0:r1, :n_real], dtype=np.float32)  # (b', n_real) private copy
        drop_r, drop_c = [], []
        if multiply is not None:
            r, c, v = _rows_in(multiply, r0, r1, n_real)
            gone = np.isneginf(v)
            drop_r.append(r[gone])
            drop_c.append(c[gone])
            r, c, v = r[~gone], c[~gone], v[~gone]
            with np.errstate(invalid="ignore"):  # inf * 0 = NaN: never recommended
                neg[r, c] = neg[r, c] * v
        for csr in (remove, exclude):
            if csr is not None:
                r, c, _ = _rows_in(csr, r0, r1, n_real)
                drop_r.append(r)
                drop_c.append(c)
        np.negative(neg, out=neg)
        neg += 0.0  # -0.0 -> +0.0, so that zeros tie
        keys = _sort_keys(neg, drop_r, drop_c)
        if kk < n_real:
            keys = np.take_along_axis(keys, np.argpartition(keys, kk - 1, axis=1)[:, :kk], 1)
        keys.sort(axis=1)
        cols = keys & _LOW32
        ok = (keys >> 32) != _REMOVED
        vals = -np.take_along_axis(neg, cols, 1) + np.float32(0.0)
        out_idx[r0:r1] = np.where(ok, cols, -1)
        out_val[r0:r1] = np.where(ok, vals, np.float32(np.nan))
    return out_idx, out_val


def _rows_in(csr: Csr, r0: int, r1: int, n_real: int) -> tuple[np.ndarray, ...]:
    """Entries of rows [r0, r1) with column < n_real: (local rows, columns, values or None)."""
    e0, e1 = int(csr.indptr[r0]), int(csr.indptr[r1])
    rows = np.repeat(np.arange(r1 - r0, dtype=np.int64), np.diff(csr.indptr[r0 : r1 + 1]))
    cols = csr.indices[e0:e1]
    keep = cols < n_real
    vals = None if csr.values is None else csr.values[e0:e1][keep]
    return rows[keep], cols[keep], vals  # type: ignore[return-value]


def _sort_keys(neg: np.ndarray, drop_r: list[np.ndarray], drop_c: list[np.ndarray]) -> np.ndarray:
    """(b, n) int64 keys ordering (-score, column) ascending; dropped and NaN entries last."""
    bits = neg.view(np.int32).astype(np.int64)  # IEEE bits, sign-extended
    bits[bits < 0] ^= 0x7FFFFFFF  # negative floats: reverse their order so ints sort like floats
    bits[np.isnan(neg)] = _REMOVED
    for r, c in zip(drop_r, drop_c, strict=True):
        bits[r, c] = _REMOVED
    bits <<= 32
    bits |= np.arange(neg.shape[1], dtype=np.int64)
    return bits


def labels_by_column(index: Mapping[str, int]) -> list[str | None]:
    """Invert an output feature index (label -> column) into column -> label (None for gaps)."""
    out: list[str | None] = [None] * (max(index.values(), default=-1) + 1)
    for label, col in index.items():
        out[col] = label
    return out
