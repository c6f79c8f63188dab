"""Read delimited tables into numpy columns fast, and explain bad input as ``FILE:LINE``.

The fast path is pandas' C parser with fixed dtypes. When it fails, or its result has a missing or
non-finite value, a slow line-by-line pass finds the first bad line and reports exactly what was
expected there and what was found. Line numbers assume one record per line (no quoted newlines).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd

from lamina.data.importers.writer import RESERVED_CHARS
from lamina.errors import DataError

__all__ = [
    "Column",
    "Table",
    "TableSpec",
    "delimiter_name",
    "read_table",
    "record_line",
    "text_lines",
]

ColumnKind = Literal["int", "float", "label"]
_CHUNK_ROWS = 1 << 19  # records parsed at a time: bounds the transient per-row label strings


@dataclass(frozen=True)
class Column:
    """A field to read: its 0-based position, a name for messages and what it must hold."""

    position: int
    name: str
    kind: ColumnKind


@dataclass(frozen=True)
class TableSpec:
    """How a table file is laid out.

    Attributes:
        delimiter: one character, or ``"::"`` (MovieLens ratings.dat).
        header: whether the first line is a header to skip.
        n_fields: fields every line must have.
        columns: the fields to read.
        layout: the expected line, for messages (e.g. ``"user<TAB>item<TAB>rating<TAB>timestamp"``).
    """

    delimiter: str
    header: bool
    n_fields: int
    columns: tuple[Column, ...]
    layout: str


@dataclass(frozen=True)
class Table:
    """Columns read by ``read_table``: numeric arrays by name; label columns as codes + labels.

    Label codes number the distinct labels in order of first appearance.
    """

    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    n_records: int = 0


def delimiter_name(delimiter: str) -> str:
    """A readable name for a delimiter in messages."""
    return {"\t": "TAB", " ": "space", ",": "','", "::": "'::'"}.get(delimiter, repr(delimiter))


class _DoubleColonToTab(io.RawIOBase):
    """A binary stream that reads ``raw`` with every ``::`` replaced by a TAB (for the C parser)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(max(len(buffer) - 1, 1))
        if data.endswith(b":"):
            data += self._raw.read(1)  # never split a '::' across two reads
        data = data.replace(b"::", b"\t")
        buffer[: len(data)] = data
        return len(data)


def text_lines(path: Path) -> Iterator[str]:
    """The file's lines as text (BOM dropped); a line that is not UTF-8 is a ``FILE:LINE`` error."""
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}:{lineno}: expected UTF-8 text, found byte {raw[exc.start]:#x}"
                ) from None
            yield line


def _records(path: Path, spec: TableSpec) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, fields)`` of every non-blank data line (the header skipped)."""
    lines = text_lines(path)
    if spec.delimiter == "::":
        rows: Iterator[list[str]] = (line.rstrip("\r\n").split("::") for line in lines)
        numbered = ((i, row) for i, row in enumerate(rows, 1))
    else:
        reader = csv.reader(lines, delimiter=spec.delimiter)
        numbered = ((reader.line_num, row) for row in reader)
    for lineno, row in numbered:
        if not row or row == [""]:
            continue
        if spec.header and lineno == 1:
            continue
        yield lineno, row


def record_line(path: str | os.PathLike[str], spec: TableSpec, record: int) -> int:
    """The 1-based line of data record ``record`` (0-based, blank lines not counted)."""
    for i, (lineno, _) in enumerate(_records(Path(path), spec)):
        if i == record:
            return lineno
    return -1


def _check_field(path: Path, lineno: int, col: Column, text: str) -> DataError | None:
    where = f"{path}:{lineno}: expected"
    if col.kind == "label":
        if text == "":
            return DataError(
                f"{where} a non-empty {col.name} in field {col.position + 1}, found ''"
            )
        bad = next((c for c in RESERVED_CHARS if c in text), None)
        if bad is not None:
            return DataError(
                f"{where} a {col.name} without {bad!r} (the DSSTNE text format reserves TAB, ':' "
                f"and ','), found {text!r}"
            )
        return None
    try:
        number = int(text) if col.kind == "int" else float(text)
    except ValueError:
        kind = "an integer" if col.kind == "int" else "a numeric"
        return DataError(f"{where} {kind} {col.name} in field {col.position + 1}, found {text!r}")
    if not np.isfinite(number):
        return DataError(f"{where} a finite {col.name} in field {col.position + 1}, found {text!r}")
    return None


def _first_bad_line(path: Path, spec: TableSpec) -> DataError | None:
    """The slow pass: the error for the first line that breaks ``spec``, or ``None``."""
    sep = delimiter_name(spec.delimiter)
    joiner = spec.delimiter
    for lineno, row in _records(path, spec):
        if len(row) != spec.n_fields:
            return DataError(
                f"{path}:{lineno}: expected {spec.n_fields} fields separated by {sep} "
                f"({spec.layout}), found {len(row)}: {joiner.join(row)[:200]!r}"
            )
        for col in spec.columns:
            error = _check_field(path, lineno, col, row[col.position])
            if error is not None:
                return error
    return None


def _open_for_pandas(path: Path, spec: TableSpec) -> tuple[IO[bytes] | Path, str]:
    if spec.delimiter == "::":
        return io.BufferedReader(_DoubleColonToTab(open(path, "rb"))), "\t"
    return path, spec.delimiter


def _fail(path: Path, spec: TableSpec, cause: str) -> DataError:
    return _first_bad_line(path, spec) or DataError(
        f"{path}: cannot be read as {spec.layout} ({cause})"
    )


class _LabelCoder:
    """Numbers distinct labels in order of first appearance, chunk after chunk."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, series: pd.Series) -> np.ndarray | None:
        """(n,) int64 codes of a chunk's labels, or ``None`` if one is empty or reserved."""
        local, uniques = pd.factorize(series, use_na_sentinel=True)
        if (local < 0).any():
            return None
        uniques = [str(u) for u in uniques]
        if any(c in u for u in uniques for c in RESERVED_CHARS):
            return None
        mapping = np.array([self.codes.setdefault(u, len(self.codes)) for u in uniques], np.int64)
        return mapping[local] if mapping.size else np.zeros(0, np.int64)

    def labels(self) -> np.ndarray:
        """(L,) str labels in code order."""
        return np.array(list(self.codes), dtype=str) if self.codes else np.zeros(0, dtype=str)


