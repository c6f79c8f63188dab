"""Minibatches of aligned datasets (inputs and targets), shuffled per epoch, from files of any size.

``Batches`` reads several named datasets (from one or more files) that list the same examples in the
same order, and yields one ``Batch`` per minibatch: name -> ``SparseBatch`` (sparse data) or a
(B, width) float32 tensor (dense data; Dense Boolean becomes one-hot), with the same examples in
every dataset and their global example ids (rows of the files) in ``Batch.examples``.

``examples`` restricts the batches to a subset of example ids (a training or held-out split), taken
in the given order before shuffling. Epoch ``e`` is a pure function of ``(seed, e)`` (and of the
batch size and chunking): its example order is fixed before any data are read, so
``iter_epoch(e, start_batch=k)`` yields exactly batches ``k, k+1, ...`` of the full epoch.

Two paths, same contract (every example exactly once per epoch, reproducible from ``seed``):

* **In memory** (the selected examples of all datasets together under ``memory_limit`` bytes as
  CSR/dense arrays, 1 GB by default): the rows are read once; each epoch draws a full random
  permutation of the examples, and batch ``k`` is positions ``[k*B, (k+1)*B)`` of it. Starting at
  batch ``k`` only slices the permutation.
* **Chunked** (larger data): the example list is cut into chunks of ``chunk_examples`` consecutive
  examples; each epoch visits the chunks in a random order, ``window_chunks`` chunks at a time, and
  permutes the examples inside each window ("block shuffle"). A window yields only whole batches;
  its left-over examples (fewer than B) are carried into the next window's permutation, so only the
  last batch of the epoch can be short. Reads stay sequential and memory stays at one window (its
  rows are read in pieces of at most ``chunk_examples`` rows of the file), at the price of a
  weaker shuffle: a batch only mixes examples of the same window. Files are not sorted by label, so
  windows of a few 64k-example chunks are usually well mixed; sorted input benefits from a larger
  ``window_chunks``. (Sorted random indices per chunk would read the whole file for every chunk,
  which is why they are not used.) Starting at batch ``k`` replays the chunk and window
  permutations without reading data, skips whole windows before batch ``k``, and reads the rows
  carried into the first window it serves by example id.

Indexed datasets (``index{N}``) keep their unique rows in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from lamina.data.batch import SparseBatch
from lamina.data.nc_read import DatasetFile, read_dataset
from lamina.data.rows import Block, concat, dataset_bytes, read_block, read_plan, to_torch
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


class Batches:
    """Minibatches of aligned datasets; iterate once per epoch (``for batch in batches``).

    Args:
        datasets: name -> ``DatasetFile`` or ``(path, dataset name)``; or a sequence of
            ``DatasetFile`` (keyed by their names).
        batch_size: B, examples per batch.
        examples: (n,) example ids (rows of the files) to serve, in this order before shuffling;
            None: every example in file order.
        shuffle: draw a new order every epoch; ``False`` keeps the order of ``examples``.
        seed: base seed; epoch ``e`` uses the permutation of ``(seed, e)``.
        drop_last: drop the last, smaller batch.
        chunk_examples: examples per chunk (and most file rows per read) on the chunked path.
        window_chunks: chunks shuffled together on the chunked path.
        memory_limit: bytes of selected data under which everything is loaded once (full
            permutations).

    Attributes:
        examples: n, the number of examples served per epoch.
        example_ids: (n,) int64 ids of those examples, in the order before shuffling.
        in_memory: whether the in-memory path is used.

    Raises:
        DataError: the datasets do not all have the same number of examples, a name repeats, or
            ``examples`` holds ids outside ``[0, E)`` or none at all.

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
        examples: np.ndarray | None = None,
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
        total = next(iter(counts.values()))
        self.example_ids = _check_ids(examples, total)
        self.examples = int(self.example_ids.size)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.chunk_examples = max(1, chunk_examples)
        self.window_chunks = max(1, window_chunks)
        size = sum(dataset_bytes(ds) for ds in self.datasets.values()) * self.examples / total
        self.in_memory = size <= memory_limit
        self.epoch = 0
        self._cache: dict[str, Block] = {}
        self._indexed: dict[str, tuple[Block, np.ndarray]] = {}

    def __len__(self) -> int:
        full, rest = divmod(self.examples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return self.iter_epoch(epoch)

    def iter_epoch(self, epoch: int, *, start_batch: int = 0) -> Iterator[Batch]:
        """The batches of epoch ``epoch`` (the same for the same seed and epoch).

        Args:
            epoch: the epoch number (any integer; it seeds the order).
            start_batch: skip the first ``start_batch`` batches of the epoch without reading
                their data (the order of the rest is unchanged): resuming mid-epoch.

        Raises:
            DataError: ``start_batch`` is negative.
        """
        if start_batch < 0:
            raise DataError(f"start_batch must be >= 0, found {start_batch}")
        rng = np.random.default_rng([self.seed, epoch])
        n, size = self.examples, self.batch_size
        if self.in_memory:
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            if not self._cache:
                self._cache = {name: self._read(name, self.example_ids) for name in self.datasets}
                for ds in self.datasets.values():
                    ds.close()  # reopened on demand
            yield from self._emit(
                self._cache, self.example_ids, order[start_batch * size :], final=True
            )
            return
        chunk = self.chunk_examples
        n_chunks = -(-n // chunk)
        chunks = rng.permutation(n_chunks) if self.shuffle else np.arange(n_chunks)
        carry_ids = np.zeros(0, dtype=np.int64)
        carry: dict[str, Block] | None = None  # rows of carry_ids, if read
        done = 0  # batches of the epoch before this window
        for w in range(0, n_chunks, self.window_chunks):
            picked = chunks[w : w + self.window_chunks]
            new = np.concatenate([self.example_ids[c * chunk : (c + 1) * chunk] for c in picked])
            ids = np.concatenate([carry_ids, new])  # left-over examples of the last window first
            order = rng.permutation(ids.size) if self.shuffle else np.arange(ids.size)
            last = w + self.window_chunks >= n_chunks
            usable = ids.size if last else ids.size - ids.size % size
            rest = order[usable:]
            window_batches = -(-usable // size)
            if done + window_batches > start_batch:
                blocks = {name: self._read(name, new) for name in self.datasets}
                if carry_ids.size:
                    if carry is None:  # the previous window was skipped: read its left-overs
                        carry = {name: self._read(name, carry_ids) for name in self.datasets}
                    blocks = {k: concat([carry[k], b]) for k, b in blocks.items()}
                skip = max(0, start_batch - done) * size
                yield from self._emit(blocks, ids, order[skip:usable], final=last)
                carry = {k: b.take(rest) for k, b in blocks.items()}
            # else: a skipped window; nothing read, carry stays None until the first served one
            carry_ids = ids[rest]
            done += window_batches

    # -- internals ------------------------------------------------------------------------
    def _emit(
        self, blocks: dict[str, Block], ids: np.ndarray, order: np.ndarray, *, final: bool
    ) -> Iterator[Batch]:
        """Batches of ``order`` (positions into ``blocks``' rows, whose example ids are ``ids``)."""
        for start in range(0, order.size, self.batch_size):
            sel = order[start : start + self.batch_size]
            if sel.size < self.batch_size and final and self.drop_last:
                return
            data: dict[str, SparseBatch | torch.Tensor] = {}
            weights: dict[str, torch.Tensor] = {}
            for name, block in blocks.items():
                part = block.take(sel)
                data[name] = to_torch(part)
                if part.weights is not None:
                    weights[name] = torch.from_numpy(np.ascontiguousarray(part.weights))
            yield Batch(data, torch.from_numpy(ids[sel].astype(np.int64)), weights)

    def _read(self, name: str, ids: np.ndarray) -> Block:
        """Rows of examples ``ids`` (in that order), read in sorted pieces of at most
        ``chunk_examples`` file rows."""
        ds = self.datasets[name]
        pieces, restore = read_plan(ids, self.chunk_examples)
        if ds.is_indexed:
            if name not in self._indexed:
                rows = read_block(ds, 0, ds.rows, weights=False)
                index = np.asarray(ds.example_rows(0, ds.examples), dtype=np.int64)
                self._indexed[name] = (rows, index)
            rows, index = self._indexed[name]
            block = rows.take(index[ids])
            if ds.is_weighted:
                parts = []
                for lo, hi, sel in pieces:
                    w = ds.read_weights(lo, hi)
                    assert w is not None  # Weighted data have weights
                    parts.append(w if sel is None else w[sel])
                w = np.concatenate(parts)
                block.weights = w if restore is None else w[restore]
            return block
        taken = []
        for lo, hi, sel in pieces:  # keep only the selected rows of each read
            part = read_block(ds, lo, hi, weights=True)
            taken.append(part if sel is None else part.take(sel))
        block = concat(taken)
        return block if restore is None else block.take(restore)


def _check_ids(examples: np.ndarray | None, total: int) -> np.ndarray:
    if examples is None:
        return np.arange(total, dtype=np.int64)
    ids = np.asarray(examples)
    if ids.ndim != 1 or ids.size == 0 or (ids.dtype.kind not in "iu"):
        raise DataError(
            f"expected examples as a non-empty 1-D array of integer example ids, found "
            f"shape {ids.shape} of {ids.dtype}"
        )
    ids = ids.astype(np.int64, copy=False)
    if int(ids.min()) < 0 or int(ids.max()) >= total:
        raise DataError(
            f"expected example ids in [0, {total}), found {int(ids.min())}..{int(ids.max())}"
        )
    return ids


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
