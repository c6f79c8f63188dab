"""Synthetic implicit-feedback data with planted structure: users in latent clusters, Zipf tastes.

Generative model (all draws from one ``numpy.random.Generator(seed)``):

1. The ``features`` items are shuffled and cut into ``clusters`` near-equal, disjoint blocks; block
   ``c`` is cluster ``c``'s item set, in a random order that ranks its items.
2. Cluster ``c`` prefers its own items with a Zipf law over that rank: ``p_c(item of rank r) ∝
   (r + 1) ** -zipf``, zero outside the block.
3. Global popularity is an independent Zipf law over all items in another random order:
   ``p_g(rank r) ∝ (r + 1) ** -zipf``.
4. Each sample (user) joins a cluster uniformly at random, has a target count ``K_u ~ Poisson(nnz)``
   clipped to ``[1, reachable items]`` (or exactly ``nnz`` with ``fixed_nnz``), and draws items
   from the mixture ``(1 - noise) * p_c + noise * p_g`` *without replacement* (successive
   sampling: draw with replacement and skip repeats until ``K_u`` distinct items are seen). The
   first rounds draw vectorized with replacement (alias method); the few users still short after
   them get their remaining items by Gumbel-top-k over the unseen items, which is the same law.
   With ``noise=0`` only the cluster's own block is reachable.

A popularity ranking sees only the cluster-averaged mixture, so it cannot tell which block a user
belongs to; a model that learns the co-occurrence structure (items of one block co-occur far more
than items of two blocks) can. With ``clusters=1`` and ``noise=0`` it is plain Zipf popularity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from lamina.errors import UsageError

__all__ = ["SyntheticData", "synthesize", "write_synthetic"]

_MAX_ROUNDS = 4  # vectorized rounds; users still short then finish by exact Gumbel-top-k
_OVERSAMPLE = 1.25  # first round draws 1.25 K_u + 4 per user: most users need no second round


@dataclass(frozen=True)
class SyntheticData:
    """A synthetic sparse binary matrix in CSR form plus the planted truth.

    Attributes:
        indptr: (samples + 1,) int64 row starts.
        indices: (nnz,) int64 item of every non-zero, ascending within each row, no repeats.
        width: number of items (columns).
        sample_cluster: (samples,) int64 cluster of every user.
        feature_cluster: (features,) int64 cluster whose block holds every item.
    """

    indptr: np.ndarray
    indices: np.ndarray
    width: int
    sample_cluster: np.ndarray
    feature_cluster: np.ndarray

    @property
    def n_samples(self) -> int:
        """Number of rows."""
        return int(self.indptr.size - 1)

    @property
    def nnz(self) -> int:
        """Number of non-zeros."""
        return int(self.indices.size)

    def row(self, i: int) -> np.ndarray:
        """(k,) int64 items of sample ``i``."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]


