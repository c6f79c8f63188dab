"""LibSVM / SVMlight files -> DSSTNE text: one input file (features) and one target file (labels).

A line is ``label[,label...] index:value index:value ... [# comment]``. Record ``r`` (0-based,
blank and comment-only lines not counted) becomes sample ``<prefix>r`` in both outputs:

* features: ``r<TAB>index,value:index,value...`` (feature labels are the indices as written,
  normalized to integers; values as integers when all are integral, else shortest float repr);
* targets: ``r<TAB>label[:label...]`` (a one-hot / multi-hot target for an indicator output
  dataset; numeric labels normalized, so ``+1`` and ``1.0`` are both ``1``).

Every record is written to both files, even one without features (``r<TAB>``), so that two
netCDF files generated with one sample index list the same samples.

``.gz`` and ``.bz2`` inputs are decompressed on the fly.
"""

from __future__ import annotations

import bz2
import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.data.importers.interactions import ImportSummary
from lamina.data.importers.writer import write_dsstne_text
from lamina.errors import DataError

__all__ = ["import_libsvm"]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix, open)
    try:
        with opener(path, "rb") as handle:  # type: ignore[operator]
            for lineno, raw in enumerate(handle, 1):
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"{path}:{lineno}: expected UTF-8 text, found byte {raw[exc.start]:#x}"
                    ) from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _label(text: str) -> str:
    """``+1`` / ``1.0`` -> ``1``; other text is kept as is."""
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def import_libsvm(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    targets: str | os.PathLike[str] | None = None,
    values: bool = True,
    sample_prefix: str = "",
) -> ImportSummary:
    """Convert a LibSVM file to DSSTNE text (features) and optionally a target text file (labels).

    Args:
        path: the LibSVM file (``.gz`` / ``.bz2`` allowed).
        output: DSSTNE text of the features (written atomically, as is ``targets``).
        targets: where to write each sample's label(s), or ``None`` to drop them.
        values: write ``index,value`` (for an analog input dataset); ``False`` writes bare indices.
        sample_prefix: prepended to the record number to make sample labels (e.g. ``"test"``).

    Returns:
        What was written to ``output``.

    Raises:
        DataError: ``FILE:LINE: expected ..., found ...`` for a malformed token.

    Example:
        >>> import_libsvm("adult.trn.bz2", "adult.txt", targets="labels.txt")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expected an existing file, found none")
    counts: list[int] = []
    record_lines: list[int] = []
    labels: list[str] = []
    index_tokens: list[str] = []
    value_tokens: list[str] = []
    for lineno, line in _lines(path):
        tokens = line.partition("#")[0].split()
        if not tokens:
            continue
        head, pairs = tokens[0], tokens[1:]
        if ":" in head:
            raise DataError(
                f"{path}:{lineno}: expected a label first ('label index:value ...'), found {head!r}"
            )
        labels.append(":".join(_label(t) for t in head.split(",") if t))
        for token in pairs:
            index, colon, value = token.partition(":")
            if not colon or not index.isdigit():
                raise DataError(
                    f"{path}:{lineno}: expected 'index:value' with a non-negative integer index, "
                    f"found {token!r}"
                )
            index_tokens.append(index)
            value_tokens.append(value)
        counts.append(len(pairs))
        record_lines.append(lineno)
    if not counts:
        raise DataError(f"{path}: expected at least one 'label index:value ...' line, found none")
    indices = np.array(index_tokens, dtype=np.int64) if index_tokens else np.zeros(0, np.int64)
    try:
        numbers = np.array(value_tokens, dtype=np.float64) if values else None
    except ValueError:
        k = next(i for i, v in enumerate(value_tokens) if not _is_number(v))
        raise _bad_value(
            path, counts, record_lines, k, f"{index_tokens[k]}:{value_tokens[k]}"
        ) from None
    if numbers is not None and not np.isfinite(numbers).all():
        k = int(np.flatnonzero(~np.isfinite(numbers))[0])
        raise _bad_value(path, counts, record_lines, k, f"{index_tokens[k]}:{value_tokens[k]}")
    codes, uniques = pd.factorize(indices, sort=True)
    n = len(counts)
    sample_labels = [f"{sample_prefix}{r}" for r in range(n)]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    rows, nnz = write_dsstne_text(
        output,
        sample_labels=sample_labels,
        indptr=indptr,
        feature_labels=np.asarray(uniques).astype(str),
        feature_codes=codes.astype(np.int64),
        values=numbers,
        keep_empty=True,  # every record, so features and targets list the same samples
    )
    if targets is not None:
        from lamina.atomic import atomic_path

        with atomic_path(targets) as tmp:
            tmp.write_text(
                "".join(f"{s}\t{t}\n" for s, t in zip(sample_labels, labels, strict=True)),
                encoding="utf-8",
            )
    return ImportSummary(
        output=str(output),
        format="libsvm",
        samples=rows,
        features=int(uniques.size),
        interactions=nnz,
    )


def _bad_value(
    path: Path, counts: list[int], record_lines: list[int], k: int, token: str
) -> DataError:
    record = int(np.searchsorted(np.cumsum(counts), k, side="right"))
    return DataError(
        f"{path}:{record_lines[record]}: expected 'index:value' with a finite numeric value, "
        f"found {token!r}"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return bool(np.isfinite(float(text)))
