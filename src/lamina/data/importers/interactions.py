"""Interactions read from a table: parallel numpy arrays, grouped into one DSSTNE row per sample.

Memory is a few numpy arrays of length n (the number of interactions), never a Python object per
row: labels are stored once per distinct sample / feature and rows refer to them by integer code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lamina.data.importers.writer import write_dsstne_text
from lamina.errors import DataError

__all__ = ["DUPLICATE_POLICIES", "DuplicatePolicy", "ImportSummary", "Interactions"]

DuplicatePolicy = Literal["first", "last", "error"]
DUPLICATE_POLICIES: tuple[str, ...] = ("first", "last", "error")


def stable_argsort(keys: np.ndarray, bound: int) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for non-negative int64 ``keys < bound``, faster.

    Packs ``key * n + position`` into one int64 and sorts it with the (unstable, SIMD) default
    sort: all packed keys differ, so ties keep their positions. Falls back when it would overflow.
    """
    n = int(keys.size)
    if n == 0 or (bound + 1) * max(n, 1) >= 1 << 62:
        return np.argsort(keys, kind="stable")
    packed = keys.astype(np.int64) * n + np.arange(n, dtype=np.int64)
    packed.sort()
    return packed % n


@dataclass(frozen=True)
class ImportSummary:
    """What an importer wrote.

    Attributes:
        output: the DSSTNE text file written.
        format: the input format read (e.g. ``"u.data"``, ``"csv"``).
        samples: rows written (samples with at least one feature left).
        features: distinct features written.
        interactions: elements written.
        filtered: rows dropped by ``min_rating``.
        duplicates: repeated (sample, feature) rows dropped by the duplicate policy.
    """

    output: str
    format: str
    samples: int
    features: int
    interactions: int
    filtered: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class Interactions:
    """One entry per (sample, feature[, value]) record of a file.

    Attributes:
        samples: (n,) int64 codes into ``sample_labels``, in the order samples are written.
        features: (n,) int64 codes into ``feature_labels``.
        values: (n,) float64 or int64 value per record, or ``None``.
        sample_labels: (S,) str label of each sample code.
        feature_labels: (F,) str label of each feature code.
        records: (n,) int64 0-based index of each record among the file's records (messages).
        line_of: maps a record index to its 1-based line in the file (slow; error messages only).
        source: the file, for messages.
    """

    samples: np.ndarray
    features: np.ndarray
    values: np.ndarray | None
    sample_labels: np.ndarray
    feature_labels: np.ndarray
    records: np.ndarray
    line_of: Callable[[int], int]
    source: str

    def __len__(self) -> int:
        return int(self.samples.size)

    def select(self, mask: np.ndarray, *, values: np.ndarray | bool | None = True) -> Interactions:
        """The records where ``mask`` is true; ``values=False`` drops values, an array sets them."""
        if values is True:
            new_values = None if self.values is None else self.values[mask]
        elif values is False or values is None:
            new_values = None
        else:
            new_values = np.asarray(values)[mask]
        return Interactions(
            self.samples[mask],
            self.features[mask],
            new_values,
            self.sample_labels,
            self.feature_labels,
            self.records[mask],
            self.line_of,
            self.source,
        )

    def deduplicate(self, policy: DuplicatePolicy) -> tuple[Interactions, int]:
        """Drop repeated (sample, feature) records.

        Args:
            policy: ``"first"`` keeps the first occurrence in file order, ``"last"`` the last one,
                ``"error"`` raises on the second occurrence.

        Returns:
            The remaining records (file order kept) and how many were dropped.

        Raises:
            DataError: ``FILE:LINE`` of the repeated record, with ``policy="error"``.
        """
        n_features = max(int(self.feature_labels.size), 1)
        key = self.samples * n_features + self.features
        order = stable_argsort(key, int(self.sample_labels.size) * n_features)
        sorted_key = key[order]
        repeat = np.zeros(key.size, dtype=bool)
        if policy == "last":
            repeat[order[:-1]] = sorted_key[:-1] == sorted_key[1:]
        else:
            repeat[order[1:]] = sorted_key[1:] == sorted_key[:-1]
        n_repeat = int(repeat.sum())
        if n_repeat and policy == "error":
            pos = int(np.flatnonzero(sorted_key[1:] == sorted_key[:-1])[0])
            first, again = int(order[pos]), int(order[pos + 1])
            sample = str(self.sample_labels[self.samples[again]])
            feature = str(self.feature_labels[self.features[again]])
            raise DataError(
                f"{self.source}:{self.line_of(int(self.records[again]))}: expected each (sample, "
                f"feature) pair once, found sample {sample!r} with feature {feature!r} again "
                f"(first at line {self.line_of(int(self.records[first]))})",
                hint="pass --duplicates first or --duplicates last to keep one of them",
            )
        return (self.select(~repeat) if n_repeat else self), n_repeat

    def write(self, output: str | os.PathLike[str], *, format: str, **counts: int) -> ImportSummary:
        """Group records by sample (samples in code order, features in file order) and write text.

        Args:
            output: the DSSTNE text file to write (atomically).
            format: the input format's name, for the summary.
            counts: extra ``ImportSummary`` fields (``filtered``, ``duplicates``).
        """
        order = stable_argsort(self.samples, int(self.sample_labels.size))  # keeps file order
        n_samples = int(self.sample_labels.size)
        indptr = np.zeros(n_samples + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.samples, minlength=n_samples), out=indptr[1:])
        codes = self.features[order]
        rows, nnz = write_dsstne_text(
            output,
            sample_labels=self.sample_labels,
            indptr=indptr,
            feature_labels=self.feature_labels,
            feature_codes=codes,
            values=None if self.values is None else self.values[order],
        )
        return ImportSummary(
            output=str(output),
            format=format,
            samples=rows,
            features=int(np.count_nonzero(np.bincount(codes, minlength=1))),
            interactions=nnz,
            **counts,
        )
