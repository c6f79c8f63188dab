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


def write_dsstne_text(
    path: str | os.PathLike[str],
    *,
    sample_labels: Sequence[str] | np.ndarray,
    indptr: np.ndarray,
    feature_labels: Sequence[str] | np.ndarray,
    feature_codes: np.ndarray,
    values: np.ndarray | None = None,
    keep_empty: bool = False,
) -> tuple[int, int]:
    """Write rows ``sample_labels[r] TAB elements[indptr[r]:indptr[r+1]]`` to ``path`` atomically.

    Rows without elements are not written unless ``keep_empty`` (then they are ``label<TAB>``,
    a sample with no features, which keeps the rows of two files aligned).

    Args:
        path: output text file; replaced only when writing succeeds.
        sample_labels: (R,) label of every row.
        indptr: (R + 1,) int64 CSR row starts into ``feature_codes``.
        feature_labels: (F,) text label of every feature code.
        feature_codes: (nnz,) int64 codes into ``feature_labels``, row after row.
        values: (nnz,) values written after a comma, or ``None`` for bare features. A column whose
            values are all integral is written as integers (``4``), otherwise every value as the
            shortest float repr (``3.5``, ``4.0``): never a mix.
        keep_empty: also write rows without elements.

    Returns:
        ``(rows_written, elements_written)``.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    codes = np.asarray(feature_codes, dtype=np.int64)
    integral = all_integral(values) if values is not None else True
    fast = integral  # the byte renderer handles bare features and integral values
    render = _render_bytes if fast else _render_python
    samples = _Labels(sample_labels, as_bytes=fast)
    features = _Labels(feature_labels, as_bytes=fast)
    rows_written, n_rows = 0, int(indptr.size) - 1
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        start = 0
        while start < n_rows:
            # As many rows as fit in one chunk of elements (at least one row).
            end = int(np.searchsorted(indptr, indptr[start] + _CHUNK_ELEMENTS, side="right")) - 1
            end = min(max(end, start + 1), n_rows)
            lo, hi = int(indptr[start]), int(indptr[end])
            rows = np.arange(start, end)
            counts = np.diff(indptr[start : end + 1])
            chunk_values = None if values is None else values[lo:hi]
            out.write(
                render(samples, rows, counts, features, codes[lo:hi], chunk_values, keep_empty)
            )
            rows_written += counts.size if keep_empty else int(np.count_nonzero(counts))
            start = end
    return rows_written, int(indptr[-1] - indptr[0]) if n_rows else 0


class _Labels:
    """Labels as a Python list (``as_bytes=False``) or a UTF-8 byte matrix with lengths."""

    def __init__(self, labels: Sequence[str] | np.ndarray, *, as_bytes: bool) -> None:
        text = np.asarray(labels).astype(str)
        self.text: list[str] = text.tolist() if not as_bytes else []
        if as_bytes:
            encoded = np.char.encode(text, "utf-8") if text.size else np.zeros(0, dtype="S1")
            self.width = max(int(encoded.dtype.itemsize), 1)
            self.bytes = np.frombuffer(encoded.tobytes(), dtype=np.uint8)
            self.lengths = np.char.str_len(encoded).astype(np.int64)


def _render_python(
    samples: _Labels,
    rows: np.ndarray,
    counts: np.ndarray,
    features: _Labels,
    codes: np.ndarray,
    values: np.ndarray | None,
    keep_empty: bool,
) -> bytes:
    """Lines of one chunk built with Python strings (any values: floats use the shortest repr)."""
    names = [features.text[c] for c in codes.tolist()]
    if values is not None:
        texts = list(map(repr, values.astype(np.float64).tolist()))
        names = [f"{n},{v}" for n, v in zip(names, texts, strict=True)]
    lines, pos = [], 0
    for r, k in zip(rows.tolist(), counts.tolist(), strict=True):
        if k or keep_empty:
            lines.append(f"{samples.text[r]}\t{':'.join(names[pos : pos + k])}\n")
        pos += k
    return "".join(lines).encode("utf-8")


def _gather(
    out: np.ndarray, dst: np.ndarray, src: np.ndarray, lens: np.ndarray, buf: np.ndarray
) -> None:
    """Copy ``buf[src[i] : src[i] + lens[i]]`` to ``out[dst[i] : ...]`` for every i, vectorized."""
    total = int(lens.sum())
    if total == 0:
        return
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    out[np.repeat(dst, lens) + within] = buf[np.repeat(src, lens) + within]


_POW10 = 10 ** np.arange(1, 19, dtype=np.uint64)
# "0000" .. "9999", each 4 bytes viewed as one uint32: integers are rendered 4 digits per step
_DIGITS4 = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), np.uint32)


def _int_bytes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decimal text of int64 values, vectorized (numpy's ``astype("S")`` is several times slower).

    Returns:
        ``(buf, starts, lengths)``: value i is ``buf[starts[i] : starts[i] + lengths[i]]``
        (right-aligned in fixed-width fields; the sign slot is the field's first group).
    """
    negative = values < 0
    magnitude = np.abs(values).astype(np.uint64)  # int64 min wraps to 2**63: still right
    n_digits = 1 + np.searchsorted(_POW10, magnitude, side="right").astype(np.int64)
    lengths = n_digits + negative
    groups = -(-int(n_digits.max(initial=1)) // 4)
    out = np.empty((values.size, groups + 1), dtype=np.uint32)
    for g in range(groups):
        magnitude, low = np.divmod(magnitude, np.uint64(10_000))
        out[:, groups - g] = np.take(_DIGITS4, low.astype(np.intp))
    width = 4 * (groups + 1)
    starts = np.arange(values.size, dtype=np.int64) * width + (width - lengths)
    flat = out.view(np.uint8).reshape(-1)
    flat[starts[negative]] = ord("-")
    return flat, starts, lengths


def _render_bytes(
    samples: _Labels,
    rows: np.ndarray,
    counts: np.ndarray,
    features: _Labels,
    codes: np.ndarray,
    values: np.ndarray | None,
    keep_empty: bool,
) -> bytes:
    """Lines of one chunk assembled as bytes with numpy (bare features or integral values).

    Layout of a line: ``label TAB elem (':' elem)* NL`` with ``elem = name [',' digits]``.
    """
    if not keep_empty:
        rows, counts = rows[counts > 0], counts[counts > 0]
    name_len = features.lengths[codes]
    elem_len = name_len.copy()
    if values is not None:
        digit_buf, digit_start, digit_len = _int_bytes(values.astype(np.int64))
        elem_len += 1 + digit_len
    label_len = samples.lengths[rows]
    elem_row = np.repeat(np.arange(rows.size), counts)
    # each element is followed by one separator byte (':' or, for a row's last, NL)
    seg = elem_len + 1
    seg_start = np.cumsum(seg) - seg  # offset of each element among all elements of the chunk
    row_seg = np.bincount(elem_row, weights=seg, minlength=rows.size).astype(np.int64)
    row_seg_start = np.cumsum(row_seg) - row_seg
    body = np.where(counts > 0, row_seg, 1)  # an empty row is 'label TAB NL'
    row_len = label_len + 1 + body
    row_start = np.cumsum(row_len) - row_len
    elem_start = (
        row_start[elem_row] + label_len[elem_row] + 1 + (seg_start - row_seg_start[elem_row])
    )
    out = np.empty(int(row_len.sum()), dtype=np.uint8)
    out[elem_start + elem_len] = ord(":")
    out[row_start + row_len - 1] = ord("\n")
    out[row_start + label_len] = ord("\t")
    _gather(out, row_start, rows * samples.width, label_len, samples.bytes)
    _gather(out, elem_start, codes * features.width, name_len, features.bytes)
    if values is not None:
        out[elem_start + name_len] = ord(",")
        _gather(out, elem_start + name_len + 1, digit_start, digit_len, digit_buf)
    return out.tobytes()
