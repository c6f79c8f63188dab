"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): a closed-form item-item yardstick.

EASE is here only as a reference ranker that ``lamina evaluate --baselines ease`` scores beside a
network: a strong, cheap linear model that tells whether a trained network is any good. It is not
a Lamina model (it cannot be trained, saved or served) and needs a dense ``n_items x n_items``
matrix, so it is refused when that matrix does not fit the memory budget.

Model, for a binary user-item matrix ``X`` (U, n) of training rows: ``G = XᵀX + λI``,
``P = G⁻¹``, ``B = I - P · diag(1 / diag(P))`` (so ``diag(B) = 0``), scores ``S = X B``. Users'
own training items are excluded from the ranking, so only ``-(X P) / diag(P)`` matters. The
inverse is a Cholesky inverse (LAPACK ``potrf`` + ``potri``) in float64 by default.

Choosing λ: a validation split is carved from the training rows with the anchors' protocol
(each user with >= 2 items gives ``round(0.2 n)`` random items, seeded, to validation); EASE is fit
on the rest for every λ of the grid and the λ with the best validation NDCG@10 is refit on all
training rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lamina.errors import ModelError, UsageError
from lamina.predict.metrics import evaluate_rankings
from lamina.predict.recs import Csr, top_k

__all__ = [
    "DEFAULT_LAMBDAS",
    "EaseSelection",
    "available_memory",
    "check_ease_memory",
    "ease_inverse",
    "ease_scores",
    "ease_top_k",
    "holdout_rows",
    "select_lambda",
]

DEFAULT_LAMBDAS = (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0)
WORKING_COPIES = 3  # Gram/inverse, its LAPACK copy and the symmetrized inverse: n^2 each
_USER_CHUNK = 1024  # users scored per matmul: bounds the (chunk, n) score block


@dataclass(frozen=True)
class EaseSelection:
    """The λ chosen on a validation split, with every grid point's validation NDCG@10.

    Attributes:
        lam: the chosen λ (the highest validation NDCG@10; ties: the smaller λ).
        scores: λ -> validation NDCG@10.
        users: validation users (training rows that gave items to validation).
    """

    lam: float
    scores: dict[float, float] = field(default_factory=dict)
    users: int = 0


