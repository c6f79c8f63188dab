"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): a closed-form item-item yardstick.

EASE is here only as a reference ranker that ``lamina evaluate --baselines ease`` scores beside a
network: a strong, cheap linear model that tells whether a trained network is any good. It is not
a Lamina model (it cannot be trained, saved or served), and it needs dense matrices: it is refused
(``ModelError``) when they exceed a memory budget (default half of the available RAM).

Model, for a binary user-item matrix ``X`` (U, n) of training rows: ``G = XᵀX + λI``,
``P = G⁻¹``, ``B = I - P · diag(1 / diag(P))`` (so ``diag(B) = 0``), scores ``S = X B``. Users'
own training items are excluded from the ranking, so only ``-(X P) / diag(P)`` matters. The
inverse is a Cholesky inverse (LAPACK ``potrf`` + ``potri``), in float64 by default. With fewer
users than items the same scores come from the U x U matrix ``XXᵀ + λI`` (Woodbury: the "dual"
form, ``XP = (XXᵀ + λI)⁻¹X``), which is cheaper and never forms an n x n matrix.

Choosing λ: a validation split is carved from the training rows with the anchors' protocol
(each user with >= 2 items gives ``round(0.2 n)`` random items, seeded, to validation); EASE is fit
on the rest for every λ of the grid and the λ with the best validation NDCG@10 is refit on all
training rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina.errors import ModelError, UsageError
from lamina.predict.metrics import evaluate_rankings
from lamina.predict.recs import Csr, top_k

__all__ = [
    "DEFAULT_LAMBDAS",
    "EaseSelection",
    "available_memory",
    "check_ease_memory",
    "ease_fit",
    "ease_inverse",
    "ease_memory",
    "ease_top_k",
    "holdout_rows",
    "select_lambda",
]

DEFAULT_LAMBDAS = (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0)
WORKING_COPIES = 3  # Gram, its LAPACK factor and the symmetrized inverse (n² each)
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


def ease_memory(n_items: int, n_users: int, *, dtype: type = np.float64) -> tuple[str, int]:
    """The cheaper exact form of EASE for this shape and the bytes it needs.

    ``"primal"`` inverts the n x n ``XᵀX + λI`` (``WORKING_COPIES n²`` numbers); ``"dual"``
    (Woodbury, when users are fewer than items) inverts the U x U ``XXᵀ + λI`` and keeps dense
    U x n matrices (``WORKING_COPIES (U² + U n)`` numbers).
    """
    size = np.dtype(dtype).itemsize
    primal = WORKING_COPIES * n_items * n_items * size
    dual = WORKING_COPIES * (n_users * n_users + n_users * n_items) * size
    return ("dual", dual) if dual < primal else ("primal", primal)


def check_ease_memory(
    n_items: int, n_users: int, *, memory_budget: int | None = None, dtype: type = np.float64
) -> tuple[str, int]:
    """Refuse EASE when its dense matrices would exceed the memory budget.

    Args:
        n_items: catalogue size n.
        n_users: training rows U.
        memory_budget: bytes allowed; default half of :func:`available_memory`.
        dtype: float dtype of the matrices.

    Returns:
        ``(form, bytes)`` as :func:`ease_memory`.

    Raises:
        ModelError: the need exceeds the budget (the message names the item count and limit).
    """
    budget = available_memory() // 2 if memory_budget is None else int(memory_budget)
    form, need = ease_memory(n_items, n_users, dtype=dtype)
    if need > budget:
        raise ModelError(
            f"EASE needs dense {n_items:,} x {n_items:,} item-item matrices "
            f"({need / 2**30:.2f} GiB in {np.dtype(dtype).name} for {n_items:,} items and "
            f"{n_users:,} users); the memory budget is {budget / 2**30:.2f} GiB",
            hint="drop ease from --baselines, or raise the budget with --ease-memory GIB",
        )
    return form, need


