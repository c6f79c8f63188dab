"""``generate-netcdf``: DSSTNE text data -> a netCDF-4 dataset file plus feature and sample indices.

Semantics (spec sections 3.2 and 3.6), with Lamina's deliberate differences marked *Lamina*:

* ``mode="create"`` (``-c``) builds a new feature index; ``"merge"`` (``-m``) loads the existing
  one and appends unseen features; ``"existing"`` (neither) drops features missing from the index
  and *counts* them (*Lamina*: DSSTNE dropped them silently). ``hash_bits=B`` replaces the feature
  index by a stable 64-bit hash of the label modulo ``2**B``.
* The sample index is loaded when the file exists (new samples are appended) so that input and
  output files built with the same ``-s`` file line up. Rows are ordered by sample index, and
  *Lamina* writes an empty row for every indexed sample absent from this input (DSSTNE compacted
  the rows, silently misaligning the two files); ``GenerateSummary.samples_absent`` counts them.
* ``width`` = features in the index (or ``2**B``) rounded up to a multiple of 128.
* A sample on two lines: ``duplicates="reject"`` (default, *Lamina*) is an error naming both lines;
  ``"merge"`` keeps the first line's features and appends those of later lines not already present;
  ``"last"`` keeps the last line (DSSTNE's behaviour).
* Nothing is written unless everything succeeds: the dataset file and the index files are written
  to temporary files and renamed at the end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lamina.atomic import atomic_path
from lamina.data.index import load_index, write_index_to
from lamina.data.labels import hash_labels
from lamina.data.nc_write import DatasetArrays, write_netcdf_to
from lamina.data.schema import DatasetAttributes, DataType, round_up_width
from lamina.data.textformat import DEFAULT_CHUNK_BYTES, read_chunks
from lamina.errors import DataError, UsageError

__all__ = ["GenerateSummary", "generate_netcdf", "input_files"]

Mode = Literal["create", "merge", "existing"]
Kind = Literal["indicator", "analog"]
Duplicates = Literal["reject", "merge", "last"]
MAX_HASH_BITS = 30  # 2**30 columns is already far beyond a trainable layer width


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate_netcdf`` did.

    Attributes:
        output: the dataset file written.
        dataset_name: ``name0``.
        kind: ``"indicator"`` or ``"analog"``.
        samples: examples (rows) in the file = largest sample index + 1.
        samples_in_input: distinct samples found in the input.
        samples_absent: rows without a sample of this input (indexed samples absent from it, and
            gaps in a loaded sample index), written as empty rows.
        new_samples: samples added to the sample index.
        features: size of the feature index (``2**B`` when hashing).
        new_features: features added to the feature index.
        non_zeros: stored (sample, feature) entries.
        dropped_unknown: feature occurrences dropped because the index lacks them.
        dropped_unknown_labels: distinct labels among those.
        duplicate_samples: samples that appeared on more than one line.
        bad_lines: lines skipped with ``skip_bad_lines``.
        bad_line_examples: the first few of those, as ``FILE:LINE: message``.
        width: ``width0``, features rounded up to a multiple of 128.
        seconds: wall-clock time.
        lines: input lines with a sample.
        bytes_read: input bytes.
    """

    output: Path
    dataset_name: str
    kind: str
    samples: int
    samples_in_input: int
    samples_absent: int
    new_samples: int
    features: int
    new_features: int
    non_zeros: int
    dropped_unknown: int
    dropped_unknown_labels: int
    duplicate_samples: int
    bad_lines: int
    bad_line_examples: tuple[str, ...]
    width: int
    seconds: float
    lines: int
    bytes_read: int

    def describe(self) -> str:
        """One paragraph for people (the CLI prints it)."""
        rate = self.non_zeros / self.seconds if self.seconds > 0 else float("inf")
        text = (
            f"Wrote {self.output} (dataset {self.dataset_name!r}, {self.kind}): "
            f"{self.samples:,} samples x width {self.width:,} ({self.features:,} features, "
            f"{self.new_features:,} new), {self.non_zeros:,} non-zeros, from {self.lines:,} lines "
            f"in {self.seconds:.2f} s ({rate:,.0f} non-zeros/s)."
        )
        notes = []
        if self.new_samples:
            notes.append(f"{self.new_samples:,} new samples indexed")
        if self.samples_absent:
            notes.append(
                f"{self.samples_absent:,} indexed samples absent from the input were written "
                "as empty rows (keeps files built with the same sample index aligned)"
            )
        if self.dropped_unknown:
            notes.append(
                f"{self.dropped_unknown:,} occurrences of {self.dropped_unknown_labels:,} features "
                "missing from the feature index were dropped (use -m to add them)"
            )
        if self.duplicate_samples:
            notes.append(f"{self.duplicate_samples:,} samples appeared on more than one line")
        if self.bad_lines:
            notes.append(f"{self.bad_lines:,} bad lines skipped, e.g. {self.bad_line_examples[0]}")
        return text + (" " + "; ".join(notes) + "." if notes else "")


