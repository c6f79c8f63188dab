"""Shared fixtures for lamina.train tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from lamina.data.batch import SparseBatch


def _make_sparse(rows: list[list[int]], width: int, *, analog: bool, seed: int = 0) -> SparseBatch:
    gen = torch.Generator().manual_seed(seed)
    indices = torch.tensor([c for r in rows for c in r], dtype=torch.int64)
    offsets = torch.tensor([0] + [len(r) for r in rows], dtype=torch.int64).cumsum(0)
    values = 0.2 + 0.8 * torch.rand(indices.numel(), generator=gen) if analog else None
    return SparseBatch(indices, offsets, values, width)


@pytest.fixture
def make_sparse() -> Callable[..., SparseBatch]:
    """``make_sparse(rows, width, analog=...)``: a SparseBatch with the given column lists per row
    (values in [0.2, 1] when analog, None otherwise)."""
    return _make_sparse