def _binary(rows: Csr, n_items: int, dtype: type) -> Any:
    """The (R, n) scipy CSR 0/1 matrix of ``rows`` (repeated items count once)."""
    import scipy.sparse as sp

    ok = (rows.indices >= 0) & (rows.indices < n_items)
    x = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=dtype), (rows.row_ids()[ok], rows.indices[ok])),
        shape=(rows.n_rows, n_items),
    )
    x.sum_duplicates()
    x.data[:] = 1
    return x


def ease_inverse(gram: np.ndarray, lam: float) -> np.ndarray:
    """``(G + λI)⁻¹`` by Cholesky (LAPACK potrf + potri), symmetric, in ``gram``'s dtype.

    Args:
        gram: (m, m) symmetric positive semi-definite matrix, e.g. ``XᵀX`` (left unchanged).
        lam: the ridge λ > 0.

    Returns:
        (m, m) the inverse.

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
        raise ModelError(f"EASE: the Gram matrix + {lam}·I is not positive definite (info {info})")
    upper = np.triu(c)
    del c
    upper += np.triu(upper, 1).T  # the full symmetric inverse
    return upper


def ease_fit(
    train: Csr, *, n_items: int, lam: float, dtype: type = np.float64, form: str = "primal"
) -> Callable[[np.ndarray], np.ndarray]:
    """Fit EASE on ``train``; return a scorer of its rows.

    Both forms give the same scores ``-(X P)_r / diag(P)`` (``X B`` off the row's own items):
    ``"primal"`` forms ``P = (XᵀX + λI)⁻¹``; ``"dual"`` uses ``XP = (XXᵀ + λI)⁻¹X`` and
    ``diag(P) = (1 - colsum(X ∘ XP)) / λ`` (Woodbury), never forming an n x n matrix.

    Args:
        train: U training rows.
        n_items: catalogue size n.
        lam: λ > 0.
        dtype: float dtype.
        form: ``"primal"`` or ``"dual"`` (see :func:`ease_memory`).

    Returns:
        ``scores(rows)``: (len(rows),) training-row ids -> (len(rows), n) scores.
    """
    x = _binary(train, n_items, dtype)
    if form == "dual":
        dense: np.ndarray = np.asarray(x.toarray(), dtype=dtype)  # (U, n)
        xp = ease_inverse(np.asarray((x @ x.T).toarray(), dtype=dtype), lam) @ dense
        diag = (1.0 - np.einsum("ui,ui->i", dense, xp)) / lam
        del dense
        return lambda rows: -xp[rows] / diag[None, :]
    inverse = ease_inverse(np.asarray((x.T @ x).toarray(), dtype=dtype), lam)
    diag = np.diag(inverse).copy()
    return lambda rows: -np.asarray(x[rows] @ inverse) / diag[None, :]


def _rank(
    train: Csr, scores: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, k: int, n_items: int
) -> np.ndarray:
    """(len(rows), k') top-k of EASE ``scores`` for training rows ``rows``, own items excluded."""
    chunks = []
    for r0 in range(0, rows.size, _USER_CHUNK):
        ids = rows[r0 : r0 + _USER_CHUNK]
        idx, _ = top_k(scores(ids), k, n_real=n_items, exclude=train.select(ids))
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
    form, _ = ease_memory(n_items, fit.n_rows, dtype=dtype)
    held_u = held.select(users)
    scores: dict[float, float] = {}
    for lam in grid:
        scorer = ease_fit(fit, n_items=n_items, lam=lam, dtype=dtype, form=form)
        ranked = _rank(fit, scorer, users, 10, n_items)
        del scorer
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
    form, _ = check_ease_memory(n_items, train.n_rows, memory_budget=memory_budget, dtype=dtype)
    if lam is None:
        selection = select_lambda(train, n_items=n_items, lambdas=lambdas, seed=seed, dtype=dtype)
    else:
        selection = EaseSelection(lam=float(lam))
    scorer = ease_fit(train, n_items=n_items, lam=selection.lam, dtype=dtype, form=form)
    ranked = _rank(train, scorer, np.arange(train.n_rows), k, n_items)
    if details is not None:
        details["lambda"] = selection.lam
        details["form"] = form
        details["validation_ndcg@10"] = {str(lam): v for lam, v in selection.scores.items()}
        details["validation_users"] = selection.users
    return ranked
