"""Reference rankers that ``evaluate --baselines`` compares a network with: a registry by name.

A baseline sees only the training rows (each user's known items) and returns every user's top-k
items, excluding the user's own training items, exactly as the network's ranking is made. Adding
one (EASE, ALS, ...) is one ``BASELINES.register`` call; ``evaluate`` and its CLI pick it up.

numpy only: no torch here.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from lamina.predict.metrics import popularity_top_k
from lamina.predict.recs import Csr
from lamina.registry import Registry

__all__ = ["BASELINES", "Baseline", "popularity"]


class Baseline(Protocol):
    """``(train, k, *, n_items) -> (U, k')`` int64 items, best first, ``-1`` for padding."""

    def __call__(self, train: Csr, k: int, *, n_items: int) -> np.ndarray: ...


BASELINES: Registry[Baseline] = Registry("baseline")


@BASELINES.decorator("popularity", aliases=("pop", "most-popular"))
def popularity(train: Csr, k: int, *, n_items: int) -> np.ndarray:
    """Recommend the items held by the most training users, skipping each user's own items.

    Args:
        train: U rows of training items.
        k: items per user.
        n_items: number of real items.

    Returns:
        (U, min(k, n_items)) int64 items, ``-1`` once a user has run out.
    """
    return popularity_top_k(train, k, n_items=n_items)[0]
