"""Rows of one dataset as numpy arrays (CSR or dense) and how ``Batches`` reads, gathers and
converts them: a file range read with its bounds checked, rows taken in any order, blocks
concatenated, a read plan that never loads more than one chunk of the file at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lamina.data.batch import SparseBatch
from lamina.data.nc_read import CSRRows, DatasetFile
from lamina.errors import DataError

__all__ = ["Block", "concat", "dataset_bytes", "read_block", "read_plan", "to_torch"]


@dataclass
class Block:
    """Rows of one dataset for some examples, in numpy: CSR (sparse) or (k, stride) float32
    (dense), plus (k,) float32 example weights for Weighted data."""

    sparse: CSRRows | None
    dense: np.ndarray | None
    weights: np.ndarray | None

    def take(self, sel: np.ndarray) -> Block:
        """Rows ``sel`` (positions in this block), in that order."""
        w = None if self.weights is None else self.weights[sel]
        if self.dense is not None:
            return Block(None, self.dense[sel], w)
        assert self.sparse is not None
        return Block(take_rows(self.sparse, sel), None, w)


def take_rows(rows: CSRRows, sel: np.ndarray) -> CSRRows:
    """Rows ``sel`` of a CSR block, in that order."""
    lens = np.diff(rows.offsets)[sel]
    offsets = np.zeros(sel.size + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    take = np.repeat(rows.offsets[:-1][sel] - offsets[:-1], lens) + np.arange(int(offsets[-1]))
    values = None if rows.values is None else rows.values[take]
    return CSRRows(offsets, rows.indices[take], values, rows.width)


def concat(blocks: list[Block]) -> Block:
    """The rows of ``blocks`` one after the other (all of the same dataset)."""
    if len(blocks) == 1:
        return blocks[0]
    weights = [b.weights for b in blocks if b.weights is not None]
    w = np.concatenate(weights) if weights else None
    dense = [b.dense for b in blocks if b.dense is not None]
    if dense:
        return Block(None, np.concatenate(dense), w)
    parts = [b.sparse for b in blocks if b.sparse is not None]
    shift = 0
    offsets = [parts[0].offsets[:1]]
    for p in parts:
        offsets.append(p.offsets[1:] + shift)
        shift += int(p.indices.size)
    values = [p.values for p in parts if p.values is not None]
    return Block(
        CSRRows(
            np.concatenate(offsets),
            np.concatenate([p.indices for p in parts]),
            np.concatenate(values) if values else None,
            parts[0].width,
        ),
        None,
        w,
    )


def read_plan(
    ids: np.ndarray, chunk: int
) -> tuple[list[tuple[int, int, np.ndarray | None]], np.ndarray | None]:
    """How to read examples ``ids``: ascending file ranges ``[lo, hi)`` with the rows to keep of
    each (None: all), and the permutation that puts the concatenated rows back in the order of
    ``ids`` (None: already in order). Consecutive ids are one range (a chunk, or everything on the
    in-memory path); others are grouped by file chunk, so no read exceeds ``chunk`` rows."""
    if consecutive(ids):
        return [(int(ids[0]), int(ids[-1]) + 1, None)], None
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    restore = np.empty_like(order)
    restore[order] = np.arange(order.size)
    cuts = np.flatnonzero(np.diff(ordered // chunk)) + 1
    pieces: list[tuple[int, int, np.ndarray | None]] = []
    for group in np.split(ordered, cuts):
        if group.size:
            lo = int(group[0])
            pieces.append((lo, int(group[-1]) + 1, None if consecutive(group) else group - lo))
    return pieces, restore


def consecutive(ids: np.ndarray) -> bool:
    """Whether ``ids`` is ``a, a + 1, ..., b`` (and not empty)."""
    return (
        bool(ids.size)
        and int(ids[-1]) - int(ids[0]) + 1 == ids.size
        and bool(np.all(np.diff(ids) == 1))
    )


def read_block(ds: DatasetFile, start: int, stop: int, *, weights: bool) -> Block:
    """Stored rows ``[start, stop)`` of ``ds`` (with their weights if ``weights``).

    Raises:
        DataError: a sparse row lists a feature index outside ``[0, stride)``.
    """
    w = ds.read_weights(start, stop) if weights else None
    if ds.is_sparse:
        rows = ds.read_sparse(start, stop)
        if rows.indices.size and (rows.indices.min() < 0 or rows.indices.max() >= ds.stride):
            raise DataError(
                f"{ds.path}: dataset {ds.name!r} rows {start}..{stop}: expected feature indices "
                f"in [0, {ds.stride}), found {int(rows.indices.min())}..{int(rows.indices.max())}"
            )
        return Block(rows, None, w)
    return Block(None, ds.read_dense(start, stop), w)


def to_torch(block: Block) -> SparseBatch | torch.Tensor:
    """A ``SparseBatch`` (sparse rows; never densified) or a (k, stride) float32 tensor."""
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


def dataset_bytes(ds: DatasetFile) -> int:
    """Bytes ``ds`` takes in memory as a ``Block`` (int64 indices and offsets, float32 values)."""
    if ds.is_sparse:
        per_value = 0 if ds.is_boolean else 4
        return ds.nnz * (8 + per_value) + ds.rows * 8
    return ds.rows * ds.stride * 4
