"""MovieLens rating files -> DSSTNE text, one line per user (as DSSTNE's ``convert_ratings.awk``).

Formats (detected from the first non-blank line, or forced with ``format=``):

========================  ====================================================================
``u.data``                ML-100K: ``user<TAB>item<TAB>rating<TAB>timestamp``
``ratings.dat``           ML-1M / ML-10M: ``user::item::rating::timestamp``
``ratings.csv``           ML-20M / 25M / latest(-small): header ``userId,movieId,rating,timestamp``
                          (a header-less ``user,item,rating,timestamp`` file is accepted too)
``lists``                 one user per line, ``user item item ...`` (whitespace-separated, no
                          ratings or timestamps; e.g. the LightGCN-style ml-1m ``train.txt``)
========================  ====================================================================

Output order: users in ascending numeric id; a user's items in file order (ML-20M's ratings.csv is
sorted by user then movie, so this reproduces the awk output). The input need not be sorted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from lamina.data.importers.interactions import DuplicatePolicy, ImportSummary, Interactions
from lamina.data.importers.tabular import Column, TableSpec, read_table, record_line, text_lines
from lamina.errors import DataError, UsageError, did_you_mean

__all__ = [
    "MOVIELENS_FORMATS",
    "MovieLensData",
    "ValuesMode",
    "detect_movielens_format",
    "import_movielens",
    "read_movielens",
]

MOVIELENS_FORMATS: tuple[str, ...] = ("u.data", "ratings.dat", "ratings.csv", "lists")
ValuesMode = Literal["rating", "timestamp", "none"]
_LAYOUTS = {
    "u.data": "user<TAB>item<TAB>rating<TAB>timestamp",
    "ratings.dat": "user::item::rating::timestamp",
    "ratings.csv": "userId,movieId,rating,timestamp",
    "lists": "user item item ...",
}
_CSV_NAMES = ("userid", "movieid", "rating", "timestamp")


@dataclass(frozen=True)
class MovieLensData:
    """A MovieLens file in memory.

    Attributes:
        format: one of ``MOVIELENS_FORMATS``.
        interactions: one record per rating (values ``None``); users coded in ascending id order.
        ratings: (n,) float64 rating per record, or ``None`` for ``lists``.
        timestamps: (n,) int64 timestamp per record, or ``None`` for ``lists``.
    """

    format: str
    interactions: Interactions
    ratings: np.ndarray | None
    timestamps: np.ndarray | None


def _first_line(path: Path) -> tuple[int, str]:
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for lineno, line in enumerate(handle, 1):
            if line.strip():
                return lineno, line.rstrip("\r\n")
    raise DataError(f"{path}: expected MovieLens ratings, found an empty file")


def detect_movielens_format(path: str | os.PathLike[str]) -> str:
    """Guess a MovieLens file's format from its first non-blank line.

    Returns:
        One of ``MOVIELENS_FORMATS``.

    Raises:
        DataError: the line matches none of them.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expected an existing file, found none")
    lineno, line = _first_line(path)
    fields = line.split("\t")
    if "::" in line:
        return "ratings.dat"
    if "," in line:
        return "ratings.csv"
    if len(fields) == 4:
        return "u.data"
    if len(line.split()) >= 1 and all(t.lstrip("-").isdigit() for t in line.split()):
        return "lists"
    raise DataError(
        f"{path}:{lineno}: expected a MovieLens line ({'; '.join(_LAYOUTS.values())}), "
        f"found {line[:120]!r}",
        hint="force a layout with --format, or use `lamina data import csv` for other tables",
    )


def _csv_spec(path: Path) -> TableSpec:
    """ratings.csv: columns found by header name, or positions 0-3 when there is no header."""
    _, line = _first_line(path)
    names = [f.strip().strip('"').lower() for f in line.split(",")]
    try:
        [float(f) for f in names]
        header, positions = False, [0, 1, 2, 3]
    except ValueError:
        header = True
        missing = [n for n in _CSV_NAMES if n not in names]
        if missing:
            raise DataError(
                f"{path}:1: expected a header with columns userId, movieId, rating, timestamp, "
                f"found {line[:120]!r} (no {missing[0]!r})"
                + did_you_mean(missing[0], [f for f in names if f]),
                hint="use `lamina data import csv --sample-col ... --feature-col ...` instead",
            ) from None
        positions = [names.index(n) for n in _CSV_NAMES]
    return TableSpec(",", header, len(names), _columns(positions), _LAYOUTS["ratings.csv"])


def _columns(positions: list[int]) -> tuple[Column, ...]:
    kinds = ("int", "int", "float", "int")
    names = ("user id", "item id", "rating", "timestamp")
    return tuple(Column(p, n, k) for p, n, k in zip(positions, names, kinds, strict=True))  # type: ignore[arg-type]


