"""DSSTNE's per-sample recommendation filters (``predict -f``).

A filter file has DSSTNE's data-line format, ``sample<TAB>feature[,value]:feature[,value]:...``;
the path may be a file or a directory (all its regular files, sorted by name, not recursive).
Samples are looked up in the prediction's sample set, features in the OUTPUT feature index.

Semantics, per listed feature of a sample (``Filters.cpp`` ``loadSingleFilter``):

* no value, or a value ``> 10``: the feature is REMOVED from that sample's recommendations. This
  is DSSTNE's original behaviour ("value > 10 => 0": the MovieLens filter lists already-seen
  movies with their timestamps); its 2018 change (commit ac38d1b) multiplied by the timestamp
  instead, which pushed seen movies to the top (spec section 4.2). Lamina removes rather than
  multiplying by 0, so a removed feature never appears, even when all other scores are <= 0.
* a value ``<= 10`` (0 and negatives included): the score is MULTIPLIED by it.
* features absent from the output index and lines of samples absent from the sample set are
  ignored (counted in ``FilterStats``), as in DSSTNE.
* a feature listed twice on a line: the later entry counts; a sample on two lines (in one file
  or across files): the later line replaces the earlier one (DSSTNE's ``reset``).

Lamina is stricter than DSSTNE on malformed lines: a non-empty line without a TAB, an empty
sample label, an empty feature label before a value, or a value that is not a number (DSSTNE's
``atof`` read ``"abc"`` as 0 and ignored extra ``,x`` fields) raises ``DataError``
``FILE:LINE: expected ..., found ...``. Lines of samples that are not predicted are skipped
without being parsed (as DSSTNE does), so a large filter costs little for a small prediction set.
"""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.errors import DataError
from lamina.predict.recs import Csr

__all__ = ["REMOVE", "REMOVE_ABOVE", "FilterStats", "SampleFilters", "load_filters"]

REMOVE = float("-inf")  # multiplier meaning "remove this feature" (top_k drops -inf multipliers)
REMOVE_ABOVE = 10.0  # DSSTNE's original cut: values above it are dates, not multipliers


@dataclass(frozen=True)
class FilterStats:
    """What loading found (all counts).

    Attributes:
        files: filter files read.
        lines: non-empty lines read.
        samples: distinct samples that got a filter.
        unknown_sample_lines: lines whose sample is not in the sample set (ignored).
        replaced_lines: lines replaced by a later line of the same sample.
        unknown_features: feature entries not in the output index (ignored).
        removed: entries that remove a feature (kept lines only).
        multiplied: entries that multiply a score (kept lines only).
    """

    files: int
    lines: int
    samples: int
    unknown_sample_lines: int
    replaced_lines: int
    unknown_features: int
    removed: int
    multiplied: int


@dataclass(frozen=True)
class SampleFilters:
    """Per-sample filters in CSR form: one row per sample of the sample set.

    Attributes:
        csr: rows = sample rows, indices = output columns, values = multiplier or ``REMOVE``
            (``-inf``); no column repeats within a row.
        stats: counts from loading.
    """

    csr: Csr
    stats: FilterStats

    def rows(self, sample_rows: np.ndarray | Sequence[int] | slice) -> Csr:
        """The filters of a batch of samples, ready for ``top_k(..., multiply=...)``."""
        return self.csr.select(sample_rows)


def load_filters(
    path: str | os.PathLike[str],
    *,
    samples: Mapping[str, int] | Sequence[str],
    features: Mapping[str, int],
) -> SampleFilters:
    """Load a DSSTNE filter file or directory of filter files.

    Args:
        path: a filter file, or a directory whose regular files are all filter files.
        samples: the prediction's samples: label -> row, or labels in row order.
        features: the OUTPUT feature index, label -> column.

    Returns:
        ``SampleFilters`` with one row per sample row (``max row + 1`` rows).

    Raises:
        DataError: missing path, empty directory, unreadable or non-UTF-8 file, malformed line.

    Example:
        >>> f = load_filters("ml-20m_ratings", samples=rows, features=out_index)  # doctest: +SKIP
        >>> top_k(scores, 10, multiply=f.rows(np.arange(0, 1024)))  # doctest: +SKIP
    """
    if not isinstance(samples, Mapping):
        samples = {label: row for row, label in enumerate(samples)}
    n_rows = max(samples.values(), default=-1) + 1
    files = _filter_files(Path(path))
    acc = _Accumulator()
    for file in files:
        _read_file(file, samples, features, acc)
    return acc.finish(n_rows, len(files))


