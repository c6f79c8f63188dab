"""Top-k recommendations as DSSTNE's ``predict`` makes them, and its recommendation file format.

``top_k`` is the host-side equivalent of ``NNRecsGenerator::generateRecs``: scale scores by the
per-sample filter, drop excluded columns and the 128-padding, keep the best ``k``. Unlike DSSTNE it
has no ``k < 128`` limit, breaks ties by the lower column (DSSTNE's GPU sort left them unspecified)
and never returns a removed column: a row with fewer than ``k`` candidates is padded with index
``-1`` (score NaN), which the writer skips, as DSSTNE skipped padding units.

Recommendation lines are ``sample<TAB>feature,score:feature,score:...:`` plus a newline; every
entry, the last included, ends with ``:``; scores use a printf float format (DSSTNE ``-p``,
default ``4.3f``).

Everything here works on numpy arrays (CPU torch tensors convert through ``np.asarray``); no torch.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from lamina.atomic import atomic_path
from lamina.errors import DataError, UsageError

__all__ = [
    "Csr",
    "RecsWriter",
    "as_csr",
    "format_recs_line",
    "labels_by_column",
    "parse_recs_line",
    "printf_format",
    "top_k",
]

DEFAULT_PRECISION = "4.3f"  # DSSTNE NNRecsGenerator::DEFAULT_SCORE_PRECISION
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


_PRINTF = re.compile(r"%?([-+ #0]*\d*(?:\.\d+)?[fFeEgG])")


def printf_format(precision: str) -> str:
    """Turn DSSTNE's ``-p`` value (``4.3f``, ``.3f`` or ``%4.3f``) into a ``%`` format.

    Raises:
        UsageError: not a printf float conversion.
    """
    m = _PRINTF.fullmatch(precision.strip())
    if m is None:
        raise UsageError(
            "precision must be a printf float format such as '4.3f', '.3f' or '%4.3f' "
            f"(flags, width, .precision, then one of f F e E g G). Got {precision!r}"
        )
    return "%" + m.group(1)


def format_recs_line(
    sample_label: str,
    labels: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    precision: str = DEFAULT_PRECISION,
) -> str:
    """One line of DSSTNE's recommendation file.

    Args:
        sample_label: the sample (e.g. user) label.
        labels: the recommended feature labels, best first.
        scores: their scores, same length.
        precision: printf float format for scores (DSSTNE ``-p``).

    Returns:
        ``"sample\\tfeature,score:feature,score:...:\\n"``.

    Example:
        >>> format_recs_line("1", ["1214", "1196"], [0.982, 0.973])
        '1\\t1214,0.982:1196,0.973:\\n'
    """
    entry = "%s," + printf_format(precision) + ":"
    return _line(entry, sample_label, labels, scores)


def _line(entry: str, sample: str, labels: Sequence[str], scores: Any) -> str:
    return (
        sample
        + "\t"
        + "".join([entry % (f, float(s)) for f, s in zip(labels, scores, strict=True)])
        + "\n"
    )


def parse_recs_line(line: str, *, where: str = "<recs>") -> tuple[str, list[str], list[float]]:
    """Split one recommendation line into ``(sample, labels, scores)``.

    Raises:
        DataError: ``where: expected ..., found ...`` when the line is not in DSSTNE's format.
    """
    body = line[:-1] if line.endswith("\n") else line
    sample, tab, rest = body.partition("\t")
    if not tab or not sample:
        raise DataError(f"{where}: expected 'sample<TAB>feature,score:...:', found {body[:80]!r}")
    if rest and not rest.endswith(":"):
        raise DataError(f"{where}: expected every entry to end with ':', found {rest[-40:]!r}")
    labels: list[str] = []
    scores: list[float] = []
    for item in rest.split(":")[:-1]:
        label, comma, score = item.partition(",")
        try:
            if not (label and comma):
                raise ValueError
            scores.append(float(score))
        except ValueError:
            raise DataError(f"{where}: expected 'feature,score', found {item!r}") from None
        labels.append(label)
    return sample, labels, scores


def labels_by_column(index: Mapping[str, int]) -> list[str | None]:
    """Invert an output feature index (label -> column) into column -> label (None for gaps)."""
    out: list[str | None] = [None] * (max(index.values(), default=-1) + 1)
    for label, col in index.items():
        out[col] = label
    return out


class RecsWriter:
    """Writes recommendation lines to ``path`` atomically.

    Lines go to a temporary file beside ``path``; ``close()`` renames it over ``path``. If the
    ``with`` block raises (or ``abort()`` is called) the temporary file is deleted and ``path`` is
    left as it was.

    Example:
        >>> with RecsWriter("recs.txt") as out:  # doctest: +SKIP
        ...     out.write(["u1"], np.array([[3, 0]]), np.array([[0.9, 0.5]]), ["a", "b", "c", "d"])
    """

    def __init__(self, path: str | os.PathLike[str], *, precision: str = DEFAULT_PRECISION):
        self.path = Path(path)
        self.lines = 0
        self._entry = "%s," + printf_format(precision) + ":"
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._file: IO[str] | None = self._stack.enter_context(
            open(tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed by close()
        )

    def write(
        self,
        sample_labels: Sequence[str],
        indices: np.ndarray,
        scores: np.ndarray,
        feature_labels: Sequence[str | None],
    ) -> None:
        """Write one line per row; columns that are ``-1``, past ``feature_labels`` or unlabelled
        (padding) are skipped, as DSSTNE skips padding units.

        Args:
            sample_labels: B sample labels.
            indices: (B, k) int columns, best first (as from ``top_k``).
            scores: (B, k) scores.
            feature_labels: column -> label (see ``labels_by_column``).
        """
        indices, scores = np.asarray(indices), np.asarray(scores)
        if indices.shape != scores.shape or indices.shape[:1] != (len(sample_labels),):
            raise UsageError(
                f"RecsWriter.write: {len(sample_labels)} samples, indices {indices.shape}, "
                f"scores {scores.shape}: expected (B, k) and (B, k)"
            )
        n = len(feature_labels)
        lines = []
        for sample, cols, vals in zip(
            sample_labels, indices.tolist(), scores.tolist(), strict=True
        ):
            pairs = [(feature_labels[c], v) for c, v in zip(cols, vals, strict=True) if 0 <= c < n]
            pairs = [(f, v) for f, v in pairs if f is not None]
            lines.append(_line(self._entry, sample, [f for f, _ in pairs], [v for _, v in pairs]))
        self.write_lines(lines)

    def write_line(
        self, sample_label: str, labels: Sequence[str], scores: Sequence[float] | np.ndarray
    ) -> None:
        """Write one line from labels and scores already chosen."""
        self.write_lines([_line(self._entry, sample_label, labels, scores)])

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write complete lines (each ending in a newline)."""
        if self._file is None:
            raise UsageError(f"RecsWriter for {self.path} is already closed")
        self._file.write("".join(lines))
        self.lines += len(lines)

    def close(self) -> None:
        """Finish: rename the temporary file to ``path``."""
        if self._file is not None:
            self._file = None
            self._stack.close()

    def abort(self) -> None:
        """Give up: delete the temporary file; ``path`` is untouched."""
        if self._file is not None:
            self._file = None
            err = RuntimeError("aborted")
            with contextlib.suppress(RuntimeError):
                self._stack.__exit__(RuntimeError, err, None)

    def __enter__(self) -> RecsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
