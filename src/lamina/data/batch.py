"""Minibatches as the model consumes them: sparse rows in CSR form, ready for ``F.embedding_bag``.

This is the contract between ``lamina.data`` (which yields batches) and ``lamina.nn`` (whose
sparse-input path consumes them without densifying).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SparseBatch"]


@dataclass(frozen=True)
class SparseBatch:
    """B rows of a sparse dataset in CSR form.

    Attributes:
        indices: (nnz,) int64 column (feature) indices, row after row.
        offsets: (B + 1,) int64 row starts; ``offsets[0] == 0`` and ``offsets[-1] == nnz``.
        values: (nnz,) float32 stored values, or ``None`` for Boolean (indicator) data where every
            listed value is 1.
        width: number of columns of the dense equivalent (the dataset's padded ``width``).
    """

    indices: torch.Tensor
    offsets: torch.Tensor
    values: torch.Tensor | None
    width: int

    @property
    def batch_size(self) -> int:
        """B, the number of rows."""
        return int(self.offsets.numel()) - 1

    @property
    def row_ids(self) -> torch.Tensor:
        """(nnz,) int64 row index of every stored element."""
        counts = self.offsets[1:] - self.offsets[:-1]
        return torch.repeat_interleave(torch.arange(self.batch_size, device=counts.device), counts)

    def to_dense(self) -> torch.Tensor:
        """(B, width) float32 dense equivalent; duplicate (row, column) entries add up, as DSSTNE's
        sparse kernels do."""
        dense = torch.zeros(
            self.batch_size, self.width, dtype=torch.float32, device=self.indices.device
        )
        vals = (
            self.values
            if self.values is not None
            else torch.ones_like(self.indices, dtype=torch.float32)
        )
        dense.index_put_((self.row_ids, self.indices), vals, accumulate=True)
        return dense

    def to(self, device: torch.device | str) -> SparseBatch:
        """The same batch on ``device``."""
        return SparseBatch(
            self.indices.to(device),
            self.offsets.to(device),
            None if self.values is None else self.values.to(device),
            self.width,
        )
