"""Minibatches of aligned datasets (inputs and targets), shuffled per epoch, from files of any size.

``Batches`` reads several named datasets (from one or more files) that list the same examples in the
same order, and yields one ``Batch`` per minibatch: name -> ``SparseBatch`` (sparse data) or a
(B, width) float32 tensor (dense data; Dense Boolean becomes one-hot), with the same examples in
every dataset.

Two paths, same contract (every example exactly once per epoch, reproducible from ``seed``):

* **In memory** (all datasets together under ``memory_limit`` bytes as CSR/dense arrays, 1 GB by
  default): the rows are read once and each epoch draws a full random permutation.
* **Chunked** (larger files): examples are read from disk in contiguous chunks of
  ``chunk_examples``; each epoch visits the chunks in a random order, ``window_chunks`` chunks at a
  time, and permutes the examples inside each window ("block shuffle"). Reads stay sequential and
  memory stays at one window, at the price of a weaker shuffle: a batch only mixes examples of the
  same window. Files are not sorted by label, so windows of a few 64k-example chunks are usually
  well mixed; sorted input benefits from a larger ``window_chunks``. (Sorted random indices per
  chunk would read the whole file for every chunk, which is why they are not used.)

Indexed datasets (``index{N}``) keep their unique rows in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lamina.data.batch import SparseBatch
from lamina.data.nc_read import CSRRows, DatasetFile, read_dataset
from lamina.errors import DataError

__all__ = ["Batch", "Batches"]


class Batch(Mapping[str, "SparseBatch | torch.Tensor"]):
    """One minibatch: dataset name -> ``SparseBatch`` or (B, width) float32 tensor.

    Attributes:
        examples: (B,) int64 example numbers (rows of the files) in batch order.
        weights: dataset name -> (B,) float32 example weights, for Weighted datasets.
    """

    def __init__(
        self,
        data: dict[str, SparseBatch | torch.Tensor],
        examples: torch.Tensor,
        weights: dict[str, torch.Tensor],
    ) -> None:
        self._data = data
        self.examples = examples
        self.weights = weights

    def __getitem__(self, name: str) -> SparseBatch | torch.Tensor:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size(self) -> int:
        """B, the number of examples."""
        return int(self.examples.numel())


@dataclass
class _Block:
    """Rows of one dataset for a contiguous range of examples (numpy)."""

    sparse: CSRRows | None
    dense: np.ndarray | None
    weights: np.ndarray | None

    def take(self, sel: np.ndarray) -> _Block:
        w = None if self.weights is None else self.weights[sel]
        if self.dense is not None:
            return _Block(None, self.dense[sel], w)
        assert self.sparse is not None
        return _Block(_take_rows(self.sparse, sel), None, w)


def _take_rows(rows: CSRRows, sel: np.ndarray) -> CSRRows:
    """Rows ``sel`` of a CSR block, in that order."""
    lens = np.diff(rows.offsets)[sel]
    offsets = np.zeros(sel.size + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    take = np.repeat(rows.offsets[:-1][sel] - offsets[:-1], lens) + np.arange(int(offsets[-1]))
    values = None if rows.values is None else rows.values[take]
    return CSRRows(offsets, rows.indices[take], values, rows.width)


def _concat(blocks: list[_Block]) -> _Block:
    if len(blocks) == 1:
        return blocks[0]
    weights = [b.weights for b in blocks if b.weights is not None]
    w = np.concatenate(weights) if weights else None
    dense = [b.dense for b in blocks if b.dense is not None]
    if dense:
        return _Block(None, np.concatenate(dense), w)
    parts = [b.sparse for b in blocks if b.sparse is not None]
    shift = 0
    offsets = [parts[0].offsets[:1]]
    for p in parts:
        offsets.append(p.offsets[1:] + shift)
        shift += int(p.indices.size)
    values = [p.values for p in parts if p.values is not None]
    return _Block(
        CSRRows(
            np.concatenate(offsets),
            np.concatenate([p.indices for p in parts]),
            np.concatenate(values) if values else None,
            parts[0].width,
        ),
        None,
        w,
    )


class Batches:
    """Minibatches of aligned datasets; iterate once per epoch (``for batch in batches``).

    Args:
        datasets: name -> ``DatasetFile`` or ``(path, dataset name)``; or a sequence of
            ``DatasetFile`` (keyed by their names).
        batch_size: B, examples per batch.
        shuffle: draw a new order every epoch; ``False`` keeps file order.
        seed: base seed; epoch ``e`` uses the permutation of ``(seed, e)``.
        drop_last: drop the last, smaller batch.
        chunk_examples: examples per disk read on the chunked path.
        window_chunks: chunks shuffled together on the chunked path.
        memory_limit: bytes of data under which everything is loaded once (full permutations).

    Raises:
        DataError: the datasets do not all have the same number of examples, or a name repeats.

    Example:
        >>> batches = Batches({"gl_input": ("gl_input.nc", "gl_input"),
        ...     "gl_output": ("gl_output.nc", "gl_output")}, batch_size=256)  # doctest: +SKIP
        >>> for batch in batches:  # doctest: +SKIP
        ...     x = batch["gl_input"]       # SparseBatch with 256 rows
    """

    def __init__(
        self,
        datasets: Mapping[str, DatasetFile | tuple[str | Path, str]] | Sequence[DatasetFile],
        *,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        chunk_examples: int = 65536,
        window_chunks: int = 4,
        memory_limit: int = 1 << 30,
    ) -> None:
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, found {batch_size}")
        self.datasets = _resolve(datasets)
        counts = {name: ds.examples for name, ds in self.datasets.items()}
        if len(set(counts.values())) != 1:
            detail = ", ".join(f"{n!r} ({self.datasets[n].path}): {c}" for n, c in counts.items())
            raise DataError(
                f"expected datasets with the same number of examples, found {detail}",
                hint="build input and output files with the same sample index (-s)",
            )
        self.examples = next(iter(counts.values()))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.chunk_examples = max(1, chunk_examples)
        self.window_chunks = max(1, window_chunks)
        self.in_memory = sum(_bytes(ds) for ds in self.datasets.values()) <= memory_limit
        self.epoch = 0
        self._cache: dict[str, _Block] = {}
        self._indexed: dict[str, tuple[_Block, np.ndarray]] = {}

    def __len__(self) -> int:
        full, rest = divmod(self.examples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return self.iter_epoch(epoch)

    def iter_epoch(self, epoch: int) -> Iterator[Batch]:
        """The batches of epoch ``epoch`` (the same for the same seed and epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.in_memory:
            order = rng.permutation(self.examples) if self.shuffle else np.arange(self.examples)
            yield from self._batches([(0, self.examples)], order, final=True)
            return
        n_chunks = -(-self.examples // self.chunk_examples)
        chunks = rng.permutation(n_chunks) if self.shuffle else np.arange(n_chunks)
        carry: tuple[dict[str, _Block], np.ndarray] | None = None
        for w in range(0, n_chunks, self.window_chunks):
            ranges = [
                (
                    int(c) * self.chunk_examples,
                    min(self.examples, (int(c) + 1) * self.chunk_examples),
                )
                for c in chunks[w : w + self.window_chunks]
            ]
            blocks = {name: self._read(name, ranges) for name in self.datasets}
            ids = np.concatenate([np.arange(a, b) for a, b in ranges])
            if carry is not None:  # examples left over from the previous window go first
                blocks = {n: _concat([carry[0][n], b]) for n, b in blocks.items()}
                ids = np.concatenate([carry[1], ids])
            n = ids.size
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            last = w + self.window_chunks >= n_chunks
            usable = n if last else n - n % self.batch_size
            yield from self._emit(blocks, ids, order[:usable], final=last)
            rest = order[usable:]
            carry = ({k: b.take(rest) for k, b in blocks.items()}, ids[rest]) if rest.size else None

    # -- internals ------------------------------------------------------------------------
    def _batches(
        self, ranges: list[tuple[int, int]], order: np.ndarray, *, final: bool
    ) -> Iterator[Batch]:
        if not self._cache:
            self._cache = {name: self._read(name, ranges) for name in self.datasets}
        yield from self._emit(self._cache, np.arange(self.examples), order, final=final)

    def _emit(
        self, blocks: dict[str, _Block], ids: np.ndarray, order: np.ndarray, *, final: bool
    ) -> Iterator[Batch]:
        for start in range(0, order.size, self.batch_size):
            sel = order[start : start + self.batch_size]
            if sel.size < self.batch_size and final and self.drop_last:
                return
            data: dict[str, SparseBatch | torch.Tensor] = {}
            weights: dict[str, torch.Tensor] = {}
            for name, block in blocks.items():
                part = block.take(sel)
                data[name] = _to_torch(part)
                if part.weights is not None:
                    weights[name] = torch.from_numpy(np.ascontiguousarray(part.weights))
            yield Batch(data, torch.from_numpy(ids[sel].astype(np.int64)), weights)

    def _read(self, name: str, ranges: list[tuple[int, int]]) -> _Block:
        ds = self.datasets[name]
        if ds.is_indexed:
            if name not in self._indexed:
                rows = _read_block(ds, 0, ds.rows, weights=False)
                index = np.asarray(ds.example_rows(0, ds.examples), dtype=np.int64)
                self._indexed[name] = (rows, index)
            rows, index = self._indexed[name]
            sel = np.concatenate([index[a:b] for a, b in ranges])
            block = rows.take(sel)
            if ds.is_weighted:
                block.weights = np.concatenate([ds.read_weights(a, b) for a, b in ranges])  # type: ignore[misc]
            return block
        return _concat([_read_block(ds, a, b, weights=True) for a, b in ranges])


def _read_block(ds: DatasetFile, start: int, stop: int, *, weights: bool) -> _Block:
    w = ds.read_weights(start, stop) if weights else None
    if ds.is_sparse:
        return _Block(ds.read_sparse(start, stop), None, w)
    return _Block(None, ds.read_dense(start, stop), w)


def _to_torch(block: _Block) -> SparseBatch | torch.Tensor:
    if block.dense is not None:
        return torch.from_numpy(np.ascontiguousarray(block.dense, dtype=np.float32))
    rows = block.sparse
    assert rows is not None
    return SparseBatch(
        indices=torch.from_numpy(rows.indices.astype(np.int64, copy=False)),
        offsets=torch.from_numpy(rows.offsets.astype(np.int64, copy=False)),
        values=None if rows.values is None else torch.from_numpy(rows.values),
        width=rows.width,
    )


def _bytes(ds: DatasetFile) -> int:
    if ds.is_sparse:
        per_value = 0 if ds.is_boolean else 4
        return ds.nnz * (8 + per_value) + ds.rows * 8
    return ds.rows * ds.stride * 4


def _resolve(
    datasets: Mapping[str, DatasetFile | tuple[str | Path, str]] | Sequence[DatasetFile],
) -> dict[str, DatasetFile]:
    if isinstance(datasets, Mapping):
        out: dict[str, DatasetFile] = {}
        for key, value in datasets.items():
            out[key] = value if isinstance(value, DatasetFile) else read_dataset(*value)
        return out
    out = {}
    for ds in datasets:
        if ds.name in out:
            raise DataError(f"{ds.path}: dataset name {ds.name!r} is used twice, expected unique")
        out[ds.name] = ds
    if not out:
        raise DataError("expected at least one dataset to batch, found none")
    return out
