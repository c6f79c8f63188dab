"""DSSTNE's denoising of sparse inputs (spec 2.2): per epoch, each stored non-zero is kept iff its
uniform r >= p, and kept values are scaled by q = 1/(1-p).

DSSTNE draws one uniform per stored non-zero of the whole dataset at the start of every epoch.
Lamina draws the same thing without a dataset-sized array: r is a counter-based hash of ``(seed,
epoch, example_id, position_in_row)`` (SplitMix64), so an example gets the same mask every time it
is loaded within an epoch (whatever its minibatch or order) and a new one in the next epoch.
"""

from __future__ import annotations

import numpy as np
import torch

from lamina.data.batch import SparseBatch
from lamina.errors import ConfigError, ModelError

__all__ = ["DenoisingMask", "uniform_hash"]

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of ``x + golden`` on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def uniform_hash(
    seed: int, epoch: int, example_ids: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """Uniform [0, 1) float64 numbers, a pure function of ``(seed, epoch, example_id, position)``.

    Args:
        seed, epoch: non-negative ints.
        example_ids: (n,) global example indices.
        positions: (n,) positions of the elements inside their rows.

    Returns:
        (n,) float64 array.
    """
    key = _splitmix64(np.array([seed], dtype=_U64))
    key = _splitmix64(key ^ np.array([epoch], dtype=_U64))
    with np.errstate(over="ignore"):
        h = _splitmix64(key ^ example_ids.astype(_U64))
        h = _splitmix64(h ^ positions.astype(_U64))
    return (h >> _U64(11)).astype(np.float64) * (1.0 / (1 << 53))


class DenoisingMask:
    """Drops stored non-zeros of sparse input minibatches with probability ``p``, stable per epoch.

    Args:
        p: ``Denoising.p``, in [0, 1); 0 disables denoising.
        seed: the run's seed (same seed and epoch -> same masks).

    Raises:
        ConfigError: ``p`` outside [0, 1).

    Example:
        >>> batch = SparseBatch(torch.tensor([1, 4, 2]), torch.tensor([0, 2, 3]), None, width=8)
        >>> mask = DenoisingMask(p=0.5, seed=7)
        >>> noisy = mask.apply(batch, epoch=0, example_ids=torch.tensor([10, 11]))
        >>> noisy.values.unique().tolist()   # survivors of indicator data become q = 1/(1-p)
        [2.0]
    """

    def __init__(self, *, p: float, seed: int = 0) -> None:
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"Denoising.p must be in [0, 1). Got {p}.")
        self.p = p
        self.seed = seed

    def keep(self, batch: SparseBatch, *, epoch: int, example_ids: torch.Tensor) -> torch.Tensor:
        """(nnz,) bool: which stored non-zeros of ``batch`` survive in ``epoch``.

        Args:
            batch: B rows of a sparse input.
            epoch: epoch number (a new mask each epoch).
            example_ids: (B,) int64 global indices of the rows in the dataset.
        """
        if example_ids.shape != (batch.batch_size,):
            raise ModelError(
                f"example_ids must have shape ({batch.batch_size},); got {tuple(example_ids.shape)}"
            )
        offsets = batch.offsets.cpu().numpy().astype(np.int64)
        counts = np.diff(offsets)
        rows = np.repeat(np.arange(counts.size), counts)
        positions = np.arange(offsets[-1] - offsets[0]) - (offsets[rows] - offsets[0])
        ids = example_ids.cpu().numpy().astype(np.int64)[rows]
        r = uniform_hash(self.seed, epoch, ids, positions)
        return torch.from_numpy(r >= self.p).to(batch.indices.device)

    def apply(self, batch: SparseBatch, *, epoch: int, example_ids: torch.Tensor) -> SparseBatch:
        """A new ``SparseBatch`` without the dropped elements, survivors' values times 1/(1-p)
        (indicator data gets explicit values q). Returns ``batch`` itself when p == 0."""
        if self.p == 0.0:
            return batch
        keep = self.keep(batch, epoch=epoch, example_ids=example_ids)  # (nnz,)
        q = 1.0 / (1.0 - self.p)
        kept_per_row = torch.zeros(batch.batch_size, dtype=torch.int64, device=keep.device)
        kept_per_row.index_add_(0, batch.row_ids.to(keep.device), keep.to(torch.int64))
        offsets = torch.cat([kept_per_row.new_zeros(1), kept_per_row.cumsum(0)])
        indices = batch.indices[keep]
        if batch.values is None:
            values = torch.full(indices.shape, q, dtype=torch.float32, device=indices.device)
        else:
            values = batch.values[keep] * q
        return SparseBatch(indices, offsets.to(batch.offsets.device), values, batch.width)
