"""Training data in memory: the aligned datasets of the ``-i``/``-o`` files, served as minibatches.

DSSTNE keeps every dataset resident (on the GPU); Lamina keeps them in host memory in CSR form
(sparse) or as arrays (dense) and builds each minibatch by gathering its examples' rows, so a sparse
dataset is never densified (the model densifies at most one minibatch where it must).

Minibatches are addressed by global example ids, which makes shuffling, denoising (hashed on example
ids) and resuming in the middle of an epoch pure functions of ``(seed, epoch)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lamina.data.batch import SparseBatch
from lamina.data.nc_read import DatasetFile, open_datasets
from lamina.errors import DataError, UsageError

__all__ = ["Column", "TrainingData", "epoch_order", "load_training_data"]


@dataclass(frozen=True, eq=False)
class Column:
    """One dataset, all examples, in memory.

    Attributes:
        name: the dataset name (a layer's ``DataSet``).
        dims: ``(width,)``, ``(width, height)`` or ``(width, height, length)`` as stored.
        offsets: (E + 1,) int64 CSR row starts (sparse), else None.
        indices: (nnz,) int64 columns (sparse), else None.
        values: (nnz,) float32 (sparse analog) or None (Boolean / dense).
        dense: (E, stride) float32 (dense), else None.
        weights: (E,) float32 example weights (Weighted data), else None.
    """

    name: str
    dims: tuple[int, ...]
    offsets: np.ndarray | None
    indices: np.ndarray | None
    values: np.ndarray | None
    dense: np.ndarray | None
    weights: np.ndarray | None

    @property
    def sparse(self) -> bool:
        return self.offsets is not None

    @property
    def stride(self) -> int:
        return int(np.prod(self.dims))

    @property
    def examples(self) -> int:
        return int(self.offsets.size - 1) if self.offsets is not None else len(self.dense)  # type: ignore[arg-type]

    def take(self, ids: np.ndarray) -> Column:
        """The examples ``ids`` (in that order) as a new column."""
        if self.offsets is None:
            assert self.dense is not None
            return Column(
                self.name, self.dims, None, None, None, self.dense[ids], _sub(self.weights, ids)
            )
        offsets, take = _gather(self.offsets, ids)
        assert self.indices is not None
        values = None if self.values is None else self.values[take]
        return Column(
            self.name, self.dims, offsets, self.indices[take], values, None, _sub(self.weights, ids)
        )

    def batch(self, ids: np.ndarray, device: torch.device) -> SparseBatch | torch.Tensor:
        """Examples ``ids`` as a ``SparseBatch`` (sparse) or a (B, stride) float32 tensor."""
        if self.offsets is None:
            assert self.dense is not None
            return torch.from_numpy(self.dense[ids]).to(device)
        offsets, take = _gather(self.offsets, ids)
        assert self.indices is not None
        values = None if self.values is None else torch.from_numpy(self.values[take]).to(device)
        return SparseBatch(
            torch.from_numpy(self.indices[take]).to(device),
            torch.from_numpy(offsets).to(device),
            values,
            self.stride,
        )


def _sub(array: np.ndarray | None, ids: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[ids]


def _gather(offsets: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR offsets of rows ``ids`` and the positions of their elements in the source arrays."""
    starts, counts = offsets[ids], offsets[ids + 1] - offsets[ids]
    new = np.zeros(ids.size + 1, dtype=np.int64)
    np.cumsum(counts, out=new[1:])
    take = np.repeat(starts - new[:-1], counts) + np.arange(int(new[-1]), dtype=np.int64)
    return new, take


class TrainingData:
    """Aligned datasets (one example = one row of each), addressable by example id.

    Args:
        columns: dataset name -> column; all must have the same number of examples.
        sources: where the data came from, for messages.
    """

    def __init__(self, columns: Mapping[str, Column], *, sources: str = "") -> None:
        counts = {name: col.examples for name, col in columns.items()}
        if not counts:
            raise DataError(f"{sources}: expected datasets to train on, found none")
        if len(set(counts.values())) > 1:
            raise DataError(
                f"{sources}: all datasets must have the same number of examples (one row per "
                f"example, aligned). Got {counts}.",
                hint="generate every file with the same -s samples index",
            )
        self.columns = dict(columns)
        self.examples = next(iter(counts.values()), 0)
        self.sources = sources

    def widths(self) -> dict[str, tuple[int, ...]]:
        """Dataset name -> dims, for ``NetworkConfig.resolve``."""
        return {name: col.dims for name, col in self.columns.items()}

    def require(self, names: Sequence[str], *, where: str) -> None:
        """Raise DataError unless every dataset in ``names`` is present."""
        from lamina.errors import did_you_mean

        held = sorted(self.columns)
        for name in names:
            if name not in self.columns:
                raise DataError(
                    f"{self.sources}: the config's {where} reads dataset {name!r}, but the data "
                    f"files hold {held}." + did_you_mean(name, held)
                )

    def take(self, ids: np.ndarray) -> TrainingData:
        """The examples ``ids`` as new data (for a held-out validation split)."""
        return TrainingData({n: c.take(ids) for n, c in self.columns.items()}, sources=self.sources)

    def batch(
        self, ids: np.ndarray, names: Sequence[str], device: torch.device
    ) -> dict[str, SparseBatch | torch.Tensor]:
        """Dataset name -> minibatch of examples ``ids``, for the datasets in ``names``."""
        return {name: self.columns[name].batch(ids, device) for name in names}

    def weights(self, ids: np.ndarray, name: str, device: torch.device) -> torch.Tensor | None:
        """(B,) example weights of dataset ``name`` for ``ids``, or None if it is not Weighted."""
        w = self.columns[name].weights
        return None if w is None else torch.from_numpy(w[ids]).to(device)


def epoch_order(examples: int, *, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """(E,) int64 example order of ``epoch`` (a seeded permutation when ``shuffle``, DSSTNE's
    ``ShuffleIndices``): a pure function of ``(seed, epoch)``, so resuming replays it exactly."""
    if not shuffle:
        return np.arange(examples, dtype=np.int64)
    rng = np.random.default_rng([seed, epoch, 0x5348])
    return rng.permutation(examples).astype(np.int64)


def minibatches(order: np.ndarray, batch: int, *, start: int = 0) -> Iterator[np.ndarray]:
    """Consecutive slices of ``order`` of ``batch`` examples (the last may be smaller), from
    example position ``start``."""
    for pos in range(start, order.size, batch):
        yield order[pos : pos + batch]


def _read_column(ds: DatasetFile) -> Column:
    dims: tuple[int, ...] = (ds.width, ds.height, ds.length)
    if ds.length == 1:
        dims = (ds.width,) if ds.height == 1 else (ds.width, ds.height)
    rows = ds.example_rows(0, ds.examples)
    weights = ds.read_weights(0, ds.examples)
    if ds.is_sparse:
        csr = ds.read_sparse(0, ds.rows)
        col = Column(ds.name, dims, csr.offsets, csr.indices, csr.values, None, None)
        if csr.indices.size and (csr.indices.min() < 0 or csr.indices.max() >= ds.stride):
            raise DataError(
                f"{ds.path}: dataset {ds.name!r}: feature indices must be in [0, {ds.stride}). "
                f"Got {int(csr.indices.min())}..{int(csr.indices.max())}."
            )
    else:
        col = Column(ds.name, dims, None, None, None, ds.read_dense(0, ds.rows), None)
    if rows is not None:  # Indexed data: example i uses stored row rows[i]
        col = col.take(rows)
    ds.close()
    return Column(col.name, col.dims, col.offsets, col.indices, col.values, col.dense, weights)


def load_training_data(
    paths: Sequence[str | os.PathLike[str]], *, names: Sequence[str] | None = None
) -> TrainingData:
    """Read every dataset of ``paths`` (``-i`` and ``-o`` may be the same file) into memory.

    Args:
        paths: netCDF dataset files; a dataset name seen twice is read once.
        names: only these datasets (None: all).

    Returns:
        The aligned data.

    Raises:
        DataError: a file is unreadable, or the datasets disagree on the number of examples.
    """
    columns: dict[str, Column] = {}
    available: list[str] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        if not path.is_file():
            raise UsageError(f"data file {str(path)!r} does not exist.")
        for ds in open_datasets(path):
            available.append(ds.name)
            if ds.name in columns or (names is not None and ds.name not in names):
                continue
            columns[ds.name] = _read_column(ds)
    sources = ", ".join(str(Path(p)) for p in paths)
    from lamina.errors import did_you_mean

    for name in names or []:
        if name not in columns:
            raise DataError(
                f"{sources}: the config's DataSet {name!r} is not in the data files, which hold "
                f"{sorted(set(available))}." + did_you_mean(name, available)
            )
    return TrainingData(columns, sources=sources)
