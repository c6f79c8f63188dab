"""Ranking metrics on hand-computed cases, against references, and their properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.errors import DataError, UsageError
from lamina.predict import (
    Csr,
    evaluate_rankings,
    hit_matrix,
    most_popular_items,
    ndcg_at_k,
    popularity_scores,
    popularity_top_k,
    recall_at_k,
    top_k,
)

D2, D3, D4 = 1.0 / math.log2(3), 1.0 / math.log2(4), 1.0 / math.log2(5)  # discounts, ranks 2-4

# Three users, six items.
TOPK = np.array([[0, 1, 2, 3], [5, 4, -1, -1], [0, 2, 4, 5]])
RELEVANT = Csr.from_rows([[1, 3, 5], [5], []])  # user 2 has nothing held out: skipped
POPULARITY = np.array([1, 1, 0, 0, 9, 2])  # top 1% of 6 items = ceil(0.06) = 1 item: item 4


def test_hand_computed_metrics():
    m = evaluate_rankings(
        TOPK, RELEVANT, ks=(1, 2, 4), n_items=6, item_popularity=POPULARITY, dsstne_variants=True
    )
    # user 0 hits = [0, 1, 0, 1], |R| = 3;  user 1 hits = [1, 0, 0, 0], |R| = 1
    assert m["users"] == 2 and m["users_skipped"] == 1
    assert m["precision@1"] == pytest.approx((0 + 1) / 2)  # (0/1 + 1/1) / 2
    assert m["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert m["precision@4"] == pytest.approx((2 / 4 + 1 / 4) / 2)  # padding counts as a miss
    assert m["recall@1"] == pytest.approx((0 / 1 + 1 / 1) / 2)  # / min(k, |R|)
    assert m["recall@2"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert m["recall@4"] == pytest.approx((2 / 3 + 1 / 1) / 2)
    assert m["recall_dsstne@2"] == pytest.approx((1 / 3 + 1) / 2)  # / |R|
    assert m["recall_dsstne@4"] == pytest.approx((2 / 3 + 1) / 2)
    # user 0: DCG@2 = D2, IDCG over min(2, 3) = 2 hits = 1 + D2; DCG@4 = D2 + D4, IDCG = 1 + D2 + D3
    assert m["ndcg@1"] == pytest.approx((0 + 1) / 2)
    assert m["ndcg@2"] == pytest.approx((D2 / (1 + D2) + 1) / 2)
    assert m["ndcg@4"] == pytest.approx(((D2 + D4) / (1 + D2 + D3) + 1) / 2)
    assert m["ndcg@4"] == pytest.approx((0.49819 + 1) / 2, abs=1e-5)  # 1.06161 / 2.13093
    assert m["ndcg_dsstne@2"] == pytest.approx((D2 / (1 + D2 + D3) + 1) / 2)  # IDCG over all 3
    # coverage over all rows: first column {0, 5} -> 2/6; first two {0,1,5,4,2} -> 5/6; all six
    assert m["coverage@1"] == pytest.approx(2 / 6)
    assert m["coverage@2"] == pytest.approx(5 / 6)
    assert m["coverage@4"] == pytest.approx(1.0)
    # entries that are item 4: @1 none of 3; @2 one of 6 (user 1); @4 two of 10 (users 1 and 2)
    assert m["pop1%@1"] == 0.0
    assert m["pop1%@2"] == pytest.approx(1 / 6)
    assert m["pop1%@4"] == pytest.approx(2 / 10)


def test_k_beyond_ranking_and_default_keys():
    m = evaluate_rankings(TOPK, RELEVANT, n_items=6)
    # k = 100 > K = 4: the 4 entries there are; user 0 hits 2 of min(100, 3), user 1 1 of 1
    assert m["recall@100"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["precision@100"] == pytest.approx((2 / 100 + 1 / 100) / 2)
    assert "pop1%@10" not in m and "recall_dsstne@10" not in m
    assert {f"ndcg@{k}" for k in (1, 5, 10, 20, 50, 100)} <= set(m)


def test_errors():
    with pytest.raises(DataError, match="no user has a relevant"):
        evaluate_rankings(TOPK, Csr.from_rows([[], [], []]), n_items=6)
    with pytest.raises(UsageError, match="ks must be positive"):
        evaluate_rankings(TOPK, RELEVANT, ks=(0,), n_items=6)
    with pytest.raises(UsageError, match=r"item indices in \[0, 5\)"):
        evaluate_rankings(TOPK, RELEVANT, n_items=5)
    with pytest.raises(DataError, match="relevant items"):
        hit_matrix(np.zeros((1, 1), int), Csr.from_rows([[9]]), n_items=6)
    with pytest.raises(UsageError, match="U = 3"):
        hit_matrix(np.zeros((2, 1), int), RELEVANT, n_items=6)
    with pytest.raises(UsageError, match="item_popularity"):
        evaluate_rankings(TOPK, RELEVANT, n_items=6, item_popularity=np.ones(3))


def test_duplicate_relevant_items_count_once():
    hits, n_rel = hit_matrix(np.array([[2, 1]]), Csr.from_rows([[1, 1, 3]]), n_items=4)
    assert hits.tolist() == [[False, True]] and n_rel.tolist() == [2]


def test_most_popular_items_ties_and_size():
    # 250 items -> ceil(2.5) = 3 most popular; ties go to the lower index
    pop = np.zeros(250)
    pop[[7, 9, 11, 13]] = 5
    assert np.flatnonzero(most_popular_items(pop)).tolist() == [7, 9, 11]


# --- references and properties ----------------------------------------------------------------

rankings = st.integers(2, 12).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.permutations(list(range(n))), min_size=1, max_size=5),
        st.data(),
    )
)


def draw_relevant(data, n, users):
    return [data.draw(st.lists(st.integers(0, n - 1), max_size=n, unique=True)) for _ in users]


@settings(max_examples=40, deadline=None)
@given(case=rankings, k=st.integers(1, 14))
def test_against_plain_python_and_sklearn(case, k):
    from sklearn.metrics import ndcg_score

    n, perms, data = case
    rel = draw_relevant(data, n, perms)
    topk = np.array(perms)
    hits, n_rel = hit_matrix(topk, Csr.from_rows(rel), n_items=n)
    for u, (perm, r) in enumerate(zip(perms, rel, strict=True)):
        want = [p in set(r) for p in perm]
        assert hits[u].tolist() == want
        if not r:
            continue
        got = float(ndcg_at_k(hits[u : u + 1], n_rel[u : u + 1], k)[0])
        dcg = sum(1 / math.log2(j + 2) for j, h in enumerate(want[:k]) if h)
        idcg = sum(1 / math.log2(j + 2) for j in range(min(k, len(r))))
        assert got == pytest.approx(dcg / idcg)
        y_true = np.zeros((1, n))
        y_true[0, r] = 1
        y_score = np.zeros((1, n))
        y_score[0, perm] = np.arange(n, 0, -1)  # the ranking as descending scores
        assert got == pytest.approx(ndcg_score(y_true, y_score, k=k))
        assert float(recall_at_k(hits[u : u + 1], n_rel[u : u + 1], k)[0]) == pytest.approx(
            sum(want[:k]) / min(k, len(r))
        )


@settings(max_examples=40, deadline=None)
@given(case=rankings)
def test_metrics_in_unit_interval(case):
    n, perms, data = case
    rel = draw_relevant(data, n, perms)
    if not any(rel):
        rel[0] = [0]
    topk = np.array(perms)[:, : data.draw(st.integers(1, n))]
    pop = np.array(data.draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)))
    m = evaluate_rankings(
        topk,
        Csr.from_rows(rel),
        ks=(1, 3, 20),
        n_items=n,
        item_popularity=pop,
        dsstne_variants=True,
    )
    for key, value in m.items():
        if key not in ("users", "users_skipped"):
            assert 0.0 <= value <= 1.0 + 1e-12, key


@settings(max_examples=40, deadline=None)
@given(case=rankings)
def test_perfect_ranking_scores_one_and_reversal_lowers_ndcg(case):
    n, perms, data = case
    r = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n - 1, unique=True))
    others = [i for i in perms[0] if i not in r]
    perfect = np.array([r + others])
    reverse = perfect[:, ::-1]
    rel = Csr.from_rows([r])
    ks = tuple(range(1, n + 1))
    best = evaluate_rankings(perfect, rel, ks=ks, n_items=n)
    worst = evaluate_rankings(reverse, rel, ks=ks, n_items=n)
    random = evaluate_rankings(np.array(perms[:1]), rel, ks=ks, n_items=n)
    for k in ks:
        assert best[f"ndcg@{k}"] == pytest.approx(1.0)
        assert best[f"recall@{k}"] == pytest.approx(1.0)
        assert worst[f"ndcg@{k}"] <= random[f"ndcg@{k}"] + 1e-12
        assert random[f"ndcg@{k}"] <= best[f"ndcg@{k}"] + 1e-12
    assert worst[f"ndcg@{n}"] < 1.0  # relevant items last: strictly worse on the full list


# --- popularity baseline -------------------------------------------------------------------------


def test_popularity_hand_case():
    train = Csr.from_rows([[0], [0, 1], [1, 2, 2]])
    # popularity = users holding each item: item 0: 2, item 1: 2, item 2: 1 (repeat counts once)
    assert popularity_scores(train, 4).tolist() == [2, 2, 1, 0]
    idx, val = popularity_top_k(train, 3, n_items=4)
    # global order 0, 1, 2, 3 (0 and 1 tie: lower index first), minus each user's own items
    assert idx.tolist() == [[1, 2, 3], [2, 3, -1], [0, 3, -1]]
    np.testing.assert_array_equal(val, [[2, 1, 0], [1, 0, np.nan], [2, 0, np.nan]])


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_popularity_top_k_equals_top_k_with_exclusion(data):
    n = data.draw(st.integers(1, 15))
    rows = data.draw(
        st.lists(st.lists(st.integers(0, n + 1), max_size=n + 3), min_size=1, max_size=6)
    )
    k = data.draw(st.integers(1, n + 3))
    train = Csr.from_rows(rows)
    pop = popularity_scores(train, n)
    want = top_k(np.broadcast_to(pop, (len(rows), n)), k, exclude=train)
    got = popularity_top_k(train, k, n_items=n)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
