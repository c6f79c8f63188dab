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

from lamina.atomic import atomic_path
from lamina.data.assemble import LabelTable, RowAccumulator
from lamina.data.index import load_index, write_index_to
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
    samples = LabelTable(known, grow=True)
    n_known = len(known)
    acc = RowAccumulator(analog=kind == "analog")
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


def _feature_table(path: Path | str | None, mode: str, hash_bits: int | None) -> LabelTable:
    if hash_bits is not None:
        return LabelTable({}, grow=False, hash_bits=hash_bits)
    assert path is not None
    if mode == "create":
        return LabelTable({}, grow=True)
    if not Path(path).exists():
        raise DataError(
            f"{path}: cannot read feature index (no such file)",
            hint="use -c to create a new feature index",
        )
    return LabelTable(load_index(path), grow=mode == "merge")
