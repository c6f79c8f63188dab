"""Evaluation splits of a DSSTNE text file (``sample<TAB>feature[,value]:...``) into train and test.

Three protocols, all deterministic under ``seed`` and streaming line by line:

* **per-sample holdout** (default; the anchors' protocol): each sample's elements are split at
  random, ``k = holdout_count(n, holdout_fraction)`` of them to test, the rest to train.
* **held-out samples** (strong generalization): a random set of samples leaves train entirely.
  Without ``fold_in_fraction`` all of their elements go to test; with it, ``fold_in_fraction`` of
  each one's elements are the fold-in part (written to ``fold_in`` when given, else to train) and
  the rest go to test.
* **by time**: like the per-sample holdout, but the ``k`` elements with the largest values (the
  latest timestamps; ties broken by file order, later wins) go to test. Every element needs a value.

Rounding and edge cases: ``holdout_count(n, f) = floor(f * n + 0.5)`` clipped to ``[1, n - 1]``,
so every split sample keeps at least one training element and gives at least one test element.
Samples with fewer than ``max(min_items, 2)`` elements are not split: they go wholly to train (in
the held-out-samples protocol they are never held out). Elements keep their input order in every
output, samples keep the input order, and empty rows are not written. Hence every test sample
also appears in train (or, with ``fold_in``, in the fold-in file) under the same label, so one
sample index aligns them. Blank lines and empty elements are skipped as DSSTNE does; a line
without exactly one TAB after a non-empty label, an element with an empty feature or two commas,
or a sample label seen twice is an error (as in ``lamina.data.textformat``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from lamina.atomic import atomic_path
from lamina.errors import DataError, UsageError

__all__ = ["SplitSummary", "holdout_count", "split_text"]

_TWO_COMMAS = re.compile(r",[^:]*,")  # an element with more than one comma


@dataclass(frozen=True)
class SplitSummary:
    """Counts of what ``split_text`` wrote (samples = non-empty rows; elements = features)."""

    samples: int
    train_samples: int
    train_elements: int
    test_samples: int
    test_elements: int
    fold_in_samples: int = 0
    fold_in_elements: int = 0
    heldout_samples: int = 0
    unsplit_samples: int = 0  # samples too small to split (kept wholly in train)


def holdout_count(n: int, fraction: float) -> int:
    """How many of a sample's ``n >= 2`` elements go to test: ``floor(fraction * n + 0.5)``,
    clipped to ``[1, n - 1]``.

    Example:
        >>> [holdout_count(n, 0.2) for n in (2, 5, 7, 8, 10, 12)]
        [1, 1, 1, 2, 2, 2]
    """
    return min(max(math.floor(fraction * n + 0.5), 1), n - 1)


def _rows(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """Yield ``(line number, sample label, non-empty elements)`` of every non-blank line."""
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            label, tab, data = line.partition("\t")
            if not tab or not label or "\t" in data:
                found = "no TAB" if not tab else "an empty sample" if not label else "a second TAB"
                raise DataError(
                    f"{path}:{lineno}: expected 'sample<TAB>feature[,value]:...', found {found} "
                    f"in {line[:80]!r}"
                )
            if label in seen:
                raise DataError(
                    f"{path}:{lineno}: expected each sample once, found {label!r} again "
                    f"(first at line {seen[label]})"
                )
            seen[label] = lineno
            elements = [e for e in data.split(":") if e]
            if data.startswith(",") or ":," in data or _TWO_COMMAS.search(data):
                bad = next(e for e in elements if e[0] == "," or e.count(",") > 1)
                raise DataError(
                    f"{path}:{lineno}: expected elements 'feature' or 'feature,value', "
                    f"found {bad!r}"
                )
            yield lineno, label, elements


def _times(path: Path, lineno: int, elements: list[str]) -> np.ndarray:
    try:
        return np.array([e.split(",")[1] for e in elements], dtype=np.float64)
    except (IndexError, ValueError):
        for k, e in enumerate(elements, 1):
            parts = e.split(",")
            try:
                float(parts[1])
            except (IndexError, ValueError):
                raise DataError(
                    f"{path}:{lineno}: expected feature,timestamp elements for a split by time, "
                    f"found {e!r} (element {k})",
                    hint="import with --values timestamp",
                ) from None
        raise


def _check(holdout_fraction: float, holdout_samples: float | None, fold_in: float | None) -> None:
    if not 0.0 < holdout_fraction < 1.0:
        raise UsageError(f"--holdout-fraction must be in (0, 1). Got {holdout_fraction}.")
    if fold_in is not None and not 0.0 < fold_in < 1.0:
        raise UsageError(f"--fold-in-fraction must be in (0, 1). Got {fold_in}.")
    if fold_in is not None and holdout_samples is None:
        raise UsageError("--fold-in-fraction needs --holdout-samples (strong generalization)")
    if holdout_samples is not None:
        if isinstance(holdout_samples, float) and not 0.0 < holdout_samples < 1.0:
            raise UsageError(
                f"--holdout-samples must be a count >= 1 or a fraction in (0, 1). "
                f"Got {holdout_samples}."
            )
        if isinstance(holdout_samples, int) and holdout_samples < 1:
            raise UsageError(f"--holdout-samples must be >= 1. Got {holdout_samples}.")


class _Out:
    """One output text file with its counters."""

    def __init__(self, handle: TextIO) -> None:
        self.handle, self.samples, self.elements = handle, 0, 0

    def write(self, label: str, elements: list[str]) -> None:
        if elements:
            self.handle.write(f"{label}\t{':'.join(elements)}\n")
            self.samples += 1
            self.elements += len(elements)


def split_text(
    input: str | os.PathLike[str],
    *,
    train: str | os.PathLike[str],
    test: str | os.PathLike[str],
    holdout_fraction: float = 0.2,
    holdout_samples: int | float | None = None,
    fold_in_fraction: float | None = None,
    fold_in: str | os.PathLike[str] | None = None,
    by_time: bool = False,
    seed: int = 0,
    min_items: int = 2,
) -> SplitSummary:
    """Split a DSSTNE text file into train and test files (protocols in the module docstring).

    Args:
        input: the DSSTNE text file.
        train: train output (written atomically, as are all outputs).
        test: test output.
        holdout_fraction: share of each split sample's elements held out (per-sample and by-time).
        holdout_samples: strong generalization: an int count or a float fraction of the samples
            with at least ``min_items`` elements to hold out entirely.
        fold_in_fraction: with ``holdout_samples``, the share of a held-out sample's elements
            given as fold-in input; the rest is its test part.
        fold_in: where the fold-in parts go (default: into train).
        by_time: hold out each sample's latest elements (values must be timestamps).
        seed: seed of the random choices; the same seed and input give identical files.
        min_items: samples with fewer elements are not split (minimum 2 for any per-element split).

    Returns:
        What was written.

    Raises:
        UsageError: incompatible or out-of-range options.
        DataError: ``FILE:LINE`` of a line without a TAB, a repeated sample, or (by time) an
            element without a numeric value.

    Example:
        >>> split_text("ml100k.txt", train="train.txt", test="test.txt", seed=1)  # doctest: +SKIP
    """
    path = Path(input)
    if not path.is_file():
        raise DataError(f"{path}: expected an existing file, found none")
    _check(holdout_fraction, holdout_samples, fold_in_fraction)
    if by_time and holdout_samples is not None:
        raise UsageError("--by-time and --holdout-samples cannot be combined")
    if fold_in is not None and fold_in_fraction is None:
        raise UsageError("--fold-in needs --fold-in-fraction")
    rng = np.random.default_rng(seed)
    needs_split = holdout_samples is None or fold_in_fraction is not None
    floor = max(min_items, 2) if needs_split else max(min_items, 1)
    heldout: set[int] = set()
    if holdout_samples is not None:
        eligible = [i for i, (_, _, e) in enumerate(_rows(path)) if len(e) >= floor]
        count = (
            holdout_samples
            if isinstance(holdout_samples, int)
            else math.floor(holdout_samples * len(eligible) + 0.5)
        )
        if count > len(eligible):
            raise UsageError(
                f"--holdout-samples {count} is more than the {len(eligible)} samples of {path} "
                f"with at least {floor} elements"
            )
        heldout = set(
            rng.choice(np.asarray(eligible, dtype=np.int64), count, replace=False).tolist()
        )

    n_samples = unsplit = 0
    with contextlib.ExitStack() as stack:

        def open_out(target: str | os.PathLike[str]) -> _Out:
            tmp = stack.enter_context(atomic_path(target))
            return _Out(stack.enter_context(open(tmp, "w", encoding="utf-8", newline="\n")))

        out_train, out_test = open_out(train), open_out(test)
        out_fold = open_out(fold_in) if fold_in is not None else out_train
        for i, (lineno, label, elements) in enumerate(_rows(path)):
            n_samples += 1
            n = len(elements)
            if holdout_samples is not None and i not in heldout:
                out_train.write(label, elements)
                continue
            if holdout_samples is not None and fold_in_fraction is None:
                out_test.write(label, elements)
                continue
            if n < floor:
                unsplit += 1
                out_train.write(label, elements)
                continue
            fraction = holdout_fraction if fold_in_fraction is None else 1.0 - fold_in_fraction
            k = holdout_count(n, fraction)
            is_test = np.zeros(n, dtype=bool)
            if by_time:
                times = _times(path, lineno, elements)
                is_test[np.lexsort((np.arange(n), times))[n - k :]] = True
            else:
                is_test[rng.choice(n, k, replace=False)] = True
            rest = [e for e, t in zip(elements, is_test, strict=True) if not t]
            (out_fold if holdout_samples is not None else out_train).write(label, rest)
            out_test.write(label, [e for e, t in zip(elements, is_test, strict=True) if t])
    separate_fold = fold_in is not None
    return SplitSummary(
        samples=n_samples,
        train_samples=out_train.samples,
        train_elements=out_train.elements,
        test_samples=out_test.samples,
        test_elements=out_test.elements,
        fold_in_samples=out_fold.samples if separate_fold else 0,
        fold_in_elements=out_fold.elements if separate_fold else 0,
        heldout_samples=len(heldout),
        unsplit_samples=unsplit,
    )
