"""Reference rankers that ``evaluate --baselines`` compares a network with: a registry by name.

A baseline sees only the training rows (each user's known items) and returns every user's top-k
items, excluding the user's own training items, exactly as the network's ranking is made. Adding
one (ALS, ...) is one ``BASELINES.register`` call; ``evaluate`` and its CLI pick it up.

* ``popularity``: the items most training users hold.
* ``ease``: EASE (Steck 2019), closed form, λ chosen on a validation split carved from the training
  rows (``lamina.predict.ease``). A yardstick only, refused when its dense matrices exceed the
  memory budget.

numpy/scipy only: no torch here.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from lamina.predict.ease import DEFAULT_LAMBDAS, ease_top_k
from lamina.predict.metrics import popularity_top_k
from lamina.predict.recs import Csr
from lamina.registry import Registry

__all__ = ["BASELINES", "Baseline", "ease", "popularity"]


class Baseline(Protocol):
    """``(train, k, *, n_items, details=None, **options) -> (U, k')`` int64 items, best first,
    ``-1`` for padding; ``details`` (a dict) receives what the baseline chose, e.g. EASE's λ."""

    def __call__(
        self, train: Csr, k: int, *, n_items: int, details: dict[str, Any] | None = None
    ) -> np.ndarray: ...


BASELINES: Registry[Baseline] = Registry("baseline")


@BASELINES.decorator("popularity", aliases=("pop", "most-popular"))
def popularity(
    train: Csr, k: int, *, n_items: int, details: dict[str, Any] | None = None
) -> np.ndarray:
    """Recommend the items held by the most training users, skipping each user's own items.

    Args:
        train: U rows of training items.
        k: items per user.
        n_items: number of real items.
        details: unused (popularity chooses nothing).

    Returns:
        (U, min(k, n_items)) int64 items, ``-1`` once a user has run out.
    """
    return popularity_top_k(train, k, n_items=n_items)[0]


@BASELINES.decorator("ease")
def ease(
    train: Csr,
    k: int,
    *,
    n_items: int,
    details: dict[str, Any] | None = None,
    lam: float | None = None,
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
    memory_budget: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """EASE's top-k (Steck 2019); λ from ``lambdas`` by validation NDCG@10 unless ``lam`` is set.

    Args:
        train: U rows of training items.
        k: items per user.
        n_items: number of real items.
        details: receives ``lambda``, ``form`` and the validation NDCG@10 of every λ.
        lam: a fixed λ (no validation split).
        lambdas: the λ grid.
        memory_budget: bytes for the dense matrices (default: half the available RAM).
        seed: seed of the validation split.

    Returns:
        (U, min(k, n_items)) int64 items, ``-1`` padding.

    Raises:
        ModelError: the dense matrices exceed the memory budget.
    """
    return ease_top_k(
        train,
        k,
        n_items=n_items,
        lam=lam,
        lambdas=lambdas,
        seed=seed,
        memory_budget=memory_budget,
        details=details,
    )