def _read_lists(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``user item item ...`` lines -> (users, items, line numbers), one entry per item."""
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    for lineno, line in enumerate(text_lines(path), 1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            ids = np.array(tokens, dtype=np.int64)
        except (ValueError, OverflowError):
            k = next((i for i, t in enumerate(tokens) if not _is_int64(t)), 0)
            raise DataError(
                f"{path}:{lineno}: expected integer ids ({_LAYOUTS['lists']}), "
                f"found {tokens[k]!r} in field {k + 1}"
            ) from None
        users.append(np.full(ids.size - 1, ids[0], dtype=np.int64))
        items.append(ids[1:])
        lines.append(np.full(ids.size - 1, lineno, dtype=np.int64))
    if not users or not sum(u.size for u in users):
        raise DataError(f"{path}: expected at least one line of {_LAYOUTS['lists']}, found none")
    return np.concatenate(users), np.concatenate(items), np.concatenate(lines)


def _is_int64(token: str) -> bool:
    return token.lstrip("-").isdigit() and -(2**63) <= int(token) < 2**63


def _coded(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, sort=True)  # ascending numeric id
    return codes.astype(np.int64), np.asarray(uniques).astype(str)


def read_movielens(path: str | os.PathLike[str], *, format: str = "auto") -> MovieLensData:
    """Read a MovieLens ratings file (any layout in the module docstring).

    Args:
        path: the ratings file.
        format: ``"auto"`` (detect) or one of ``MOVIELENS_FORMATS``.

    Raises:
        UsageError: an unknown ``format``.
        DataError: ``FILE:LINE: expected ..., found ...`` for the first malformed line.
    """
    path = Path(path)
    if format != "auto" and format not in MOVIELENS_FORMATS:
        raise UsageError(
            f"--format must be one of [auto, {', '.join(MOVIELENS_FORMATS)}]. Got {format!r}."
            + did_you_mean(format, MOVIELENS_FORMATS)
        )
    fmt = detect_movielens_format(path) if format == "auto" else format
    ratings = timestamps = None
    if fmt == "lists":
        users, items, records = _read_lists(path)

        def line_of(record: int) -> int:
            return record
    else:
        if fmt == "ratings.csv":
            spec = _csv_spec(path)
        else:
            delimiter = "\t" if fmt == "u.data" else "::"
            spec = TableSpec(delimiter, False, 4, _columns([0, 1, 2, 3]), _LAYOUTS[fmt])
        table = read_table(path, spec)
        users, items = table.numbers["user id"], table.numbers["item id"]
        ratings, timestamps = table.numbers["rating"], table.numbers["timestamp"]
        records = np.arange(table.n_records, dtype=np.int64)

        def line_of(record: int) -> int:
            return record_line(path, spec, record)

    sample_codes, sample_labels = _coded(users)
    feature_codes, feature_labels = _coded(items)
    inter = Interactions(
        sample_codes,
        feature_codes,
        None,
        sample_labels,
        feature_labels,
        records,
        line_of,
        str(path),
    )
    return MovieLensData(fmt, inter, ratings, timestamps)


def import_movielens(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    format: str = "auto",
    values: ValuesMode = "none",
    min_rating: float | None = None,
    duplicates: DuplicatePolicy = "first",
) -> ImportSummary:
    """Convert a MovieLens ratings file to DSSTNE text, one line per user.

    Args:
        path: the ratings file (u.data, ratings.dat, ratings.csv or one-user-per-line lists).
        output: the DSSTNE text file to write (atomically: nothing is left on error).
        format: ``"auto"`` or one of ``MOVIELENS_FORMATS``.
        values: ``"none"`` writes bare items (``user<TAB>item:item``), ``"rating"`` writes
            ``item,rating``, ``"timestamp"`` writes ``item,timestamp`` (DSSTNE's awk form).
        min_rating: keep only ratings ``>= min_rating`` (the "ge4" protocol uses 4).
        duplicates: what to do with a user rating one item twice (``"first"``, ``"last"``,
            ``"error"``).

    Returns:
        What was written.

    Raises:
        DataError: a malformed line (``FILE:LINE``), or ``min_rating`` / ``values`` asking for
            ratings or timestamps of a ``lists`` file, which has none.

    Example:
        >>> import_movielens("ml-100k/u.data", "ml100k.txt", min_rating=4)  # doctest: +SKIP
        ImportSummary(output='ml100k.txt', format='u.data', samples=942, ...)
    """
    if values not in ("rating", "timestamp", "none"):
        raise UsageError(f"--values must be one of [rating, timestamp, none]. Got {values!r}.")
    data = read_movielens(path, format=format)
    if data.ratings is None and (min_rating is not None or values != "none"):
        asked = "--min-rating" if min_rating is not None else f"--values {values}"
        raise DataError(
            f"{path}: {asked} needs ratings and timestamps, but the file is in the 'lists' "
            f"format ({_LAYOUTS['lists']}), which has none",
            hint="drop the option, or import the original ratings file",
        )
    fmt, inter = data.format, data.interactions
    column = {"rating": data.ratings, "timestamp": data.timestamps, "none": None}[values]
    keep = np.ones(len(inter), dtype=bool)
    if min_rating is not None and data.ratings is not None:
        keep = data.ratings >= min_rating
    filtered = int((~keep).sum())
    del data  # free the columns not written before the copies below
    if filtered or column is not None:
        inter = inter.select(keep, values=column if column is not None else False)
    del column, keep
    inter, n_dup = inter.deduplicate(duplicates)
    return inter.write(output, format=fmt, filtered=filtered, duplicates=n_dup)