def read_table(path: str | os.PathLike[str], spec: TableSpec) -> Table:
    """Read the columns of ``spec`` from ``path``, in chunks of ``_CHUNK_ROWS`` records.

    Blank lines are ignored. Numeric columns come back as int64 / float64 arrays; label columns as
    ``(codes (n,) int64, labels (L,) str)`` with codes in order of first appearance (labels are
    kept verbatim: ``007`` stays ``007``).

    Raises:
        DataError: ``FILE:LINE: expected ..., found ...`` for the first bad line (wrong number of
            fields, a non-numeric number, an empty label or one containing TAB, ':' or ',').
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expected an existing file, found none")
    dtypes = {
        c.position: {"int": "int64", "float": "float64", "label": str}[c.kind] for c in spec.columns
    }
    parts: dict[str, list[np.ndarray]] = {c.name: [] for c in spec.columns}
    coders = {c.name: _LabelCoder() for c in spec.columns if c.kind == "label"}
    source, sep = _open_for_pandas(path, spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = pd.read_csv(
                source,
                sep=sep,
                header=None,
                skiprows=1 if spec.header else 0,
                dtype=dtypes,  # type: ignore[arg-type]
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=True,
                engine="c",
                chunksize=_CHUNK_ROWS,
            )
            with reader:
                for frame in reader:
                    _take(frame, path, spec, parts, coders)
    except pd.errors.EmptyDataError:
        pass
    except (ValueError, TypeError, OverflowError, pd.errors.ParserError) as exc:
        # also UnicodeDecodeError (a ValueError): the slow pass names the line
        raise _fail(path, spec, str(exc).splitlines()[0]) from None
    finally:
        if not isinstance(source, Path):
            with contextlib.suppress(Exception):
                source.close()
    table = Table(n_records=sum(len(p) for p in parts[spec.columns[0].name]))
    if table.n_records == 0:
        raise DataError(f"{path}: expected at least one line of {spec.layout}, found none")
    for col in spec.columns:
        dtype = np.float64 if col.kind == "float" else np.int64
        values = np.concatenate(parts[col.name]) if parts[col.name] else np.zeros(0, dtype)
        if col.kind == "label":
            table.labels[col.name] = (values, coders[col.name].labels())
        else:
            table.numbers[col.name] = values
    return table


def _take(
    frame: pd.DataFrame,
    path: Path,
    spec: TableSpec,
    parts: dict[str, list[np.ndarray]],
    coders: dict[str, _LabelCoder],
) -> None:
    """Check one chunk and append its columns to ``parts``."""
    if frame.shape[1] != spec.n_fields:
        raise _fail(path, spec, f"{frame.shape[1]} fields")
    for col in spec.columns:
        series = frame[col.position]
        if col.kind == "label":
            codes = coders[col.name].encode(series)
            if codes is None:
                raise _fail(path, spec, f"bad {col.name}")
            parts[col.name].append(codes)
        else:
            values = series.to_numpy()
            if col.kind == "float" and not np.isfinite(values).all():
                raise _fail(path, spec, f"non-finite {col.name}")
            parts[col.name].append(values)
