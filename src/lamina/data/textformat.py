"""DSSTNE's text data format, read in large byte chunks with vectorised numpy parsing.

One sample per line (spec section 3.1)::

    sample<TAB>feature[,value]:feature[,value]:...

Reading never holds the whole file in Python objects: the file is read in chunks of whole lines
(``chunk_bytes``, 32 MB by default); each chunk is split into lines, elements and labels with numpy
on its bytes, and only the *distinct* labels of a chunk become Python strings.

Rules (Lamina is strict where DSSTNE warned and went on; every error is ``FILE:LINE: expected ...,
found ...``):

* A line must contain exactly one TAB and a non-empty sample label before it. A trailing ``\\r`` is
  removed (CRLF files). Empty lines are ignored, as in DSSTNE.
* Elements are separated by ``:``; an empty element (``a::b``, a trailing ``:``) is skipped, as in
  DSSTNE (its own ``predict`` output ends lines with ``:``). A line may have no features at all.
* An element is ``feature`` or ``feature,value``: more than one comma and an empty feature label
  before a comma are errors.
* Indicator data: the value text is ignored whatever it is (DSSTNE parsed it with ``stof`` and
  discarded it, crashing on text that is not a number); analog data: the value must be a finite
  number, and an element without a value has value 0.0 (as in DSSTNE).
* The file must be UTF-8.

With ``skip_bad_lines=True`` a bad line is left out and recorded in ``Chunk.errors`` instead.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import SupportsInt

import numpy as np
import pandas as pd

from lamina.data.labels import byte_windows, factorize_spans
from lamina.errors import DataError

__all__ = ["Chunk", "LineError", "read_chunks"]

TAB, NL, CR, COLON, COMMA = 9, 10, 13, 58, 44
DEFAULT_CHUNK_BYTES = 32 << 20


@dataclass(frozen=True)
class LineError:
    """A bad input line: its 1-based number and what is wrong with it (no file name)."""

    line: int
    message: str


@dataclass
class Chunk:
    """The parsed lines of one chunk of a text file.

    Attributes:
        path: the file the chunk comes from.
        line_numbers: (R,) int64 1-based line number of each parsed row.
        sample_codes: (R,) int64 index into ``sample_labels`` (equal codes = same sample twice).
        sample_labels: distinct sample labels of the chunk, in order of first appearance.
        row_lengths: (R,) int64 number of elements of each row.
        feature_codes: (nnz,) int64 index into ``feature_labels``, row after row, in text order.
        feature_labels: distinct feature labels of the chunk, in order of first appearance.
        values: (nnz,) float32 values (analog data) or ``None`` (indicator data).
        errors: examples of bad lines that were skipped (only with ``skip_bad_lines``).
        n_bad: number of bad lines skipped.
        n_bytes: bytes of the file this chunk covers.
        n_lines: lines of the file this chunk covers (empty and bad lines included).
    """

    path: Path
    line_numbers: np.ndarray
    sample_codes: np.ndarray
    sample_labels: list[str]
    row_lengths: np.ndarray
    feature_codes: np.ndarray
    feature_labels: list[str]
    values: np.ndarray | None
    errors: list[LineError] = field(default_factory=list)
    n_bad: int = 0
    n_bytes: int = 0
    n_lines: int = 0


def read_chunks(
    path: str | os.PathLike[str],
    *,
    analog: bool = False,
    skip_bad_lines: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[Chunk]:
    """Parse a text data file chunk by chunk.

    Args:
        path: the text file.
        analog: parse and keep values (``-t analog``); otherwise value text is ignored.
        skip_bad_lines: record bad lines in ``Chunk.errors`` instead of raising.
        chunk_bytes: approximate bytes per chunk (whole lines; a longer line makes a larger chunk).

    Yields:
        One ``Chunk`` per block of whole lines.

    Raises:
        DataError: ``FILE:LINE: expected ..., found ...`` for the first bad line (unless skipped),
            or ``FILE: cannot read ...``.
    """
    path = Path(path)
    first_line = 1
    try:
        with open(path, "rb") as fh:
            tail = b""
            while True:
                block = fh.read(chunk_bytes)
                data = tail + block
                if not block:
                    if data:
                        yield _parse(path, data + b"\n", first_line, analog, skip_bad_lines)
                    return
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    tail = data
                    continue
                tail = data[cut:]
                chunk = _parse(path, data[:cut], first_line, analog, skip_bad_lines)
                first_line += chunk.n_lines
                yield chunk
    except OSError as exc:
        raise DataError(f"{path}: cannot read input file ({exc.strerror or exc})") from None


def _snippet(buf: bytes, first: SupportsInt, last: SupportsInt, limit: int = 60) -> str:
    start, end = int(first), int(last)
    text = buf[start : min(end, start + limit)].decode("utf-8", "replace")
    return repr(text + ("..." if end - start > limit else ""))


class _Errors:
    """Per-line errors of a chunk; the first (by line) is raised unless lines are skipped."""

    def __init__(self, n_lines: int) -> None:
        self.bad = np.zeros(n_lines, dtype=bool)
        self.found: dict[int, str] = {}

    def add(self, lines: np.ndarray, make_message: object) -> None:
        lines = np.asarray(lines)
        if lines.size == 0:
            return
        new = lines[~self.bad[lines]]
        for i in np.unique(new)[:20].tolist():  # keep a few messages per kind; count them all
            self.found.setdefault(i, make_message(i))  # type: ignore[operator]
        self.bad[lines] = True


_CLASS = np.zeros(256, dtype=np.int8)  # byte -> delimiter class (0 = ordinary byte)
_CLASS[TAB], _CLASS[COLON], _CLASS[NL], _CLASS[COMMA] = 1, 2, 3, 4
_IS_DELIM = bytes(int(c > 0) for c in _CLASS)  # bytes.translate table: 1 for a delimiter


def _parse(path: Path, buf: bytes, first_line: int, analog: bool, skip: bool) -> Chunk:
    """Parse whole lines (``buf`` ends with a newline): the fast path for clean chunks, else the
    general one (which also finds and reports bad lines)."""
    chunk = _parse_clean(path, buf, first_line, analog)
    return chunk if chunk is not None else _parse_general(path, buf, first_line, analog, skip)


def _parse_clean(path: Path, buf: bytes, first_line: int, analog: bool) -> Chunk | None:
    """Fast path for the common case; ``None`` if the chunk has anything unusual (empty lines,
    CR, empty elements or labels, a ':' or ',' in a sample label, any error)."""
    if b"\r" in buf:
        return None
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError:
        return None
    a = np.frombuffer(buf, dtype=np.uint8)
    delim = np.flatnonzero(np.frombuffer(buf.translate(_IS_DELIM), dtype=bool))
    kind = _CLASS[a[delim]]
    sep = np.flatnonzero(kind != 4)  # TAB, ':' and newline: everything but commas
    s_kind, s_pos = kind[sep], delim[sep]
    # Structure: a TAB follows a newline (or starts the chunk), and nothing else does.
    if s_kind[0] != 1 or np.any((s_kind[1:] == 1) != (s_kind[:-1] == 3)):
        return None
    n_commas = np.diff(sep) - 1  # commas inside the segment after each separator
    tabs = np.flatnonzero(s_kind == 1)
    label_start = np.empty(tabs.size, dtype=np.int64)
    label_start[0] = 0
    label_start[1:] = s_pos[tabs[1:] - 1] + 1
    label_end = s_pos[tabs]
    if sep[0] > 0 or np.any(n_commas[tabs[1:] - 1]) or np.any(label_end == label_start):
        return None
    opens = np.flatnonzero(s_kind[:-1] != 3)  # segments after a TAB or ':' are elements
    e_start, e_end, e_commas = s_pos[opens] + 1, s_pos[opens + 1], n_commas[opens]
    if np.any(e_end == e_start) or np.any(e_commas > 1):
        return None
    comma_at = np.where(e_commas > 0, delim[sep[opens] + 1], -1)
    f_end = np.where(comma_at >= 0, comma_at, e_end)
    if np.any(f_end == e_start):
        return None
    next_nl = np.empty(tabs.size, dtype=np.int64)
    next_nl[:-1] = tabs[1:] - 1
    next_nl[-1] = s_kind.size - 1
    row_lengths = next_nl - tabs
    values = None
    if analog:
        errors = _Errors(tabs.size)
        line_of = np.repeat(np.arange(tabs.size), row_lengths)
        values = _parse_values(buf, a, comma_at, e_start, e_end, line_of, errors)
        if errors.found:
            return None
    windows = byte_windows(buf)
    feature_codes, feature_labels = factorize_spans(buf, e_start, f_end, windows=windows)
    sample_codes, sample_labels = factorize_spans(buf, label_start, label_end, windows=windows)
    return Chunk(
        path=path,
        line_numbers=first_line + np.arange(tabs.size, dtype=np.int64),
        sample_codes=sample_codes,
        sample_labels=sample_labels,
        row_lengths=row_lengths,
        feature_codes=feature_codes,
        feature_labels=feature_labels,
        values=values,
        n_bytes=len(buf),
        n_lines=int(tabs.size),
    )


def _parse_general(path: Path, buf: bytes, first_line: int, analog: bool, skip: bool) -> Chunk:
    """Parse whole lines with numpy: one pass finds every delimiter, everything after works on
    the (much shorter) delimiter array. Bad lines are found, reported or skipped."""
    a = np.frombuffer(buf, dtype=np.uint8)
    delim = np.flatnonzero(np.frombuffer(buf.translate(_IS_DELIM), dtype=bool))
    kind = _CLASS[a[delim]]
    is_nl = kind == 3
    nl = delim[is_nl]
    n_lines = nl.size
    line_of_delim = np.cumsum(is_nl) - is_nl  # line number (0-based) of every delimiter
    line_start = np.empty(n_lines, dtype=np.int64)
    line_start[0] = 0
    line_start[1:] = nl[:-1] + 1
    line_end = nl.astype(np.int64)
    line_end -= (line_end > line_start) & (a[np.maximum(line_end - 1, 0)] == CR)
    errors = _Errors(n_lines)
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError:
        _mark_bad_utf8(buf, nl, errors)

    # The first TAB of each line; lines without one, with two, or with an empty label are bad.
    tab_d = np.flatnonzero(kind == 1)
    tab_line = line_of_delim[tab_d]
    first = np.ones(tab_d.size, dtype=bool)
    first[1:] = tab_line[1:] != tab_line[:-1]
    line_tab_d = np.full(n_lines, -1, dtype=np.int64)  # delimiter number of the line's TAB
    line_tab_d[tab_line[first]] = tab_d[first]
    line_tab = np.where(line_tab_d >= 0, delim[line_tab_d], -1)
    nonempty = line_end > line_start
    errors.add(
        np.flatnonzero(nonempty & (line_tab < 0)),
        lambda i: (
            "expected 'sample<TAB>features', found no TAB in "
            + _snippet(buf, line_start[i], line_end[i])
        ),
    )
    errors.add(
        np.flatnonzero(line_tab == line_start),
        lambda i: "expected a sample label before the TAB, found an empty label",
    )
    errors.add(
        np.unique(tab_line[~first]), lambda i: "expected one TAB per line, found more than one"
    )
    row_ok = nonempty & (line_tab >= 0) & ~errors.bad

    # Delimiters of good rows' data parts: TAB (1), ':' (2), end of line (3), ',' (4).
    d_line = line_of_delim
    in_data = row_ok[d_line] & (np.arange(delim.size) >= line_tab_d[d_line])
    seq = np.flatnonzero(in_data)
    s_kind = kind[seq]
    s_pos = delim[seq]
    ends = s_kind == 3
    s_pos[ends] = line_end[d_line[seq[ends]]]
    seps = np.flatnonzero(s_kind != 4)
    opens = np.flatnonzero(s_kind[seps[:-1]] != 3)  # a TAB or ':' opens an element
    opening, closing = seps[opens], seps[opens + 1]
    e_start = s_pos[opening] + 1
    e_end = s_pos[closing]
    n_commas = closing - opening - 1
    comma_at = np.where(n_commas > 0, s_pos[np.minimum(opening + 1, s_pos.size - 1)], -1)
    line_of = d_line[seq[opening]]
    keep = e_end > e_start  # empty elements are skipped, as in DSSTNE
    e_start, e_end, n_commas, comma_at, line_of = (
        e_start[keep],
        e_end[keep],
        n_commas[keep],
        comma_at[keep],
        line_of[keep],
    )

    bad_el = np.flatnonzero(n_commas > 1)
    errors.add(
        line_of[bad_el],
        _first_elem_message(
            line_of,
            bad_el,
            lambda j: (
                "expected 'feature[,value]', found more than one ',' in "
                + _snippet(buf, e_start[j], e_end[j])
            ),
        ),
    )
    bad_el = np.flatnonzero(comma_at == e_start)
    errors.add(
        line_of[bad_el],
        _first_elem_message(
            line_of,
            bad_el,
            lambda j: (
                "expected a feature label before ',', found " + _snippet(buf, e_start[j], e_end[j])
            ),
        ),
    )
    f_end = np.where(comma_at >= 0, comma_at, e_end)
    values = _parse_values(buf, a, comma_at, e_start, e_end, line_of, errors) if analog else None

    if not skip and errors.found:
        i = min(errors.found)
        raise DataError(f"{path}:{first_line + i}: {errors.found[i]}")
    rows = np.flatnonzero(row_ok & ~errors.bad)
    good_el = ~errors.bad[line_of]
    e_start, f_end, line_of = e_start[good_el], f_end[good_el], line_of[good_el]
    if values is not None:
        values = values[good_el]
    windows = byte_windows(buf)
    feature_codes, feature_labels = factorize_spans(buf, e_start, f_end, windows=windows)
    sample_codes, sample_labels = factorize_spans(
        buf, line_start[rows], line_tab[rows], windows=windows
    )
    row_lengths = np.bincount(line_of, minlength=n_lines)[rows]
    msgs = [LineError(first_line + i, m) for i, m in sorted(errors.found.items())]
    return Chunk(
        path=path,
        line_numbers=first_line + rows.astype(np.int64),
        sample_codes=sample_codes,
        sample_labels=sample_labels,
        row_lengths=row_lengths.astype(np.int64),
        feature_codes=feature_codes,
        feature_labels=feature_labels,
        values=values,
        errors=msgs,
        n_bad=int(errors.bad.sum()),
        n_bytes=len(buf),
        n_lines=int(n_lines),
    )


def _first_elem_message(line_of: np.ndarray, elems: np.ndarray, message: object) -> object:
    """A per-line message factory that describes the line's first offending element."""
    first_by_line: dict[int, int] = {}
    for j in elems[:1000].tolist():
        first_by_line.setdefault(int(line_of[j]), j)
    return lambda i: message(first_by_line.get(i, int(elems[0])))  # type: ignore[operator]


