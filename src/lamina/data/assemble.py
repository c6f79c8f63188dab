"""Assembling rows for ``generate_netcdf``: label tables that grow in first-appearance order, and
the accumulation of parsed chunks into CSR arrays ordered by sample index, with the
duplicate-sample policies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.data.labels import hash_labels
from lamina.data.text_chunk import Chunk
from lamina.errors import DataError

__all__ = ["CSR", "LabelTable", "RowAccumulator"]


class LabelTable:
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


@dataclass(frozen=True)
class CSR:
    start: np.ndarray
    end: np.ndarray
    index: np.ndarray
    values: np.ndarray | None
    present: int
    duplicates: int


class RowAccumulator:
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

    def add(self, number: int, chunk: Chunk, sample_ids: np.ndarray, table: LabelTable) -> None:
        """Append a parsed chunk: ``sample_ids`` maps its sample codes to sample indices."""
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

    def finish(self, files: list[Path], duplicates: str, sample_index: dict[str, int]) -> CSR:
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
        return CSR(
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