def _filter_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        if not files:
            raise DataError(f"{path}: expected filter files in this directory, found none")
        return files
    if path.is_file():
        return [path]
    raise DataError(f"{path}: expected a filter file or a directory of filter files, found nothing")


class _Accumulator:
    """Compact buffers of every kept line: its sample row and its (column, multiplier) entries."""

    def __init__(self) -> None:
        self.line_row = array("q")  # sample row of each accepted line
        self.line_end = array("q")  # end offset of each line's entries
        self.cols = array("q")
        self.mults = array("f")
        self.lines = self.unknown_samples = self.unknown_features = 0

    def finish(self, n_rows: int, n_files: int) -> SampleFilters:
        line_row = np.frombuffer(self.line_row, dtype=np.int64)
        ends = np.frombuffer(self.line_end, dtype=np.int64)
        lines = Csr(
            np.concatenate([[0], ends]).astype(np.int64),
            np.frombuffer(self.cols, dtype=np.int64),
            np.frombuffer(self.mults, dtype=np.float32),
        )
        # The last line of each sample wins; keep = those lines, in sample-row order.
        rows, first_from_end = np.unique(line_row[::-1], return_index=True)
        keep = line_row.size - 1 - first_from_end
        kept = lines.select(keep)
        counts = np.zeros(n_rows, dtype=np.int64)
        counts[rows] = np.diff(kept.indptr)
        csr = Csr(np.concatenate([[0], np.cumsum(counts)]), kept.indices, kept.values)
        removed = int(np.isneginf(kept.values).sum()) if kept.values is not None else 0
        stats = FilterStats(
            files=n_files,
            lines=self.lines,
            samples=int(keep.size),
            unknown_sample_lines=self.unknown_samples,
            replaced_lines=int(line_row.size - keep.size),
            unknown_features=self.unknown_features,
            removed=removed,
            multiplied=csr.nnz - removed,
        )
        return SampleFilters(csr, stats)


def _read_file(
    file: Path, samples: Mapping[str, int], features: Mapping[str, int], acc: _Accumulator
) -> None:
    try:
        handle = open(file, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise DataError(f"{file}: cannot read filter file ({exc.strerror or exc})") from None
    get_sample, get_feature = samples.get, features.get
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{file}:{lineno}: expected UTF-8 text, found byte 0x{raw[exc.start]:02x}"
                ) from None
            if not line.strip():
                continue
            acc.lines += 1
            sample, tab, data = line.partition("\t")
            if not tab or not sample:
                what = "no TAB" if not tab else "an empty sample label"
                raise DataError(
                    f"{file}:{lineno}: expected 'sample<TAB>feature[,value]:...', "
                    f"found {what} in {_short(line)!r}"
                )
            row = get_sample(sample)
            if row is None:  # not predicted: skipped unparsed, as DSSTNE does
                acc.unknown_samples += 1
                continue
            entries = _parse_entries(data, get_feature, file, lineno, acc)
            acc.cols.extend(entries.keys())
            acc.mults.extend(entries.values())
            acc.line_row.append(row)
            acc.line_end.append(len(acc.cols))


def _parse_entries(
    data: str,
    get_feature: Callable[[str], int | None],
    file: Path,
    lineno: int,
    acc: _Accumulator,
) -> dict[int, float]:
    """column -> multiplier (``REMOVE`` for removal) of one line's ``feature[,value]`` items."""
    out: dict[int, float] = {}
    for item in data.split(":"):
        if not item:
            continue  # DSSTNE skips empty elements (e.g. a trailing ':')
        label, comma, text = item.partition(",")
        mult = REMOVE
        if comma:
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not label or math.isnan(value):
                raise DataError(
                    f"{file}:{lineno}: expected 'feature' or 'feature,number', "
                    f"found {_short(item)!r}"
                )
            if value <= REMOVE_ABOVE:
                mult = value
        col = get_feature(label)
        if col is None:
            acc.unknown_features += 1
        else:
            out[col] = mult
    return out


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