def available_memory() -> int:
    """Bytes of RAM available now (``MemAvailable`` of /proc/meminfo, else total physical RAM)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 8 << 30


def check_ease_memory(
    n_items: int, *, memory_budget: int | None = None, dtype: type = np.float64
) -> int:
    """Refuse EASE when its dense item-item matrices would exceed the memory budget.

    Args:
        n_items: catalogue size n.
        memory_budget: bytes allowed; default half of :func:`available_memory`.
        dtype: float dtype of the matrices.

    Returns:
        The bytes EASE needs: ``WORKING_COPIES * n² * itemsize``.

    Raises:
        ModelError: the need exceeds the budget (the message names the item count and limit).
    """
    budget = available_memory() // 2 if memory_budget is None else int(memory_budget)
    need = WORKING_COPIES * n_items * n_items * np.dtype(dtype).itemsize
    if need > budget:
        raise ModelError(
            f"EASE needs {WORKING_COPIES} dense {n_items:,} x {n_items:,} "
            f"{np.dtype(dtype).name} matrices ({need / 2**30:.2f} GiB) for {n_items:,} items; "
            f"the memory budget is {budget / 2**30:.2f} GiB",
            hint="drop ease from --baselines, or raise the budget with --ease-memory GIB",
        )
    return need


def _gram(train: Csr, n_items: int, dtype: type) -> np.ndarray:
    """(n, n) ``XᵀX`` of the binary matrix of ``train`` (repeated items count once)."""
    import scipy.sparse as sp

    ok = (train.indices >= 0) & (train.indices < n_items)
    x = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=dtype), (train.row_ids()[ok], train.indices[ok])),
        shape=(train.n_rows, n_items),
    )
    x.sum_duplicates()
    x.data[:] = 1
    return np.asarray((x.T @ x).toarray(), dtype=dtype)


def ease_inverse(gram: np.ndarray, lam: float) -> np.ndarray:
    """``P = (G + λI)⁻¹`` by Cholesky (LAPACK potrf + potri), symmetric, ``gram``'s dtype.

    Args:
        gram: (n, n) ``XᵀX`` (left unchanged).
        lam: the ridge λ > 0.

    Returns:
        (n, n) ``P``.

    Raises:
        UsageError: ``lam <= 0``. ModelError: ``G + λI`` is not positive definite.
    """
    from scipy.linalg import lapack

    if not lam > 0:
        raise UsageError(f"EASE lambda must be > 0, found {lam}")
    a = np.array(gram, order="F", copy=True)
    a[np.diag_indices_from(a)] += lam
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (a,))
    c, info = potrf(a, lower=False, overwrite_a=True, clean=False)
    if info == 0:
        c, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise ModelError(f"EASE: XᵀX + {lam}·I is not positive definite (LAPACK info {info})")
    upper = np.triu(c)
    del c
    upper += np.triu(upper, 1).T  # the full symmetric inverse
    return upper


def ease_scores(rows: Csr, inverse: np.ndarray) -> np.ndarray:
    """(R, n) EASE scores ``-(X P) / diag(P)`` of ``rows`` (own items not removed).

    Equals ``X B`` with ``B = I - P diag(1/diag(P))`` on every item outside the row.
    """
    import scipy.sparse as sp

    n = inverse.shape[0]
    ok = (rows.indices >= 0) & (rows.indices < n)
    x = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=inverse.dtype), (rows.row_ids()[ok], rows.indices[ok])),
        shape=(rows.n_rows, n),
    )
    x.sum_duplicates()
    x.data[:] = 1
    return -np.asarray(x @ inverse) / np.diag(inverse)[None, :]


def _rank(train: Csr, inverse: np.ndarray, k: int, n_items: int) -> np.ndarray:
    chunks = []
    for r0 in range(0, train.n_rows, _USER_CHUNK):
        part = train.select(slice(r0, min(train.n_rows, r0 + _USER_CHUNK)))
        idx, _ = top_k(ease_scores(part, inverse), k, n_real=n_items, exclude=part)
        chunks.append(idx)
    return np.concatenate(chunks) if chunks else np.zeros((0, min(k, n_items)), np.int64)


def holdout_rows(train: Csr, *, fraction: float = 0.2, seed: int = 0) -> tuple[Csr, Csr]:
    """Split every row with >= 2 distinct items: ``round(fraction n)`` random items (at least 1,
    at most n - 1) to the second part, the rest to the first; smaller rows stay in the first.

    Returns:
        ``(fit, held)``: two Csr with ``train``'s rows, in order.
    """
    rng = np.random.default_rng(seed)
    fit_rows: list[np.ndarray] = []
    held_rows: list[np.ndarray] = []
    for r in range(train.n_rows):
        items = np.unique(train.indices[train.indptr[r] : train.indptr[r + 1]])
        n = items.size
        take = min(max(math.floor(fraction * n + 0.5), 1), n - 1) if n >= 2 else 0
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, size=take, replace=False)] = True
        fit_rows.append(items[~mask])
        held_rows.append(items[mask])

    def build(rows: list[np.ndarray]) -> Csr:
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        return Csr(indptr, indices.astype(np.int64))

    return build(fit_rows), build(held_rows)


def select_lambda(
    train: Csr,
    *,
    n_items: int,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    fraction: float = 0.2,
    seed: int = 0,
    dtype: type = np.float64,
) -> EaseSelection:
    """Choose λ by validation NDCG@10 on a split carved from the training rows.

    Args:
        train: U training rows.
        n_items: catalogue size.
        lambdas: the grid (each > 0).
        fraction: share of each row's items held out for validation.
        seed: seed of the validation split.
        dtype: float dtype of the item-item matrices.

    Returns:
        The chosen λ and each λ's validation NDCG@10.

    Raises:
        UsageError: an empty grid or λ <= 0. ModelError: no row can give validation items.
    """
    grid = sorted({float(lam) for lam in lambdas})
    if not grid or grid[0] <= 0:
        raise UsageError(f"EASE lambdas must be positive numbers, found {list(lambdas)}")
    fit, held = holdout_rows(train, fraction=fraction, seed=seed)
    users = np.flatnonzero(np.diff(held.indptr) > 0)
    if users.size == 0:
        raise ModelError("EASE: no training row has 2 or more items to carve a validation split")
    if len(grid) == 1:
        return EaseSelection(lam=grid[0], scores={}, users=int(users.size))
    gram = _gram(fit, n_items, dtype)
    fit_u, held_u = fit.select(users), held.select(users)
    scores: dict[float, float] = {}
    for lam in grid:
        inverse = ease_inverse(gram, lam)
        ranked = _rank(fit_u, inverse, 10, n_items)
        del inverse
        scores[lam] = evaluate_rankings(ranked, held_u, (10,), n_items=n_items)["ndcg@10"]
    best = max(grid, key=lambda lam: (scores[lam], -lam))
    return EaseSelection(lam=best, scores=scores, users=int(users.size))


def ease_top_k(
    train: Csr,
    k: int,
    *,
    n_items: int,
    lam: float | None = None,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    seed: int = 0,
    memory_budget: int | None = None,
    dtype: type = np.float64,
    details: dict[str, object] | None = None,
) -> np.ndarray:
    """EASE's top-k for every training row, own items excluded.

    Args:
        train: U rows of training items.
        k: items per user.
        n_items: catalogue size n.
        lam: a fixed λ; ``None`` chooses it from ``lambdas`` (:func:`select_lambda`).
        lambdas: the λ grid.
        seed: seed of the validation split.
        memory_budget: bytes allowed for the n x n matrices (default: half the available RAM).
        dtype: np.float64 (default) or np.float32.
        details: if given, receives ``lambda``, ``validation_ndcg@10`` (λ -> value) and
            ``validation_users``.

    Returns:
        (U, min(k, n_items)) int64 items, best first, ``-1`` padding.

    Raises:
        ModelError: the dense matrices exceed ``memory_budget``. UsageError: bad ``k`` or λ.

    Example:
        >>> ease_top_k(Csr.from_rows([[0, 1], [1, 2], [0, 2], [0]]), 1, n_items=3, lam=1.0)
        ... # doctest: +SKIP
    """
    if k < 1:
        raise UsageError(f"k must be >= 1, found {k}")
    check_ease_memory(n_items, memory_budget=memory_budget, dtype=dtype)
    if lam is None:
        selection = select_lambda(train, n_items=n_items, lambdas=lambdas, seed=seed, dtype=dtype)
    else:
        selection = EaseSelection(lam=float(lam))
    inverse = ease_inverse(_gram(train, n_items, dtype), selection.lam)
    ranked = _rank(train, inverse, k, n_items)
    if details is not None:
        details["lambda"] = selection.lam
        details["validation_ndcg@10"] = {str(lam): v for lam, v in selection.scores.items()}
        details["validation_users"] = selection.users
    return ranked
