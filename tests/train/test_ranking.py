"""``RankingAccumulator``: vectorized recall@20 / NDCG@10 against a per-row reference."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lamina.data.batch import SparseBatch
from lamina.train.ranking import RankingAccumulator


def sparse(rows: list[list[int]], width: int) -> SparseBatch:
    offsets = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    return SparseBatch(
        indices=torch.from_numpy(indices),
        offsets=torch.from_numpy(offsets.astype(np.int64)),
        values=None,
        width=width,
    )


def reference(scores: np.ndarray, seen: list[list[int]], wanted: list[list[int]]) -> tuple:
    """Row by row in plain Python: the definitions of the module docstring."""
    recall = ndcg = 0.0
    users = 0
    for b, row in enumerate(scores):
        relevant = set(wanted[b]) - set(seen[b])
        if not relevant:
            continue
        order = sorted((c for c in range(row.size) if c not in seen[b]), key=lambda c: -row[c])
        top = order[:20]
        hits = [c in relevant for c in top]
        recall += sum(hits) / min(20, len(relevant))
        dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits[:10]) if h)
        ndcg += dcg / sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
        users += 1
    return recall / users, ndcg / users, users


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_per_row_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    width, size = 60, 17
    seen = [sorted(rng.choice(width, rng.integers(0, 12), replace=False)) for _ in range(size)]
    wanted = [sorted(rng.choice(width, rng.integers(0, 25), replace=False)) for _ in range(size)]
    wanted[0] = list(seen[0])  # nothing new to find: the row does not count
    scores = rng.permutation(width * size).reshape(size, width).astype(np.float32)  # no ties
    acc = RankingAccumulator("Output", "in", "out", width)
    parts = {"in": sparse(seen, width), "out": sparse(wanted, width)}
    batch = type("B", (), {"size": size, "__getitem__": lambda self, k: parts[k]})()
    out = SimpleNamespace(activations={"Output": torch.from_numpy(scores)})
    acc.add(batch, out)
    recall, ndcg, users = reference(scores, seen, wanted)
    got = acc.result()
    assert acc.users == users
    assert got["recall@20"] == pytest.approx(recall, rel=1e-12)
    assert got["ndcg@10"] == pytest.approx(ndcg, rel=1e-12)


def test_no_relevant_items_reports_nothing() -> None:
    acc = RankingAccumulator("Output", "in", "out", 5)
    parts = {"in": sparse([[0, 1]], 5), "out": sparse([[1]], 5)}
    batch = type("B", (), {"size": 1, "__getitem__": lambda self, k: parts[k]})()
    acc.add(batch, SimpleNamespace(activations={"Output": torch.rand(1, 5)}))
    assert acc.result() == {}
