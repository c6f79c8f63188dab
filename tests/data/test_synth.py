"""Synthetic data: CSR shape, nnz, determinism, the sampler's law, and the planted clusters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.data.synth import synthesize, write_synthetic
from lamina.errors import UsageError


def _rows(data) -> np.ndarray:
    return np.repeat(np.arange(data.n_samples), np.diff(data.indptr))


def test_csr_is_well_formed() -> None:
    data = synthesize(samples=700, features=300, nnz=25, clusters=6, seed=1)
    assert data.indptr.shape == (701,) and data.indptr[0] == 0 and data.indptr[-1] == data.nnz
    assert data.indices.dtype == np.int64 and data.indptr.dtype == np.int64
    assert data.indices.min() >= 0 and data.indices.max() < 300 and data.width == 300
    same_row = np.diff(_rows(data)) == 0
    assert (np.diff(data.indices)[same_row] > 0).all()  # ascending, no repeats within a row
    assert np.diff(data.indptr).min() >= 1
    assert data.sample_cluster.shape == (700,) and set(np.unique(data.feature_cluster)) == set(
        range(6)
    )
    np.testing.assert_array_equal(data.row(3), data.indices[data.indptr[3] : data.indptr[4]])


def test_fixed_and_poisson_nnz() -> None:
    fixed = synthesize(samples=500, features=200, nnz=30, zipf=1.2, fixed_nnz=True, seed=2)
    assert (np.diff(fixed.indptr) == 30).all()  # top-up rounds reach K distinct items
    pois = synthesize(samples=4000, features=400, nnz=20, seed=2)
    counts = np.diff(pois.indptr)
    # mean of 4000 Poisson(20) draws: sd 0.07; variance ~ mean
    assert abs(counts.mean() - 20) < 0.35 and 15 < counts.var() < 25


def test_nnz_equal_to_features_fills_rows() -> None:
    data = synthesize(samples=20, features=15, nnz=15, zipf=2.0, fixed_nnz=True, seed=0)
    assert (np.diff(data.indptr) == 15).all()


def test_seed_determinism() -> None:
    a = synthesize(samples=300, features=100, nnz=10, seed=11)
    b = synthesize(samples=300, features=100, nnz=10, seed=11)
    c = synthesize(samples=300, features=100, nnz=10, seed=12)
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.indices.size != c.indices.size or not np.array_equal(a.indices, c.indices)


def test_single_draw_follows_zipf_law() -> None:
    """One cluster, no noise, one item per user: frequencies follow p(rank r) ∝ 1/(r+1)."""
    n_items, users = 20, 60_000
    data = synthesize(
        samples=users, features=n_items, nnz=1, zipf=1.0, clusters=1, noise=0.0,
        fixed_nnz=True, seed=4,
    )  # fmt: skip
    freq = np.sort(np.bincount(data.indices, minlength=n_items))[::-1] / users
    expected = 1.0 / np.arange(1, n_items + 1)
    expected /= expected.sum()
    # binomial sd <= sqrt(0.28 * 0.72 / 60000) ~ 0.0018; sorting adds little bias at this size
    np.testing.assert_allclose(freq, expected, atol=0.006)


def test_global_noise_follows_popularity() -> None:
    """noise=1: every draw is global popularity, the same law for users of every cluster."""
    data = synthesize(
        samples=40_000, features=10, nnz=1, zipf=1.5, clusters=5, noise=1.0,
        fixed_nnz=True, seed=8,
    )  # fmt: skip
    freq = np.sort(np.bincount(data.indices, minlength=10))[::-1] / 40_000
    expected = np.arange(1, 11, dtype=float) ** -1.5
    np.testing.assert_allclose(freq, expected / expected.sum(), atol=0.01)


def test_planted_clusters_are_real() -> None:
    clusters, noise = 5, 0.2
    data = synthesize(samples=3000, features=500, nnz=20, clusters=clusters, noise=noise, seed=3)
    rows = _rows(data)
    own = data.feature_cluster[data.indices] == data.sample_cluster[rows]
    # (1 - noise) of draws are in-cluster (a little less after removing repeats)
    assert own.mean() > 0.7  # vs 1 / clusters = 0.2 without structure
    # co-occurrence: two items of one cluster appear together far more than items of two clusters
    x = np.zeros((data.n_samples, data.width))
    x[rows, data.indices] = 1.0
    co = x.T @ x
    np.fill_diagonal(co, 0)
    same = data.feature_cluster[:, None] == data.feature_cluster[None, :]
    assert co[same].mean() > 5 * co[~same].mean()


def test_cluster_aware_ranking_beats_popularity() -> None:
    """Held-out items: ranking by the user's cluster's popularity beats global popularity."""
    data = synthesize(samples=4000, features=400, nnz=20, clusters=8, noise=0.2, seed=6)
    rng = np.random.default_rng(0)
    rows = _rows(data)
    test = rng.random(data.nnz) < 0.2
    x_train = np.zeros((data.n_samples, data.width), dtype=bool)
    x_train[rows[~test], data.indices[~test]] = True
    x_test = np.zeros_like(x_train)
    x_test[rows[test], data.indices[test]] = True
    pop = x_train.sum(0).astype(float)
    # a model that knows the user's cluster: popularity among that cluster's training users
    by_cluster = np.stack([x_train[data.sample_cluster == c].sum(0) for c in range(8)]).astype(
        float
    )

    def recall(scores: np.ndarray) -> float:
        scores = np.where(x_train, -np.inf, scores)
        top = np.argsort(-scores, axis=1)[:, :10]
        hits = np.take_along_axis(x_test, top, axis=1).sum(1)
        return float(hits.sum() / x_test.sum())

    global_recall = recall(np.broadcast_to(pop, x_train.shape))
    cluster_recall = recall(by_cluster[data.sample_cluster])
    assert cluster_recall > 2 * global_recall


def test_write_synthetic_text(tmp_path: Path) -> None:
    data = synthesize(samples=50, features=40, nnz=5, seed=0)
    out = tmp_path / "syn.txt"
    rows, elements = write_synthetic(data, out)
    lines = out.read_text().splitlines()
    assert rows == len(lines) == 50 and elements == data.nnz
    label, _, items = lines[7].partition("\t")
    assert label == "7" and [int(i) for i in items.split(":")] == data.row(7).tolist()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"nnz": 0},
        {"nnz": 41},
        {"clusters": 0},
        {"clusters": 41},
        {"noise": 1.5},
        {"zipf": -1.0},
        {"samples": 0},
    ],
)
def test_bad_arguments(kwargs: dict) -> None:
    args = {"samples": 10, "features": 40, "nnz": 5} | kwargs
    with pytest.raises(UsageError):
        synthesize(**args)


def test_gumbel_finish_matches_successive_sampling() -> None:
    """The exact tail sampler draws a 2-of-3 set with the successive-sampling probabilities."""
    from lamina.data.synth import _finish, _Sampler

    rng = np.random.default_rng(0)
    sampler = _Sampler(rng, features=3, clusters=1, zipf=1.0)
    users = 30_000
    rows, items = _finish(
        rng, sampler, 0.0, np.arange(users), np.zeros(users, np.int64),
        np.full(users, 2), np.zeros(0, np.int64), np.zeros(0, np.int64),
    )  # fmt: skip
    assert rows.size == 2 * users
    left_out = 3 - np.bincount(rows, weights=items).astype(int)  # items 0+1+2 = 3
    p = sampler.weights(0, 0.0)

    def pair(i: int, j: int) -> float:  # P({i, j}) = p_i p_j / (1 - p_i) + p_j p_i / (1 - p_j)
        return p[i] * p[j] / (1 - p[i]) + p[j] * p[i] / (1 - p[j])

    expected = np.array([pair(1, 2), pair(0, 2), pair(0, 1)])
    observed = np.bincount(left_out, minlength=3) / users
    np.testing.assert_allclose(observed, expected, atol=0.012)  # binomial sd < 0.003


def test_noise_zero_cannot_exceed_cluster() -> None:
    with pytest.raises(UsageError, match="smallest cluster"):
        synthesize(samples=10, features=40, nnz=15, clusters=4, noise=0.0, fixed_nnz=True)
    data = synthesize(samples=200, features=40, nnz=15, clusters=4, noise=0.0, seed=1)
    rows = _rows(data)
    assert (data.feature_cluster[data.indices] == data.sample_cluster[rows]).all()
    assert np.diff(data.indptr).max() <= 10
