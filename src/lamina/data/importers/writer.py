"""Write CSR rows as DSSTNE text, ``sample<TAB>feature[,value]:feature[,value]:...``, atomically.

Shared by the importers, ``lamina data synth`` and the Python ``synthesize`` helpers. Rows are
written in chunks so that at most ~256k elements are ever held as strings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from lamina.atomic import atomic_path

__all__ = ["RESERVED_CHARS", "all_integral", "write_dsstne_text"]

RESERVED_CHARS = "\t:,\r\n"  # separators of the DSSTNE text format: never allowed inside a label

_CHUNK_ELEMENTS = 1 << 18  # elements converted to strings at a time (bounds peak memory)


def all_integral(values: np.ndarray) -> bool:
    """Whether every value is a whole number that is exact as int64 (then it is written as one)."""
    if values.dtype.kind in "iub":
        return True
    as_float = values.astype(np.float64)
    return bool(
        np.all(np.isfinite(as_float))
        and np.all(as_float == np.round(as_float))
        and (as_float.size == 0 or np.abs(as_float).max() < 2**53)
    )


def _value_texts(values: np.ndarray, integral: bool) -> list[str]:
    """Python strings of values (``str`` of int64 or the shortest float ``repr``); faster than
    numpy's ``astype(str)`` for large chunks."""
    if integral:
        return list(map(str, values.astype(np.int64).tolist()))
    return list(map(repr, values.astype(np.float64).tolist()))


def write_dsstne_text(
    path: str | os.PathLike[str],
    *,
    sample_labels: Sequence[str] | np.ndarray,
    indptr: np.ndarray,
    feature_labels: Sequence[str] | np.ndarray,
    feature_codes: np.ndarray,
    values: np.ndarray | None = None,
) -> tuple[int, int]:
    """Write rows ``sample_labels[r] TAB elements[indptr[r]:indptr[r+1]]`` to ``path`` atomically.

    Rows without elements are not written (DSSTNE would read them as samples with no features).

    Args:
        path: output text file; replaced only when writing succeeds.
        sample_labels: (R,) label of every row.
        indptr: (R + 1,) int64 CSR row starts into ``feature_codes``.
        feature_labels: (F,) text label of every feature code.
        feature_codes: (nnz,) int64 codes into ``feature_labels``, row after row.
        values: (nnz,) values written after a comma, or ``None`` for bare features. A column whose
            values are all integral is written as integers (``4``), otherwise every value as the
            shortest float repr (``3.5``, ``4.0``): never a mix.

    Returns:
        ``(rows_written, elements_written)``.
    """
    labels = np.asarray(sample_labels).astype(str)
    flabels = np.asarray(feature_labels).astype(str).tolist()
    indptr = np.asarray(indptr, dtype=np.int64)
    integral = all_integral(values) if values is not None else True
    rows_written = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        start_row = 0
        n_rows = len(labels)
        while start_row < n_rows:
            # Take as many rows as fit in one chunk of elements (at least one row).
            limit = indptr[start_row] + _CHUNK_ELEMENTS
            end_row = int(np.searchsorted(indptr, limit, side="right")) - 1
            end_row = min(max(end_row, start_row + 1), n_rows)
            lo, hi = int(indptr[start_row]), int(indptr[end_row])
            names = [flabels[c] for c in feature_codes[lo:hi].tolist()]
            if values is not None:
                texts = _value_texts(values[lo:hi], integral)
                items = [f"{n},{v}" for n, v in zip(names, texts, strict=True)]
            else:
                items = names
            lines = []
            for r in range(start_row, end_row):
                a, b = int(indptr[r]) - lo, int(indptr[r + 1]) - lo
                if b > a:
                    lines.append(f"{labels[r]}\t{':'.join(items[a:b])}\n")
            out.writelines(lines)
            rows_written += len(lines)
            start_row = end_row
    return rows_written, int(indptr[-1] - indptr[0]) if n_rows else 0
