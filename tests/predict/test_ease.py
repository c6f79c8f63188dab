"""EASE (``lamina.predict.ease``) against the textbook closed form, and ``--baselines ease``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli.main import cli
from lamina.data.generate import generate_netcdf
from lamina.errors import ModelError
from lamina.predict.baselines import BASELINES
from lamina.predict.ease import (
    check_ease_memory,
    ease_fit,
    ease_inverse,
    ease_memory,
    ease_top_k,
    holdout_rows,
    select_lambda,
)
from lamina.predict.metrics import evaluate_rankings, popularity_top_k
from lamina.predict.recs import Csr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_world import build_world, write_text


def _random_rows(users: int, items: int, density: float, seed: int) -> Csr:
    rng = np.random.default_rng(seed)
    x = rng.random((users, items)) < density
    x[np.arange(users), rng.integers(0, items, users)] = True  # no empty row
    return Csr.from_rows([np.flatnonzero(row).tolist() for row in x])


def _clustered_rows(users: int, items: int, seed: int) -> Csr:
    """Two user groups, each holding random items of its own half of the catalogue."""
    rng = np.random.default_rng(seed)
    half = items // 2
    rows = []
    for u in range(users):
        base = 0 if u % 2 else half
        rows.append((base + rng.choice(half, size=8, replace=False)).tolist())
    return Csr.from_rows(rows)


def _textbook_scores(rows: Csr, n: int, lam: float) -> np.ndarray:
    """Steck 2019, Algorithm 1: B = I - P / diag(P), P = (XᵀX + λI)⁻¹; scores X B."""
    x = np.zeros((rows.n_rows, n))
    x[rows.row_ids(), rows.indices] = 1.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(n))
    b = np.eye(n) - p / np.diag(p)[None, :]
    assert np.allclose(np.diag(b), 0.0)
    return x @ b


@pytest.mark.parametrize(("users", "items"), [(40, 12), (9, 30)])  # primal shape, dual shape
def test_both_forms_match_the_textbook_formula_off_the_own_items(users: int, items: int) -> None:
    rows = _random_rows(users, items, 0.25, seed=users)
    want = _textbook_scores(rows, items, lam=3.0)
    own = np.zeros_like(want, dtype=bool)
    own[rows.row_ids(), rows.indices] = True
    for form in ("primal", "dual"):
        got = ease_fit(rows, n_items=items, lam=3.0, form=form)(np.arange(users))
        np.testing.assert_allclose(got[~own], want[~own], rtol=1e-9, atol=1e-12)
    assert ease_memory(items, users)[0] == ("dual" if users < items else "primal")


def test_cholesky_inverse_is_the_inverse() -> None:
    a = np.random.default_rng(0).standard_normal((7, 5))
    g = a @ a.T
    np.testing.assert_allclose(ease_inverse(g, 0.5), np.linalg.inv(g + 0.5 * np.eye(7)))
    np.testing.assert_array_equal(g, a @ a.T)  # input untouched


def test_top_k_ranks_by_the_scores_and_skips_own_items() -> None:
    rows = _random_rows(30, 10, 0.3, seed=3)
    top = ease_top_k(rows, 4, n_items=10, lam=2.0)
    scores = _textbook_scores(rows, 10, 2.0)
    for u in range(rows.n_rows):
        own = set(rows.indices[rows.indptr[u] : rows.indptr[u + 1]].tolist())
        ranked = [i for i in np.argsort(-scores[u], kind="stable") if i not in own][:4]
        assert top[u][top[u] >= 0].tolist() == ranked
        assert not own & set(top[u].tolist())


def test_holdout_rows_partitions_each_row() -> None:
    rows = _random_rows(20, 15, 0.4, seed=5)
    fit, held = holdout_rows(rows, fraction=0.2, seed=1)
    for u in range(rows.n_rows):
        whole = set(rows.indices[rows.indptr[u] : rows.indptr[u + 1]].tolist())
        a = set(fit.indices[fit.indptr[u] : fit.indptr[u + 1]].tolist())
        b = set(held.indices[held.indptr[u] : held.indptr[u + 1]].tolist())
        assert a | b == whole and not a & b
        if len(whole) >= 2:
            assert len(b) == min(max(int(np.floor(0.2 * len(whole) + 0.5)), 1), len(whole) - 1)


def test_lambda_is_chosen_by_validation_ndcg() -> None:
    rows = _clustered_rows(60, 20, seed=0)
    sel = select_lambda(rows, n_items=20, lambdas=(0.5, 5.0, 5000.0), seed=2)
    assert set(sel.scores) == {0.5, 5.0, 5000.0}
    assert sel.lam == max(sel.scores, key=lambda lam: (sel.scores[lam], -lam))
    assert sel.users == 60
    details: dict[str, object] = {}
    ease_top_k(rows, 5, n_items=20, lambdas=(0.5, 5.0, 5000.0), seed=2, details=details)
    assert details["lambda"] == sel.lam


def test_ease_beats_popularity_on_clustered_users() -> None:
    rows = _clustered_rows(80, 20, seed=1)
    fit, held = holdout_rows(rows, fraction=0.25, seed=4)
    ease = BASELINES.get("ease")(fit, 5, n_items=20, lam=1.0)
    pop = popularity_top_k(fit, 5, n_items=20)[0]
    e = evaluate_rankings(ease, held, (5,), n_items=20)["ndcg@5"]
    p = evaluate_rankings(pop, held, (5,), n_items=20)["ndcg@5"]
    assert e > p + 0.2


def test_refused_over_the_memory_budget_naming_items_and_limit() -> None:
    with pytest.raises(ModelError, match=r"30,000 items and 50,000 users.*budget is 1\.00 GiB"):
        check_ease_memory(30_000, 50_000, memory_budget=2**30)
    form, need = check_ease_memory(300, 500, memory_budget=2**30)
    assert form == "primal" and need == 3 * 300 * 300 * 8
    rows = _random_rows(10, 8, 0.3, seed=0)
    with pytest.raises(ModelError, match="8 items"):
        ease_top_k(rows, 3, n_items=8, lam=1.0, memory_budget=100)


def _split_world(tmp_path: Path) -> tuple[Path, Path, Path]:
    world = build_world(tmp_path)
    train = {u: items[:-2] for u, items in world.rows.items()}
    held = {u: items[-2:] for u, items in world.rows.items()}
    tr, te = tmp_path / "train.nc", tmp_path / "held.nc"
    for rows, name, path, index in (
        (train, "gl_input", tr, world.features_input),
        (held, "gl_output", te, world.features_output),
    ):
        text = write_text(tmp_path / f"{name}.txt", rows)
        generate_netcdf(
            text, path, dataset_name=name, feature_index=index, sample_index=world.samples
        )
    return world.network, tr, te


def test_cli_scores_ease_beside_the_network(tmp_path: Path) -> None:
    net, tr, te = _split_world(tmp_path)
    args = ["evaluate", "-n", str(net), "-i", str(tr), "-t", str(te), "-k", "5"]
    result = CliRunner().invoke(cli, [*args, "--baselines", "popularity,ease"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["metric", "network", "popularity", "ease"]
    assert any(line.startswith("ease: lambda ") for line in lines)
    fixed = CliRunner().invoke(cli, [*args, "--baselines", "ease", "--ease-lambda", "7"])
    assert fixed.exit_code == 0, fixed.output
    assert "ease: lambda 7.0" in fixed.output
    refused = CliRunner().invoke(cli, [*args, "--baselines", "ease", "--ease-memory", "1e-9"])
    assert refused.exit_code == 1
    assert "error: EASE needs" in refused.output and "memory budget" in refused.output
