"""Ranking metrics for top-k recommendations, and the popularity baseline.

Definitions, for one user with relevant (held-out) set ``R`` (``|R| >= 1``) and ranking
``r_1, r_2, ...`` (best first; ``-1`` entries are padding and never hits), ``hits@k = |{j <= k :
r_j in R}|``, binary relevance:

* ``precision@k = hits@k / k`` (a ranking shorter than ``k`` still divides by ``k``).
* ``recall@k = hits@k / min(k, |R|)``: the "truncated" recall of Liang et al. 2018 (Mult-VAE) and
  Steck 2019 (EASE), the one ``anchors.md`` section 2 reports as Recall@20; it reaches 1.
* ``recall_dsstne@k = hits@k / |R|``: plain recall, as DSSTNE's ``encoder`` Predict mode had it.
* ``ndcg@k = DCG@k / IDCG@k`` with ``DCG@k = sum_{j <= k, r_j in R} 1 / log2(j + 1)`` and ``IDCG@k``
  the DCG of ``min(k, |R|)`` hits at the top; it reaches 1.
* ``ndcg_dsstne@k``: IDCG over all ``|R|`` hits, as DSSTNE's ``encoder`` (< 1 when ``|R| > k``).
* ``coverage@k = |distinct items in all users' top-k| / n_items`` (catalogue coverage).
* ``pop1%@k`` = share of all (non-padding) top-k entries that are among the ``ceil(1% n_items)``
  most popular items (training popularity; ties by lower item index); 0 if there are no entries.

Per-user metrics are averaged over users with ``|R| >= 1``; the others are skipped and counted.
Coverage and ``pop1%`` use every ranking row. DSSTNE's encoder averaged over all examples and
reported k = 1..10 only; it zeroed (rather than removed) the user's input items before ranking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from lamina.errors import DataError, UsageError
from lamina.predict.recs import Csr

__all__ = [
    "DEFAULT_KS",
    "evaluate_rankings",
    "hit_matrix",
    "most_popular_items",
    "ndcg_at_k",
    "popularity_scores",
    "popularity_top_k",
    "precision_at_k",
    "recall_at_k",
]

DEFAULT_KS = (1, 5, 10, 20, 50, 100)


def hit_matrix(topk: np.ndarray, relevant: Csr, *, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Which ranked items are relevant.

    Args:
        topk: (U, K) int item indices, best first; ``-1`` marks padding.
        relevant: U rows of relevant items (repeats are counted once).
        n_items: number of items; every index must be below it.

    Returns:
        ``(hits, n_relevant)``: (U, K) bool and (U,) int64 ``|R|`` per user.

    Raises:
        UsageError: shapes disagree or ``topk`` has an index outside ``[-1, n_items)``.
        DataError: a relevant item outside ``[0, n_items)``.
    """
    topk = np.asarray(topk, dtype=np.int64)
    if topk.ndim != 2 or topk.shape[0] != relevant.n_rows:
        raise UsageError(
            f"rankings must be (U, K) with U = {relevant.n_rows} relevant rows, found {topk.shape}"
        )
    if topk.size and (topk.min() < -1 or topk.max() >= n_items):
        raise UsageError(f"rankings must hold item indices in [0, {n_items}) or -1")
    if relevant.nnz and (relevant.indices.min() < 0 or relevant.indices.max() >= n_items):
        raise DataError(f"relevant items must be in [0, {n_items}), found one outside")
    keys = np.unique(relevant.row_ids() * n_items + relevant.indices)  # sorted (user, item)
    n_relevant = np.bincount(keys // n_items, minlength=relevant.n_rows).astype(np.int64)
    query = np.arange(topk.shape[0], dtype=np.int64)[:, None] * n_items + topk
    pos = np.minimum(np.searchsorted(keys, query), max(keys.size - 1, 0))
    hits = (topk >= 0) & (keys[pos] == query) if keys.size else np.zeros(topk.shape, bool)
    return hits, n_relevant


def precision_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """(U,) ``hits@k / k`` from a (U, K) hit matrix."""
    return hits[:, :k].sum(axis=1) / k


def recall_at_k(
    hits: np.ndarray, n_relevant: np.ndarray, k: int, *, dsstne: bool = False
) -> np.ndarray:
    """(U,) ``hits@k / min(k, |R|)``, or ``hits@k / |R|`` with ``dsstne``; needs ``|R| >= 1``."""
    denom = n_relevant if dsstne else np.minimum(k, n_relevant)
    return hits[:, :k].sum(axis=1) / denom


def ndcg_at_k(
    hits: np.ndarray, n_relevant: np.ndarray, k: int, *, dsstne: bool = False
) -> np.ndarray:
    """(U,) binary NDCG@k, log2 discount; IDCG over ``min(k, |R|)`` (or ``|R|`` with ``dsstne``)."""
    m = n_relevant if dsstne else np.minimum(k, n_relevant)
    size = max(k, int(m.max(initial=1)))
    discount = 1.0 / np.log2(np.arange(2, size + 2, dtype=np.float64))  # position j -> 1/log2(j+1)
    ideal = np.cumsum(discount)
    dcg = hits[:, :k] @ discount[: min(k, hits.shape[1])]
    return dcg / ideal[np.maximum(m, 1) - 1]


def most_popular_items(popularity: np.ndarray, fraction: float = 0.01) -> np.ndarray:
    """(n_items,) bool mask of the ``ceil(fraction * n_items)`` most popular items (ties: lower
    index first)."""
    popularity = np.asarray(popularity, dtype=np.float64).reshape(-1)
    n_top = max(1, math.ceil(fraction * popularity.size)) if popularity.size else 0
    order = np.argsort(-popularity, kind="stable")
    mask = np.zeros(popularity.size, dtype=bool)
    mask[order[:n_top]] = True
    return mask


def evaluate_rankings(
    topk_indices: np.ndarray,
    relevant: Csr,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    n_items: int,
    item_popularity: np.ndarray | None = None,
    dsstne_variants: bool = False,
) -> dict[str, float]:
    """Ranking metrics at each k (definitions in the module docstring).

    Args:
        topk_indices: (U, K) item indices, best first, ``-1`` for padding (as from ``top_k``).
        relevant: U rows of held-out (relevant) items.
        ks: cut-offs; a ``k > K`` uses the K entries there are.
        n_items: number of real items (coverage's denominator).
        item_popularity: (n_items,) training counts; enables ``pop1%@k``.
        dsstne_variants: also report ``recall_dsstne@k`` and ``ndcg_dsstne@k``.

    Returns:
        ``{"precision@10": ..., "recall@10": ..., "ndcg@10": ..., "coverage@10": ...,
        "pop1%@10": ..., "users": U_evaluated, "users_skipped": U_without_relevant_items}``.

    Raises:
        UsageError: bad ``ks`` or shapes. DataError: no user has a relevant item.

    Example:
        >>> evaluate_rankings(np.array([[2, 0]]), Csr.from_rows([[0]]), ks=(1, 2), n_items=3)
        ... # doctest: +ELLIPSIS
        {'precision@1': 0.0, 'recall@1': 0.0, 'ndcg@1': 0.0, 'coverage@1': 0.333..., ...}
    """
    if not ks or any(int(k) < 1 for k in ks):
        raise UsageError(f"ks must be positive integers, found {list(ks)}")
    hits, n_rel = hit_matrix(topk_indices, relevant, n_items=n_items)
    topk = np.asarray(topk_indices, dtype=np.int64)
    users = n_rel > 0
    if not users.any():
        raise DataError("no user has a relevant (held-out) item: nothing to evaluate")
    hits, n_rel = hits[users], n_rel[users]
    top_mask = None
    if item_popularity is not None:
        if np.shape(item_popularity) != (n_items,):
            raise UsageError(f"item_popularity must have shape ({n_items},)")
        top_mask = most_popular_items(item_popularity)
    out: dict[str, float] = {}
    for k in (int(k) for k in ks):
        out[f"precision@{k}"] = float(precision_at_k(hits, k).mean())
        out[f"recall@{k}"] = float(recall_at_k(hits, n_rel, k).mean())
        out[f"ndcg@{k}"] = float(ndcg_at_k(hits, n_rel, k).mean())
        if dsstne_variants:
            out[f"recall_dsstne@{k}"] = float(recall_at_k(hits, n_rel, k, dsstne=True).mean())
            out[f"ndcg_dsstne@{k}"] = float(ndcg_at_k(hits, n_rel, k, dsstne=True).mean())
        shown = topk[:, :k][topk[:, :k] >= 0]
        out[f"coverage@{k}"] = np.unique(shown).size / n_items if n_items else 0.0
        if top_mask is not None:
            out[f"pop1%@{k}"] = float(top_mask[shown].mean()) if shown.size else 0.0
    out["users"] = float(users.sum())
    out["users_skipped"] = float((~users).sum())
    return out


def popularity_scores(train: Csr, n_items: int) -> np.ndarray:
    """(n_items,) float32 item popularity: the number of training rows (users) holding each item.

    Items ``>= n_items`` are ignored; an item repeated in one row counts once.
    """
    ok = (train.indices >= 0) & (train.indices < n_items)
    pairs = np.unique(train.row_ids()[ok] * n_items + train.indices[ok])
    return np.bincount(pairs % n_items, minlength=n_items).astype(np.float32)


def popularity_top_k(
    train: Csr, k: int, *, n_items: int, popularity: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The popularity baseline: each user's ``k`` most popular items not in their training row.

    Equal to ``top_k(broadcast(popularity), k, exclude=train)`` without building the (U, n_items)
    score matrix: every user walks the same global ranking, skipping their own items.

    Args:
        train: U rows of training items (excluded from each user's ranking).
        k: how many to recommend, ``k >= 1``.
        n_items: number of items.
        popularity: (n_items,) scores; default ``popularity_scores(train, n_items)``.

    Returns:
        ``(indices, values)``: (U, min(k, n_items)) int64 items and float32 popularity; ``-1`` and
        NaN once a user has run out of items.
    """
    if k < 1:
        raise UsageError(f"k must be >= 1, found {k}")
    pop = popularity_scores(train, n_items) if popularity is None else np.asarray(popularity)
    pop = pop.astype(np.float32).reshape(-1)
    if pop.size != n_items:
        raise UsageError(f"popularity must have shape ({n_items},), found {pop.shape}")
    order = np.argsort(-pop, kind="stable")  # global ranking; ties by lower item index
    rank = np.empty(n_items, dtype=np.int64)
    rank[order] = np.arange(n_items)
    ok = (train.indices >= 0) & (train.indices < n_items)
    u = train.row_ids()[ok]
    keys = np.unique(u * n_items + rank[train.indices[ok]])  # (user, excluded rank), sorted
    u, r = keys // n_items, keys % n_items
    starts = np.searchsorted(u, np.arange(train.n_rows + 1))
    # Free slots before the i-th excluded rank of a user: t = r - i. The j-th free slot of a user
    # is at rank j + #{i : t_i <= j} (t is non-decreasing within a user).
    t = r - (np.arange(keys.size) - starts[u])
    kk = min(k, n_items)
    j = np.arange(kk, dtype=np.int64)
    big = n_items + kk + 1
    tk = u * big + t
    users = np.arange(train.n_rows, dtype=np.int64)[:, None]
    below = np.searchsorted(tk, users * big + j, side="right") - starts[:-1, None]
    ranks = j + below  # (U, kk)
    ok_rank = ranks < n_items
    items = np.where(ok_rank, order[np.minimum(ranks, n_items - 1)], -1)
    values = np.where(ok_rank, pop[np.maximum(items, 0)], np.float32(np.nan)).astype(np.float32)
    return items, values