def input_files(inputs: Path | str | Sequence[Path | str]) -> list[Path]:
    """Expand inputs: a directory means its regular files, non-recursive, sorted by name.

    Raises:
        DataError: an input does not exist, or a directory holds no files.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted((p for p in item.iterdir() if p.is_file()), key=lambda p: p.name)
            if not found:
                raise DataError(f"{item}: expected text files in this directory, found none")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"{item}: cannot read input (no such file or directory)")
    if not files:
        raise DataError("expected at least one input file, found none")
    return files


class _LabelTable:
    """label -> index, growing in order of first appearance (or fixed, or hashed)."""

    def __init__(self, mapping: dict[str, int], *, grow: bool, hash_bits: int | None = None):
        self.mapping = mapping
        self.grow = grow
        self.hash_bits = hash_bits
        self.next = max(mapping.values(), default=-1) + 1
        self.added = 0
        self.unknown: set[str] = set()

    def lookup(self, labels: list[str]) -> np.ndarray:
        """(len(labels),) int64 indices; -1 for labels unknown to a fixed table."""
        if self.hash_bits is not None:
            return hash_labels(labels, self.hash_bits)
        found: list[int | None] = list(map(self.mapping.get, labels))
        if None in found:
            for i, label in enumerate(labels):
                if found[i] is not None:
                    continue
                if self.grow:
                    found[i] = self.mapping[label] = self.next
                    self.next += 1
                    self.added += 1
                else:
                    self.unknown.add(label)
                    found[i] = -1
        return np.array(found, dtype=np.int64)


def generate_netcdf(
    inputs: Path | str | Sequence[Path | str],
    output: Path | str,
    *,
    dataset_name: str,
    feature_index: Path | str | None,
    sample_index: Path | str | None,
    mode: Mode = "existing",
    kind: Kind = "indicator",
    hash_bits: int | None = None,
    skip_bad_lines: bool = False,
    duplicates: Duplicates = "reject",
    progress: Callable[[int], None] | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> GenerateSummary:
    """Convert DSSTNE text data into a one-dataset netCDF-4 file (DSSTNE's ``generateNetCDF``).

    Args:
        inputs: a text file, a directory (its files, sorted by name) or a list of them.
        output: the ``.nc`` file to write.
        dataset_name: ``name0``; the ``DataSet`` of the layer that reads it.
        feature_index: feature index file (read for "merge"/"existing", written for "create"/
            "merge"); must be None with ``hash_bits``.
        sample_index: sample index file, loaded if it exists and written when samples were added;
            None numbers samples in order of appearance and writes no index.
        mode: "create" (``-c``), "merge" (``-m``) or "existing".
        kind: "indicator" (values ignored, Boolean data) or "analog" (float values).
        hash_bits: hash feature labels into ``2**hash_bits`` columns instead of indexing them.
        skip_bad_lines: skip and count malformed lines instead of failing on the first.
        duplicates: what to do with a sample on several lines: "reject", "merge" or "last".
        progress: called with the number of bytes read after each chunk.
        chunk_bytes: bytes of text parsed at a time.

    Returns:
        A ``GenerateSummary``.

    Raises:
        UsageError: options that do not go together.
        DataError: malformed input (``FILE:LINE: expected ..., found ...``), unreadable files,
            a bad index file, or no samples at all.

    Example:
        >>> s = generate_netcdf("ratings.txt", "gl_input.nc", dataset_name="gl_input",
        ...     feature_index=Path("features_input"), sample_index=Path("samples_input"),
        ...     mode="create")  # doctest: +SKIP
        >>> s.width, s.non_zeros  # doctest: +SKIP
        (26752, 20000263)
    """
    started = time.perf_counter()
    _check_options(mode, kind, hash_bits, feature_index, duplicates)
    files = input_files(inputs)
    features = _feature_table(feature_index, mode, hash_bits)
    sample_path = Path(sample_index) if sample_index is not None else None
    known = load_index(sample_path) if sample_path is not None and sample_path.exists() else {}
    samples = _LabelTable(known, grow=True)
    n_known = len(known)
    acc = _Accumulator(analog=kind == "analog")
    for number, path in enumerate(files):
        for chunk in read_chunks(
            path, analog=kind == "analog", skip_bad_lines=skip_bad_lines, chunk_bytes=chunk_bytes
        ):
            acc.add(number, chunk, samples.lookup(chunk.sample_labels), features)
            if progress is not None:
                progress(chunk.n_bytes)
    if not acc.rows:
        skipped = f" ({acc.bad_lines} bad lines skipped)" if acc.bad_lines else ""
        where = files[0] if len(files) == 1 else f"{len(files)} input files"
        raise DataError(
            f"{where}: expected at least one 'sample<TAB>features' line, found none{skipped}"
        )
    csr = acc.finish(files, duplicates, samples.mapping)
    if hash_bits is not None:
        n_features = 1 << hash_bits
    else:
        n_features = max(len(features.mapping), max(features.mapping.values(), default=-1) + 1)
    width = round_up_width(n_features)
    analog = kind == "analog"
    dataset = DatasetArrays(
        name=dataset_name,
        attributes=DatasetAttributes.SPARSE
        if analog
        else DatasetAttributes.SPARSE | DatasetAttributes.BOOLEAN,
        data_type=DataType.FLOAT if analog else DataType.UINT,
        width=width,
        sparse_start=csr.start,
        sparse_end=csr.end,
        sparse_index=csr.index,
        sparse_data=csr.values if analog else None,
    )
    write_features = hash_bits is None and (mode == "create" or features.added > 0)
    write_samples = sample_path is not None and (samples.added > 0 or not sample_path.exists())
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(output, suffix=".nc"))
        write_netcdf_to(tmp, [dataset])
        if write_features:
            assert feature_index is not None
            write_index_to(stack.enter_context(atomic_path(feature_index)), features.mapping)
        if write_samples:
            assert sample_path is not None
            write_index_to(stack.enter_context(atomic_path(sample_path)), samples.mapping)
    return GenerateSummary(
        output=Path(output),
        dataset_name=dataset_name,
        kind=kind,
        samples=samples.next,
        samples_in_input=csr.present,
        samples_absent=samples.next - csr.present,
        new_samples=len(samples.mapping) - n_known,
        features=n_features,
        new_features=features.added,
        non_zeros=int(csr.index.size),
        dropped_unknown=acc.dropped,
        dropped_unknown_labels=len(features.unknown),
        duplicate_samples=csr.duplicates,
        bad_lines=acc.bad_lines,
        bad_line_examples=tuple(acc.bad_examples),
        width=width,
        seconds=time.perf_counter() - started,
        lines=acc.rows,
        bytes_read=acc.bytes_read,
    )


def _check_options(
    mode: str, kind: str, hash_bits: int | None, feature_index: object, duplicates: str
) -> None:
    for name, value, allowed in (
        ("mode", mode, ("create", "merge", "existing")),
        ("kind", kind, ("indicator", "analog")),
        ("duplicates", duplicates, ("reject", "merge", "last")),
    ):
        if value not in allowed:
            raise UsageError(f"{name} must be one of {list(allowed)}, found {value!r}")
    if hash_bits is not None:
        if not 1 <= hash_bits <= MAX_HASH_BITS:
            raise UsageError(f"--hash-bits must be in 1..{MAX_HASH_BITS}, found {hash_bits}")
        if feature_index is not None or mode != "existing":
            raise UsageError(
                "--hash-bits replaces the feature index: expected no -f, -c or -m with it"
            )
    elif feature_index is None:
        raise UsageError("expected a feature index file (-f) or --hash-bits, found neither")


def _feature_table(path: Path | str | None, mode: str, hash_bits: int | None) -> _LabelTable:
    if hash_bits is not None:
        return _LabelTable({}, grow=False, hash_bits=hash_bits)
    assert path is not None
    if mode == "create":
        return _LabelTable({}, grow=True)
    if not Path(path).exists():
        raise DataError(
            f"{path}: cannot read feature index (no such file)",
            hint="use -c to create a new feature index",
        )
    return _LabelTable(load_index(path), grow=mode == "merge")


@dataclass(frozen=True)
class _CSR:
    start: np.ndarray
    end: np.ndarray
    index: np.ndarray
    values: np.ndarray | None
    present: int
    duplicates: int


class _Accumulator:
    """Rows in input order, as compact numpy arrays per chunk."""

    def __init__(self, *, analog: bool) -> None:
        self.analog = analog
        self.sample: list[np.ndarray] = []
        self.length: list[np.ndarray] = []
        self.line: list[np.ndarray] = []
        self.file: list[np.ndarray] = []
        self.index: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.rows = 0
        self.dropped = 0
        self.bad_lines = 0
        self.bad_examples: list[str] = []
        self.bytes_read = 0

    def add(self, number: int, chunk: object, sample_ids: np.ndarray, table: _LabelTable) -> None:
        from lamina.data.textformat import Chunk

        assert isinstance(chunk, Chunk)
        self.bytes_read += chunk.n_bytes
        self.bad_lines += chunk.n_bad
        for err in chunk.errors[: max(0, 5 - len(self.bad_examples))]:
            self.bad_examples.append(f"{chunk.path}:{err.line}: {err.message}")
        ids = table.lookup(chunk.feature_labels)[chunk.feature_codes]
        lengths = chunk.row_lengths
        values = chunk.values
        known = ids >= 0
        if not known.all():
            self.dropped += int((~known).sum())
            row_of = np.repeat(np.arange(lengths.size), lengths)
            lengths = np.bincount(row_of[known], minlength=lengths.size)
            ids = ids[known]
            values = None if values is None else values[known]
        self.sample.append(sample_ids[chunk.sample_codes])
        self.length.append(lengths.astype(np.int64))
        self.line.append(chunk.line_numbers)
        self.file.append(np.full(lengths.size, number, dtype=np.int32))
        self.index.append(ids.astype(np.uint32))
        if values is not None:
            self.values.append(values.astype(np.float32, copy=False))
        self.rows += int(lengths.size)

    def finish(self, files: list[Path], duplicates: str, sample_index: dict[str, int]) -> _CSR:
        n_samples = max(sample_index.values(), default=-1) + 1  # an index may have gaps
        sample = np.concatenate(self.sample)
        length = np.concatenate(self.length)
        index = np.concatenate(self.index)
        self.index.clear()
        values = np.concatenate(self.values) if self.analog else None
        self.values.clear()
        counts = np.bincount(sample, minlength=n_samples)
        n_dup = int((counts > 1).sum())
        if n_dup:
            sample, length, index, values = self._duplicates(
                files, duplicates, sample, length, index, values, counts, sample_index
            )
        first = np.zeros(length.size + 1, dtype=np.int64)
        np.cumsum(length, out=first[1:])
        if sample.size > 1 and not np.all(sample[1:] > sample[:-1]):
            order = np.argsort(sample, kind="stable")
            lens = length[order]
            new_first = np.zeros(lens.size, dtype=np.int64)
            np.cumsum(lens[:-1], out=new_first[1:])
            take = np.repeat(first[:-1][order] - new_first, lens) + np.arange(int(lens.sum()))
            index = index[take]
            values = None if values is None else values[take]
        per_sample = np.bincount(sample, weights=length, minlength=n_samples).astype(np.int64)
        offsets = np.zeros(n_samples + 1, dtype=np.int64)
        np.cumsum(per_sample, out=offsets[1:])
        offset_type = np.uint32 if index.size < 2**32 else np.uint64
        return _CSR(
            start=offsets[:-1].astype(offset_type),
            end=offsets[1:].astype(offset_type),
            index=index,
            values=values,
            present=int((counts > 0).sum()),
            duplicates=n_dup,
        )

    def _duplicates(
        self,
        files: list[Path],
        policy: str,
        sample: np.ndarray,
        length: np.ndarray,
        index: np.ndarray,
        values: np.ndarray | None,
        counts: np.ndarray,
        sample_index: dict[str, int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        line = np.concatenate(self.line)
        file = np.concatenate(self.file)
        dup_rows = np.flatnonzero(counts[sample] > 1)  # rows of duplicated samples, input order
        if policy == "reject":
            seen: dict[int, int] = {}
            for r in dup_rows.tolist():
                s = int(sample[r])
                if s in seen:
                    f = seen[s]
                    label = next(k for k, v in sample_index.items() if v == s)
                    raise DataError(
                        f"{files[file[r]]}:{line[r]}: expected each sample on one line, found "
                        f"sample {label!r} again (first on {files[file[f]]}:{line[f]})",
                        hint="use --duplicates merge (union of features) or last (DSSTNE's choice)",
                    )
                seen[s] = r
        first = np.zeros(length.size + 1, dtype=np.int64)
        np.cumsum(length, out=first[1:])
        keep_elem = np.ones(index.size, dtype=bool)
        keep_row = np.ones(length.size, dtype=bool)
        if policy == "last":
            last: dict[int, int] = {}
            for r in dup_rows.tolist():
                last[int(sample[r])] = r
            for r in dup_rows.tolist():
                if last[int(sample[r])] != r:
                    keep_row[r] = False
                    keep_elem[first[r] : first[r + 1]] = False
        else:  # merge: later lines add the features not already present
            have: dict[int, set[int]] = {}
            for r in dup_rows.tolist():
                got = have.setdefault(int(sample[r]), set())
                fresh = not got
                for j in range(int(first[r]), int(first[r + 1])):
                    f = int(index[j])
                    if f in got and not fresh:
                        keep_elem[j] = False
                    got.add(f)
        row_of = np.repeat(np.arange(length.size), length)
        length = np.bincount(row_of[keep_elem], minlength=length.size)[keep_row]
        return (
            sample[keep_row],
            length,
            index[keep_elem],
            None if values is None else values[keep_elem],
        )