def _mark_bad_utf8(buf: bytes, nl: np.ndarray, errors: _Errors) -> None:
    pos = 0
    while True:
        try:
            buf[pos:].decode("utf-8")
            return
        except UnicodeDecodeError as exc:
            at = pos + exc.start
            line = int(np.searchsorted(nl, at))
            errors.add(
                np.array([line]), lambda i, b=buf[at]: f"expected UTF-8 text, found byte 0x{b:02x}"
            )
            pos = int(nl[line]) + 1


def _parse_values(
    buf: bytes,
    a: np.ndarray,
    comma_at: np.ndarray,
    e_start: np.ndarray,
    e_end: np.ndarray,
    line_of: np.ndarray,
    errors: _Errors,
) -> np.ndarray:
    """(nnz,) float32 values: the number after each element's comma, 0.0 where there is none."""
    values = np.zeros(e_start.size, dtype=np.float32)
    has = np.flatnonzero(comma_at >= 0)
    if has.size == 0:
        return values
    starts, ends = comma_at[has] + 1, e_end[has]
    mask = np.zeros(a.size, dtype=np.int8)
    mask[starts] += 1
    mask[ends] -= 1
    keep = np.cumsum(mask, dtype=np.int8).view(bool)
    keep[ends] = True
    text = a.copy()
    text[ends] = NL
    parsed: np.ndarray | None
    try:
        frame = pd.read_csv(
            io.BytesIO(text[keep].tobytes()),
            header=None,
            names=["v"],
            dtype=np.float64,
            engine="c",
            na_filter=False,
            skip_blank_lines=False,
        )
        parsed = frame["v"].to_numpy()
        if parsed.size != has.size:
            parsed = None
    except ValueError:
        parsed = None
    if parsed is None:  # slow path: find the offending values one by one
        parsed = np.array(
            [_to_float(buf[s:e]) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
        )
    bad = np.flatnonzero(~np.isfinite(parsed))
    errors.add(
        line_of[has[bad]],
        _first_elem_message(
            line_of[has],
            bad,
            lambda j: (
                "expected a finite number after ',' (analog data), found "
                + _snippet(buf, int(starts[j]), int(ends[j]))
            ),
        ),
    )
    values[has] = np.where(np.isfinite(parsed), parsed, 0.0)
    return values


def _to_float(text: bytes) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")
