"""Evaluation splits: per-sample holdout, held-out samples with fold-in, by time; determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.data.split import holdout_count, split_text
from lamina.errors import DataError, UsageError


def _read(path: Path) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        label, _, data = line.partition("\t")
        assert label not in rows
        rows[label] = data.split(":")
    return rows


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """60 samples with 1..40 elements ``item,timestamp`` (distinct items, shuffled times)."""
    rng = np.random.default_rng(123)
    rows = {}
    for s in range(60):
        n = int(rng.integers(1, 41))
        items = rng.choice(500, n, replace=False)
        times = rng.permutation(n) * 10 + 1000
        rows[f"u{s}"] = [f"i{i},{t}" for i, t in zip(items, times, strict=True)]
    path = tmp_path / "in.txt"
    path.write_text("".join(f"{k}\t{':'.join(v)}\n" for k, v in rows.items()))
    return path, rows


def test_holdout_count_rounding_rule() -> None:
    # floor(f * n + 0.5), at least 1, at most n - 1
    assert [holdout_count(n, 0.2) for n in (2, 3, 7, 8, 12, 13, 100)] == [1, 1, 1, 2, 2, 3, 20]
    assert holdout_count(2, 0.9) == 1 and holdout_count(10, 0.5) == 5 and holdout_count(5, 0.5) == 3


def _is_subsequence(part: list[str], whole: list[str]) -> bool:
    it = iter(whole)
    return all(x in it for x in part)


def test_per_sample_holdout(tmp_path: Path, dataset: tuple[Path, dict]) -> None:
    path, rows = dataset
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    summary = split_text(path, train=train, test=test, holdout_fraction=0.2, seed=5)
    tr, te = _read(train), _read(test)
    assert list(tr) == list(rows)  # every sample in train, input order
    assert set(te) <= set(tr)  # aligned: test samples are train samples
    for label, elements in rows.items():
        n = len(elements)
        held = te.get(label, [])
        assert len(held) == (holdout_count(n, 0.2) if n >= 2 else 0)
        assert sorted(tr[label] + held) == sorted(elements)  # union = input, disjoint
        assert not set(tr[label]) & set(held)
        assert _is_subsequence(tr[label], elements) and _is_subsequence(held, elements)
    small = sum(len(v) < 2 for v in rows.values())
    assert summary.unsplit_samples == small and summary.samples == 60
    assert summary.test_elements == sum(len(v) for v in te.values())


def test_min_items_keeps_small_samples_in_train(tmp_path: Path, dataset: tuple[Path, dict]) -> None:
    path, rows = dataset
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    split_text(path, train=train, test=test, min_items=20, seed=1)
    te = _read(test)
    assert set(te) == {k for k, v in rows.items() if len(v) >= 20}
    assert _read(train) == {k: v for k, v in rows.items() if len(v) < 20} | {
        k: [e for e in v if e not in te[k]] for k, v in rows.items() if len(v) >= 20
    }


def test_same_seed_same_files_other_seed_differs(
    tmp_path: Path, dataset: tuple[Path, dict]
) -> None:
    path, _ = dataset
    outs = []
    for i, seed in enumerate((3, 3, 4)):
        train, test = tmp_path / f"tr{i}", tmp_path / f"te{i}"
        split_text(path, train=train, test=test, seed=seed)
        outs.append((train.read_bytes(), test.read_bytes()))
    assert outs[0] == outs[1] and outs[0] != outs[2]


def test_held_out_samples_with_fold_in_file(tmp_path: Path, dataset: tuple[Path, dict]) -> None:
    path, rows = dataset
    train, test, fold = tmp_path / "train", tmp_path / "test", tmp_path / "fold"
    summary = split_text(
        path, train=train, test=test, fold_in=fold, holdout_samples=10, fold_in_fraction=0.8
    )
    tr, te, fi = _read(train), _read(test), _read(fold)
    assert len(te) == 10 == summary.heldout_samples and set(te) == set(fi)
    assert not set(tr) & set(te)  # strong generalization: held-out users absent from train
    assert set(tr) | set(te) == set(rows)
    for label in te:
        n = len(rows[label])
        assert n >= 2 and len(te[label]) == holdout_count(n, 0.2)
        assert sorted(fi[label] + te[label]) == sorted(rows[label])
    for label in tr:
        assert tr[label] == rows[label]


def test_held_out_fraction_fold_in_into_train(tmp_path: Path, dataset: tuple[Path, dict]) -> None:
    path, rows = dataset
    train, test = tmp_path / "train", tmp_path / "test"
    eligible = sum(len(v) >= 2 for v in rows.values())
    split_text(path, train=train, test=test, holdout_samples=0.25, fold_in_fraction=0.5, seed=2)
    tr, te = _read(train), _read(test)
    assert len(te) == int(np.floor(0.25 * eligible + 0.5))
    assert set(te) <= set(tr)  # fold-in parts went to train: aligned
    for label in te:
        assert sorted(tr[label] + te[label]) == sorted(rows[label])


def test_held_out_samples_whole(tmp_path: Path, dataset: tuple[Path, dict]) -> None:
    path, rows = dataset
    train, test = tmp_path / "train", tmp_path / "test"
    split_text(path, train=train, test=test, holdout_samples=7, seed=9)
    tr, te = _read(train), _read(test)
    assert len(te) == 7 and all(te[k] == rows[k] for k in te) and not set(tr) & set(te)


def test_by_time_holds_out_latest(tmp_path: Path, dataset: tuple[Path, dict]) -> None:
    path, rows = dataset
    train, test = tmp_path / "train", tmp_path / "test"
    split_text(path, train=train, test=test, by_time=True, holdout_fraction=0.3)
    tr, te = _read(train), _read(test)
    for label, elements in rows.items():
        times = sorted(int(e.split(",")[1]) for e in elements)
        if len(elements) < 2:
            assert label not in te
            continue
        k = holdout_count(len(elements), 0.3)
        assert sorted(int(e.split(",")[1]) for e in te[label]) == times[-k:]
        assert len(tr[label]) == len(elements) - k


def test_by_time_needs_values(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("a\tx,5:y,6\nb\tx,1:y:z,3\n")
    with pytest.raises(DataError, match=r"in\.txt:2: expected feature,timestamp .* found 'y'"):
        split_text(path, train=tmp_path / "tr", test=tmp_path / "te", by_time=True)
    assert not (tmp_path / "tr").exists() and not (tmp_path / "te").exists()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a\tx:y\n\nb x:y\n", 3, "found no TAB"),
        ("a\tx:y\nb\tz\na\tq:r\n", 3, "found 'a' again (first at line 1)"),
        ("a\tx:,5:y\n", 1, "found ',5'"),
        ("\tx:y\n", 1, "found an empty sample"),
    ],
)
def test_bad_input_lines(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "in.txt"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        split_text(path, train=tmp_path / "tr", test=tmp_path / "te")
    assert str(info.value).startswith(f"{path}:{line}: expected") and message in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_empty_elements_skipped_and_values_kept_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("a\tx,1.50::y,2:\n")
    split_text(path, train=tmp_path / "tr", test=tmp_path / "te", holdout_fraction=0.5)
    tr, te = _read(tmp_path / "tr"), _read(tmp_path / "te")
    assert sorted(tr["a"] + te["a"]) == ["x,1.50", "y,2"]


@pytest.mark.parametrize(
    "options",
    [
        {"holdout_fraction": 1.0},
        {"fold_in_fraction": 0.8},
        {"holdout_samples": 10, "by_time": True},
        {"holdout_samples": 1.5},
        {"holdout_samples": 0},
        {"holdout_samples": 1000},
        {"holdout_samples": 2, "fold_in": "x.txt"},
    ],
)
def test_usage_errors(tmp_path: Path, dataset: tuple[Path, dict], options: dict) -> None:
    path, _ = dataset
    with pytest.raises(UsageError):
        split_text(path, train=tmp_path / "tr", test=tmp_path / "te", **options)
    assert not (tmp_path / "tr").exists()
