"""DSSTNE's recommendation file: ``sample<TAB>feature,score:feature,score:...:`` lines.

Every entry, the last included, ends with ``:``; scores use a printf float format (DSSTNE ``-p``,
default ``4.3f``). ``RecsWriter`` writes a whole file atomically; ``parse_recs_line`` reads one
line back. No torch.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from lamina.atomic import atomic_path
from lamina.errors import DataError, UsageError

__all__ = [
    "DEFAULT_PRECISION",
    "RecsWriter",
    "format_recs_line",
    "parse_recs_line",
    "printf_format",
]

DEFAULT_PRECISION = "4.3f"  # DSSTNE NNRecsGenerator::DEFAULT_SCORE_PRECISION
_PRINTF = re.compile(r"%?([-+ #0]*\d*(?:\.\d+)?[fFeEgG])")


def printf_format(precision: str) -> str:
    """Turn DSSTNE's ``-p`` value (``4.3f``, ``.3f`` or ``%4.3f``) into a ``%`` format.

    Raises:
        UsageError: not a printf float conversion.
    """
    m = _PRINTF.fullmatch(precision.strip())
    if m is None:
        raise UsageError(
            "precision must be a printf float format such as '4.3f', '.3f' or '%4.3f' "
            f"(flags, width, .precision, then one of f F e E g G). Got {precision!r}"
        )
    return "%" + m.group(1)


def format_recs_line(
    sample_label: str,
    labels: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    precision: str = DEFAULT_PRECISION,
) -> str:
    """One line of DSSTNE's recommendation file.

    Args:
        sample_label: the sample (e.g. user) label.
        labels: the recommended feature labels, best first.
        scores: their scores, same length.
        precision: printf float format for scores (DSSTNE ``-p``).

    Returns:
        ``"sample\\tfeature,score:feature,score:...:\\n"``.

    Example:
        >>> format_recs_line("1", ["1214", "1196"], [0.982, 0.973])
        '1\\t1214,0.982:1196,0.973:\\n'
    """
    entry = "%s," + printf_format(precision) + ":"
    return _line(entry, sample_label, labels, scores)


def _line(entry: str, sample: str, labels: Sequence[str], scores: Any) -> str:
    return (
        sample
        + "\t"
        + "".join([entry % (f, float(s)) for f, s in zip(labels, scores, strict=True)])
        + "\n"
    )


def parse_recs_line(line: str, *, where: str = "<recs>") -> tuple[str, list[str], list[float]]:
    """Split one recommendation line into ``(sample, labels, scores)``.

    Raises:
        DataError: ``where: expected ..., found ...`` when the line is not in DSSTNE's format.
    """
    body = line[:-1] if line.endswith("\n") else line
    sample, tab, rest = body.partition("\t")
    if not tab or not sample:
        raise DataError(f"{where}: expected 'sample<TAB>feature,score:...:', found {body[:80]!r}")
    if rest and not rest.endswith(":"):
        raise DataError(f"{where}: expected every entry to end with ':', found {rest[-40:]!r}")
    labels: list[str] = []
    scores: list[float] = []
    for item in rest.split(":")[:-1]:
        label, comma, score = item.partition(",")
        try:
            if not (label and comma):
                raise ValueError
            scores.append(float(score))
        except ValueError:
            raise DataError(f"{where}: expected 'feature,score', found {item!r}") from None
        labels.append(label)
    return sample, labels, scores


class RecsWriter:
    """Writes recommendation lines to ``path`` atomically.

    Lines go to a temporary file beside ``path``; ``close()`` renames it over ``path``. If the
    ``with`` block raises (or ``abort()`` is called) the temporary file is deleted and ``path`` is
    left as it was.

    Example:
        >>> with RecsWriter("recs.txt") as out:  # doctest: +SKIP
        ...     out.write(["u1"], np.array([[3, 0]]), np.array([[0.9, 0.5]]), ["a", "b", "c", "d"])
    """

    def __init__(self, path: str | os.PathLike[str], *, precision: str = DEFAULT_PRECISION):
        self.path = Path(path)
        self.lines = 0
        self._entry = "%s," + printf_format(precision) + ":"
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._file: IO[str] | None = self._stack.enter_context(
            open(tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed by close()
        )

    def write(
        self,
        sample_labels: Sequence[str],
        indices: np.ndarray,
        scores: np.ndarray,
        feature_labels: Sequence[str | None],
    ) -> None:
        """Write one line per row; columns that are ``-1``, past ``feature_labels`` or unlabelled
        (padding) are skipped, as DSSTNE skips padding units.

        Args:
            sample_labels: B sample labels.
            indices: (B, k) int columns, best first (as from ``top_k``).
            scores: (B, k) scores.
            feature_labels: column -> label (see ``labels_by_column``).
        """
        indices, scores = np.asarray(indices), np.asarray(scores)
        if indices.shape != scores.shape or indices.shape[:1] != (len(sample_labels),):
            raise UsageError(
                f"RecsWriter.write: {len(sample_labels)} samples, indices {indices.shape}, "
                f"scores {scores.shape}: expected (B, k) and (B, k)"
            )
        n = len(feature_labels)
        lines = []
        for sample, cols, vals in zip(
            sample_labels, indices.tolist(), scores.tolist(), strict=True
        ):
            pairs = [(feature_labels[c], v) for c, v in zip(cols, vals, strict=True) if 0 <= c < n]
            pairs = [(f, v) for f, v in pairs if f is not None]
            lines.append(_line(self._entry, sample, [f for f, _ in pairs], [v for _, v in pairs]))
        self.write_lines(lines)

    def write_line(
        self, sample_label: str, labels: Sequence[str], scores: Sequence[float] | np.ndarray
    ) -> None:
        """Write one line from labels and scores already chosen."""
        self.write_lines([_line(self._entry, sample_label, labels, scores)])

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write complete lines (each ending in a newline)."""
        if self._file is None:
            raise UsageError(f"RecsWriter for {self.path} is already closed")
        self._file.write("".join(lines))
        self.lines += len(lines)

    def close(self) -> None:
        """Finish: rename the temporary file to ``path``."""
        if self._file is not None:
            self._file = None
            self._stack.close()

    def abort(self) -> None:
        """Give up: delete the temporary file; ``path`` is untouched."""
        if self._file is not None:
            self._file = None
            err = RuntimeError("aborted")
            with contextlib.suppress(RuntimeError):
                self._stack.__exit__(RuntimeError, err, None)

    def __enter__(self) -> RecsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
