"""Any delimited table of (sample, feature[, value]) records -> DSSTNE text, one line per sample.

Samples are written in order of first appearance, a sample's features in file order. Labels are
kept as text (they must not contain TAB, ':' or ','); values are written as integers when every
value is integral, else as the shortest float repr.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lamina.data.importers.interactions import DuplicatePolicy, ImportSummary, Interactions
from lamina.data.importers.tabular import Column, TableSpec, read_table, record_line
from lamina.errors import DataError, UsageError, did_you_mean

__all__ = ["import_csv", "parse_delimiter"]

_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "space": " ", "comma": ",", "semicolon": ";"}


def parse_delimiter(text: str) -> str:
    """``','``, ``'tab'`` / ``'\\t'`` / a TAB, ``'space'``, ``'::'`` or any single character."""
    delimiter = _DELIMITER_NAMES.get(text.lower(), text)
    if len(delimiter) != 1 and delimiter != "::":
        raise UsageError(
            f"--delimiter must be one character, 'tab', 'space' or '::'. Got {text!r}."
        )
    return delimiter


def _header(path: Path, delimiter: str) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines: Iterable[list[str]]
        if delimiter == "::":
            lines = (line.rstrip("\r\n").split("::") for line in handle)
        else:
            lines = csv.reader(handle, delimiter=delimiter)
        for row in lines:
            if row and row != [""]:
                return row
    raise DataError(f"{path}: expected a table of samples and features, found an empty file")


def _resolve(option: str, spec: str | int, names: list[str], header: bool, path: Path) -> int:
    """A column given by header name or 0-based index -> its position."""
    text = str(spec)
    if header and text in names:
        return names.index(text)
    if header and text.lower() in (n.lower() for n in names):
        return [n.lower() for n in names].index(text.lower())
    if text.isdigit():
        if int(text) < len(names):
            return int(text)
        raise UsageError(
            f"{option} {text} is out of range: {path} has {len(names)} columns (0-based)"
        )
    if not header:
        raise UsageError(
            f"{option} must be a 0-based column number when the file has no header. Got {text!r}."
        )
    raise UsageError(
        f"{option} must be one of the columns of {path}: [{', '.join(names)}]. Got {text!r}."
        + did_you_mean(text, names)
    )


def import_csv(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    sample_col: str | int,
    feature_col: str | int,
    value_col: str | int | None = None,
    delimiter: str = ",",
    header: bool = True,
    duplicates: DuplicatePolicy = "first",
) -> ImportSummary:
    """Convert a delimited table with one (sample, feature[, value]) record per line to DSSTNE text.

    Args:
        path: the table; every line must have as many fields as the first.
        output: the DSSTNE text file to write (atomically: nothing is left on error).
        sample_col: the sample column, by header name or 0-based index.
        feature_col: the feature column, by header name or 0-based index.
        value_col: an optional numeric column written as ``feature,value``.
        delimiter: field separator (see ``parse_delimiter``).
        header: whether the first line names the columns.
        duplicates: what to do with a repeated (sample, feature) pair (``"first"``, ``"last"``,
            ``"error"``).

    Returns:
        What was written.

    Raises:
        UsageError: a column that does not exist or a bad delimiter.
        DataError: ``FILE:LINE: expected ..., found ...`` for the first bad line.

    Example:
        >>> import_csv("clicks.tsv", "clicks.txt", sample_col="session", feature_col="item",
        ...            delimiter="tab")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expected an existing file, found none")
    delimiter = parse_delimiter(delimiter)
    names = _header(path, delimiter)
    if not header:
        names = [str(i) for i in range(len(names))]
    columns = [
        Column(_resolve("--sample-col", sample_col, names, header, path), "sample label", "label"),
        Column(
            _resolve("--feature-col", feature_col, names, header, path), "feature label", "label"
        ),
    ]
    if value_col is not None:
        columns.append(
            Column(_resolve("--value-col", value_col, names, header, path), "value", "float")
        )
    if len({c.position for c in columns}) != len(columns):
        raise UsageError("--sample-col, --feature-col and --value-col must name different columns")
    layout = f"{len(names)} fields: " + ", ".join(
        f"{c.name} in field {c.position + 1}" for c in columns
    )
    spec = TableSpec(delimiter, header, len(names), tuple(columns), layout)
    table = read_table(path, spec)
    samples, sample_labels = table.labels["sample label"]
    features, feature_labels = table.labels["feature label"]

    def line_of(record: int) -> int:
        return record_line(path, spec, record)

    inter = Interactions(
        samples,
        features,
        table.numbers.get("value"),
        sample_labels,
        feature_labels,
        np.arange(table.n_records, dtype=np.int64),
        line_of,
        str(path),
    )
    inter, n_dup = inter.deduplicate(duplicates)
    return inter.write(output, format="csv", duplicates=n_dup)
