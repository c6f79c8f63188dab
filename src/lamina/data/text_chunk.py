"""Parsed chunks of DSSTNE text data, and the checks shared by both parsing paths: per-line
errors (``LineErrors``) and analog value parsing (``parse_values``)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import SupportsInt

import numpy as np
import pandas as pd

__all__ = ["Chunk", "LineError", "LineErrors", "parse_values", "snippet"]

TAB, NL, CR, COLON, COMMA = 9, 10, 13, 58, 44
CLASS = np.zeros(256, dtype=np.int8)  # byte -> delimiter class (0 = ordinary byte)
CLASS[TAB], CLASS[COLON], CLASS[NL], CLASS[COMMA] = 1, 2, 3, 4
IS_DELIM = bytes(int(c > 0) for c in CLASS)  # bytes.translate table: 1 for a delimiter


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


def snippet(buf: bytes, first: SupportsInt, last: SupportsInt, limit: int = 60) -> str:
    """``repr`` of ``buf[first:last]`` for an error message, shortened to ``limit`` bytes."""
    start, end = int(first), int(last)
    text = buf[start : min(end, start + limit)].decode("utf-8", "replace")
    return repr(text + ("..." if end - start > limit else ""))


class LineErrors:
    """Per-line errors of a chunk; the first (by line) is raised unless lines are skipped."""

    def __init__(self, n_lines: int) -> None:
        self.bad = np.zeros(n_lines, dtype=bool)
        self.found: dict[int, str] = {}

    def add(self, lines: np.ndarray, make_message: Callable[[int], str]) -> None:
        """Mark ``lines`` (chunk line numbers, 0-based) bad; describe the first few new ones."""
        lines = np.asarray(lines)
        if lines.size == 0:
            return
        new = lines[~self.bad[lines]]
        for i in np.unique(new)[:20].tolist():  # keep a few messages per kind; count them all
            self.found.setdefault(i, make_message(i))
        self.bad[lines] = True


def first_elem_message(
    line_of: np.ndarray, elems: np.ndarray, message: Callable[[int], str]
) -> Callable[[int], str]:
    """Turn a per-element message into a per-line one describing the line's first bad element."""
    lines = line_of[elems]
    return lambda i: message(int(elems[np.flatnonzero(lines == i)[0]]))


def parse_values(
    buf: bytes,
    a: np.ndarray,
    comma_at: np.ndarray,
    e_start: np.ndarray,
    e_end: np.ndarray,
    line_of: np.ndarray,
    errors: LineErrors,
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
            quoting=3,  # csv.QUOTE_NONE: a quote is not part of a number
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
        first_elem_message(
            line_of[has],
            bad,
            lambda j: (
                "expected a finite number after ',' (analog data), found "
                + snippet(buf, int(starts[j]), int(ends[j]))
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