def _zipf_p(n: int, exponent: float) -> np.ndarray:
    """(n,) probabilities ``p(r) ∝ (r + 1) ** -exponent``."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def _zipf_alias(n: int, exponent: float) -> tuple[np.ndarray, np.ndarray]:
    """Walker alias table of ``p(r) ∝ (r + 1) ** -exponent`` over ranks ``0..n-1``.

    Returns:
        ``(accept (n,) float64, alias (n,) int64)``: draw ``j`` uniform, keep it with probability
        ``accept[j]``, else take ``alias[j]``. O(1) per draw (Vose's construction, O(n) once).
    """
    accept = _zipf_p(n, exponent) * n
    alias = np.arange(n, dtype=np.int64)
    small = np.flatnonzero(accept < 1.0).tolist()
    large = np.flatnonzero(accept >= 1.0).tolist()
    while small and large:
        s, g = small.pop(), large[-1]
        alias[s] = g
        accept[g] -= 1.0 - accept[s]
        if accept[g] < 1.0:
            small.append(large.pop())
    accept[small + large] = 1.0  # leftovers are 1 up to rounding
    return accept, alias


class _Sampler:
    """Draws from ``(1 - noise) * p_cluster + noise * p_global``, vectorized (alias method)."""

    def __init__(self, rng: np.random.Generator, features: int, clusters: int, zipf: float) -> None:
        order = rng.permutation(features)
        self.bounds = (np.arange(clusters + 1) * features) // clusters  # block c: [b[c], b[c+1])
        self.block_items = order
        self.feature_cluster = np.empty(features, dtype=np.int64)
        # Per-block alias tables, concatenated; aliases are absolute positions in ``order``.
        self.block_accept = np.empty(features, dtype=np.float64)
        self.block_alias = np.empty(features, dtype=np.int64)
        for c in range(clusters):
            lo, hi = int(self.bounds[c]), int(self.bounds[c + 1])
            self.feature_cluster[order[lo:hi]] = c
            accept, alias = _zipf_alias(hi - lo, zipf)
            self.block_accept[lo:hi], self.block_alias[lo:hi] = accept, alias + lo
        self.global_items = rng.permutation(features)
        self.global_accept, self.global_alias = _zipf_alias(features, zipf)
        self.zipf = zipf

    def block_size(self, cluster: np.ndarray) -> np.ndarray:
        """(n,) number of items in each cluster's block."""
        return self.bounds[cluster + 1] - self.bounds[cluster]

    def weights(self, cluster: int, noise: float) -> np.ndarray:
        """(features,) mixture probability of every item for a user of ``cluster``."""
        w = np.zeros(self.global_items.size)
        w[self.global_items] = noise * _zipf_p(self.global_items.size, self.zipf)
        lo, hi = int(self.bounds[cluster]), int(self.bounds[cluster + 1])
        w[self.block_items[lo:hi]] += (1.0 - noise) * _zipf_p(hi - lo, self.zipf)
        return w

    def draw(self, rng: np.random.Generator, cluster: np.ndarray, noise: float) -> np.ndarray:
        """One item per entry of ``cluster`` ((n,) int64) -> (n,) int64 items."""
        lo = self.bounds[cluster]
        size = self.bounds[cluster + 1] - lo
        pos, keep = _alias_draw(rng.random(cluster.size), size, lo, self.block_accept)
        items = self.block_items[np.where(keep, pos, self.block_alias[pos])]
        from_global = np.flatnonzero(rng.random(cluster.size) < noise)
        if from_global.size:
            n = self.global_items.size
            g, keep = _alias_draw(rng.random(from_global.size), n, 0, self.global_accept)
            items[from_global] = self.global_items[np.where(keep, g, self.global_alias[g])]
        return items


def _alias_draw(
    u: np.ndarray, size: np.ndarray | int, lo: np.ndarray | int, accept: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split uniforms ``u`` into a bucket ``lo + floor(u * size)`` and an accept test (the rest).

    Returns:
        ``(positions, accepted)``: where not accepted, the draw is ``alias[position]``.
    """
    scaled = u * size
    bucket = np.minimum(scaled.astype(np.int64), np.asarray(size) - 1)
    pos = bucket + lo
    return pos, (scaled - bucket) < accept[pos]


def _first_distinct(
    rows: np.ndarray, items: np.ndarray, order: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the earliest (smallest ``order``) of every repeated (row, item) pair.

    Returns:
        ``(rows, items)`` grouped by row and, within a row, in ``order``. Works on packed int64 keys
        ``(row * width + item) << bits | order`` so that two plain sorts do all the work.
    """
    bits = max(int(order.max(initial=0)).bit_length(), 1)
    if (int(rows.max(initial=0)) + 1) * width << bits >= 1 << 62:
        raise UsageError("--samples x --features is too large for the synthetic generator")
    key = ((rows * width + items) << bits) | order
    key.sort()
    pair = key >> bits
    first = np.ones(key.size, dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    rows, items = np.divmod(pair[first], width)
    by_draw = np.argsort((rows << bits) | (key[first] & ((1 << bits) - 1)))
    return rows[by_draw], items[by_draw]


def _rank_in_run(rows: np.ndarray) -> np.ndarray:
    """(n,) position of every entry within its run of equal values of the sorted ``rows``."""
    if rows.size == 0:
        return rows.copy()
    heads = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[heads, rows.size])
    return np.arange(rows.size) - np.repeat(heads, lengths)


def _finish(
    rng: np.random.Generator,
    sampler: _Sampler,
    noise: float,
    pending: np.ndarray,
    sample_cluster: np.ndarray,
    target: np.ndarray,
    have_rows: np.ndarray,
    have_items: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Complete the rows still short of their target, one row at a time, by Gumbel-top-k.

    Successive sampling continued from the items a user already has equals sampling the deficit
    without replacement with probabilities proportional to the weights of the unseen items.
    """
    is_pending = np.zeros(sample_cluster.size, dtype=bool)
    is_pending[pending] = True
    mask = is_pending[have_rows]
    held_rows, held_items = have_rows[mask], have_items[mask]
    order = np.argsort(held_rows, kind="stable")
    held_rows, held_items = held_rows[order], held_items[order]
    starts = np.searchsorted(held_rows, pending)
    ends = np.searchsorted(held_rows, pending, side="right")
    out_rows, out_items = [], []
    weights_of: dict[int, np.ndarray] = {}
    for row, a, b in zip(pending.tolist(), starts.tolist(), ends.tolist(), strict=True):
        cluster = int(sample_cluster[row])
        if cluster not in weights_of:
            with np.errstate(divide="ignore"):  # unreachable items: log 0 = -inf, never chosen
                weights_of[cluster] = np.log(sampler.weights(cluster, noise))
        keys = weights_of[cluster] + rng.gumbel(size=weights_of[cluster].size)
        keys[held_items[a:b]] = -np.inf
        deficit = int(target[row]) - (b - a)
        chosen = np.argpartition(-keys, deficit - 1)[:deficit]
        chosen = chosen[np.isfinite(keys[chosen])]
        out_rows.append(np.full(chosen.size, row, dtype=np.int64))
        out_items.append(chosen.astype(np.int64))
    return np.concatenate(out_rows), np.concatenate(out_items)


def synthesize(
    *,
    samples: int,
    features: int,
    nnz: float,
    zipf: float = 1.0,
    clusters: int = 8,
    noise: float = 0.2,
    fixed_nnz: bool = False,
    seed: int = 0,
) -> SyntheticData:
    """Generate a clustered implicit-feedback matrix (model in the module docstring).

    Args:
        samples: rows (users).
        features: columns (items).
        nnz: mean non-zeros per row (``K``), at most ``features``.
        zipf: Zipf exponent of the within-cluster and global preferences (0 = uniform).
        clusters: number of latent user clusters (each owns ``features / clusters`` items).
        noise: share of draws that follow global popularity instead of the user's cluster.
        fixed_nnz: every row gets exactly ``round(nnz)`` items instead of Poisson(``nnz``).
        seed: the same arguments and seed give identical arrays.

    Returns:
        The CSR matrix and the planted clusters.

    Raises:
        UsageError: out-of-range arguments.

    Example:
        >>> data = synthesize(samples=1000, features=500, nnz=20, clusters=5, seed=1)
        >>> data.indptr.shape, data.width
        ((1001,), 500)
    """
    if samples < 1 or features < 1:
        raise UsageError(f"--samples and --features must be >= 1. Got {samples}, {features}.")
    if not 0 < nnz <= features:
        raise UsageError(f"--nnz must be in (0, features={features}]. Got {nnz}.")
    if not 1 <= clusters <= features:
        raise UsageError(f"--clusters must be in [1, features={features}]. Got {clusters}.")
    if not 0.0 <= noise <= 1.0 or zipf < 0:
        raise UsageError(f"--noise must be in [0, 1] and --zipf >= 0. Got {noise}, {zipf}.")
    rng = np.random.default_rng(seed)
    sampler = _Sampler(rng, features, clusters, zipf)
    sample_cluster = rng.integers(0, clusters, size=samples, dtype=np.int64)
    reachable = np.full(samples, features) if noise > 0 else sampler.block_size(sample_cluster)
    if fixed_nnz:
        target = np.full(samples, max(round(nnz), 1), dtype=np.int64)
        if (target > reachable).any():
            raise UsageError(
                f"--nnz {nnz} with --noise 0 is more than the {int(reachable.min())} items of the "
                f"smallest cluster; lower --nnz or --clusters, or add --noise"
            )
    else:
        target = np.clip(rng.poisson(nnz, size=samples), 1, reachable).astype(np.int64)

    # Round 1 for everyone, further rounds only for users still short of K_u distinct items.
    have_rows = np.zeros(0, dtype=np.int64)
    have_items = np.zeros(0, dtype=np.int64)
    pending = np.arange(samples, dtype=np.int64)
    n_draw = np.ceil(target * _OVERSAMPLE).astype(np.int64) + 4
    for _ in range(_MAX_ROUNDS):
        if pending.size == 0:
            break
        is_pending = np.zeros(samples, dtype=bool)
        is_pending[pending] = True
        in_pending = is_pending[have_rows]
        draw_rows = np.repeat(pending, n_draw[pending])
        rows = np.concatenate([have_rows[in_pending], draw_rows])
        items = np.concatenate(
            [have_items[in_pending], sampler.draw(rng, sample_cluster[draw_rows], noise)]
        )
        # Draw order: items a user already has come first (0), then new draws 1, 2, ...
        order_in_row = np.concatenate(
            [np.zeros(int(in_pending.sum()), np.int64), 1 + _rank_in_run(draw_rows)]
        )
        rows, items = _first_distinct(rows, items, order_in_row, features)
        keep = _rank_in_run(rows) < target[rows]
        have_rows = np.concatenate([have_rows[~in_pending], rows[keep]])
        have_items = np.concatenate([have_items[~in_pending], items[keep]])
        counts = np.bincount(have_rows, minlength=samples)
        pending = pending[counts[pending] < target[pending]]
        n_draw = np.maximum(target - counts, 0) * 2 + 4

    if pending.size:
        extra_rows, extra_items = _finish(
            rng, sampler, noise, pending, sample_cluster, target, have_rows, have_items
        )
        have_rows = np.concatenate([have_rows, extra_rows])
        have_items = np.concatenate([have_items, extra_items])
    keys = np.sort(have_rows * features + have_items)
    rows, indices = np.divmod(keys, features)
    indptr = np.zeros(samples + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=samples), out=indptr[1:])
    return SyntheticData(indptr, indices, features, sample_cluster, sampler.feature_cluster)


def write_synthetic(data: SyntheticData, path: str | os.PathLike[str]) -> tuple[int, int]:
    """Write ``data`` as DSSTNE text: sample ``i`` labelled ``i``, item ``j`` labelled ``j``.

    Returns:
        ``(rows written, elements written)``.
    """
    from lamina.data.importers.writer import write_dsstne_text  # pulls in pandas: only when writing

    return write_dsstne_text(
        path,
        sample_labels=np.arange(data.n_samples).astype(str),
        indptr=data.indptr,
        feature_labels=np.arange(data.width).astype(str),
        feature_codes=data.indices,
    )
