"""The two chunk parsers: a fast path for clean chunks and a general path that finds, reports or
skips bad lines. Both work with numpy on the chunk's bytes (see ``lamina.data.textformat``)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from lamina.data.labels import byte_windows, factorize_spans
from lamina.data.text_chunk import (
    CLASS,
    CR,
    IS_DELIM,
    Chunk,
    LineError,
    LineErrors,
    first_elem_message,
    parse_values,
    snippet,
)
from lamina.errors import DataError

__all__ = ["parse_clean", "parse_general"]


def parse_clean(path: Path, buf: bytes, first_line: int, analog: bool) -> Chunk | None:
    """Fast path for the common case; ``None`` if the chunk has anything unusual (empty lines,
    CR, empty elements or labels, a ':' or ',' in a sample label, any error)."""
    if b"\r" in buf:
        return None
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError:
        return None
    a = np.frombuffer(buf, dtype=np.uint8)
    delim = np.flatnonzero(np.frombuffer(buf.translate(IS_DELIM), dtype=bool))
    kind = CLASS[a[delim]]
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
        errors = LineErrors(tabs.size)
        line_of = np.repeat(np.arange(tabs.size), row_lengths)
        values = parse_values(buf, a, comma_at, e_start, e_end, line_of, errors)
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


def parse_general(path: Path, buf: bytes, first_line: int, analog: bool, skip: bool) -> Chunk:
    """Parse whole lines with numpy: one pass finds every delimiter, everything after works on
    the (much shorter) delimiter array. Bad lines are found, reported or skipped."""
    a = np.frombuffer(buf, dtype=np.uint8)
    delim = np.flatnonzero(np.frombuffer(buf.translate(IS_DELIM), dtype=bool))
    kind = CLASS[a[delim]]
    is_nl = kind == 3
    nl = delim[is_nl]
    n_lines = nl.size
    line_of_delim = np.cumsum(is_nl) - is_nl  # line number (0-based) of every delimiter
    line_start = np.empty(n_lines, dtype=np.int64)
    line_start[0] = 0
    line_start[1:] = nl[:-1] + 1
    line_end = nl.astype(np.int64)
    line_end -= (line_end > line_start) & (a[np.maximum(line_end - 1, 0)] == CR)
    errors = LineErrors(n_lines)
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
            + snippet(buf, line_start[i], line_end[i])
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
        first_elem_message(
            line_of,
            bad_el,
            lambda j: (
                "expected 'feature[,value]', found more than one ',' in "
                + snippet(buf, e_start[j], e_end[j])
            ),
        ),
    )
    bad_el = np.flatnonzero(comma_at == e_start)
    errors.add(
        line_of[bad_el],
        first_elem_message(
            line_of,
            bad_el,
            lambda j: (
                "expected a feature label before ',', found " + snippet(buf, e_start[j], e_end[j])
            ),
        ),
    )
    f_end = np.where(comma_at >= 0, comma_at, e_end)
    values = parse_values(buf, a, comma_at, e_start, e_end, line_of, errors) if analog else None

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


def _bad_byte(byte: int, _line: int) -> str:
    return f"expected UTF-8 text, found byte 0x{byte:02x}"


def _mark_bad_utf8(buf: bytes, nl: np.ndarray, errors: LineErrors) -> None:
    """Mark every line holding bytes that are not UTF-8 (each bad line is decoded past once)."""
    pos = 0
    while True:
        try:
            buf[pos:].decode("utf-8")
            return
        except UnicodeDecodeError as exc:
            at = pos + exc.start
            line = int(np.searchsorted(nl, at))
            errors.add(np.array([line]), functools.partial(_bad_byte, buf[at]))
            pos = int(nl[line]) + 1
