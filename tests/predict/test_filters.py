"""DSSTNE filter files: removal vs multiplication, lookups, later-line-wins, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.errors import DataError
from lamina.predict import load_filters, top_k
from lamina.predict.filters import REMOVE

FEATURES = {"m1": 0, "m2": 1, "m3": 2, "m4": 3}


def rows_of(filters):
    """{sample row: {column: multiplier}} from the CSR."""
    c = filters.csr
    return {
        r: dict(
            zip(
                c.indices[c.indptr[r] : c.indptr[r + 1]].tolist(),
                c.values[c.indptr[r] : c.indptr[r + 1]].tolist(),
                strict=True,
            )
        )
        for r in range(c.n_rows)
    }


def test_semantics_remove_vs_multiply(tmp_path):
    f = tmp_path / "filter.txt"
    # u1: m1 no value -> remove; m2,0.5 -> x0.5; m3,11 (> 10) -> remove; m4,10 -> x10
    # u2: m2,0 -> x0 (multiplied, not removed); m3,-2 -> x-2; unknown feature zz ignored
    f.write_text("u1\tm1:m2,0.5:m3,11:m4,10:\nu2\tm2,0:m3,-2:zz,1\n")
    filters = load_filters(f, samples=["u1", "u2", "u3"], features=FEATURES)
    assert rows_of(filters) == {
        0: {0: REMOVE, 1: 0.5, 2: REMOVE, 3: 10.0},
        1: {1: 0.0, 2: -2.0},
        2: {},
    }
    s = filters.stats
    assert (s.files, s.lines, s.samples, s.unknown_features) == (1, 2, 2, 1)
    assert (s.removed, s.multiplied, s.unknown_sample_lines, s.replaced_lines) == (2, 4, 0, 0)


def test_filter_applied_by_top_k(tmp_path):
    f = tmp_path / "filter.txt"
    f.write_text("u1\tm1,1400000000:m3,3\n")  # MovieLens style: timestamp -> seen -> removed
    filters = load_filters(f, samples={"u1": 0}, features=FEATURES)
    scores = np.array([[0.9, 0.5, 0.2, 0.4]], np.float32)
    idx, val = top_k(scores, 4, multiply=filters.rows([0]))
    # m1 removed; m3: 0.2 * 3 = 0.6 -> order m3, m2, m4
    assert idx.tolist() == [[2, 1, 3, -1]]
    np.testing.assert_allclose(val[0, :3], [0.6, 0.5, 0.4], rtol=1e-6)


def test_unknown_samples_later_lines_and_duplicates(tmp_path):
    f = tmp_path / "filter.txt"
    # line 2 replaces line 1 for u1 (DSSTNE reset); m2 listed twice on line 2: the later wins
    f.write_text("u1\tm1\nu1\tm2,2:m2,3\r\nnobody\tm1:not,even,parsed\n\n   \n")
    filters = load_filters(f, samples={"u1": 1, "u0": 0}, features=FEATURES)
    assert rows_of(filters) == {0: {}, 1: {1: 3.0}}
    s = filters.stats
    assert (s.lines, s.samples, s.unknown_sample_lines, s.replaced_lines) == (3, 1, 1, 1)


def test_directory_of_files_sorted_by_name(tmp_path):
    (tmp_path / "b.txt").write_text("u1\tm3\n")
    (tmp_path / "a.txt").write_text("u1\tm1\nu2\tm2,2\n")
    (tmp_path / "sub").mkdir()  # not recursive: ignored
    (tmp_path / "sub" / "c.txt").write_text("u2\tm4\n")
    filters = load_filters(tmp_path, samples=["u1", "u2"], features=FEATURES)
    # b.txt is read after a.txt, so its u1 line replaces a.txt's
    assert rows_of(filters) == {0: {2: REMOVE}, 1: {1: 2.0}}
    assert filters.stats.files == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "u1\tm1\nno tab here\n",
            r"f\.txt:2: expected 'sample<TAB>feature\[,value\]:\.\.\.', "
            r"found no TAB in 'no tab here'",
        ),
        ("\tm1\n", r"f\.txt:1: expected .* found an empty sample label"),
        ("u1\tm1,abc\n", r"f\.txt:1: expected 'feature' or 'feature,number', found 'm1,abc'"),
        ("u1\tm1,1,2\n", r"f\.txt:1: expected .* found 'm1,1,2'"),
        ("u1\t,5\n", r"f\.txt:1: expected .* found ',5'"),
        ("u1\tm1,nan\n", r"f\.txt:1: expected .* found 'm1,nan'"),
    ],
)
def test_bad_lines(tmp_path, text, message):
    f = tmp_path / "f.txt"
    f.write_text(text)
    with pytest.raises(DataError, match=message):
        load_filters(f, samples=["u1"], features=FEATURES)


def test_missing_empty_and_non_utf8(tmp_path):
    with pytest.raises(DataError, match="expected a filter file or a directory"):
        load_filters(tmp_path / "nope", samples=[], features={})
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="found none"):
        load_filters(tmp_path / "d", samples=[], features={})
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"u1\tm1\nu1\tm\xff\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: expected UTF-8 text, found byte 0xff"):
        load_filters(bad, samples=["u1"], features=FEATURES)


@pytest.mark.shared
def test_dsstne_movielens_filter_removes_seen_movies(shared_dir):
    path = shared_dir / "dsstne-examples/data/ml-20m_ratings.sample.txt"
    lines = path.read_text().splitlines()
    movies = sorted(
        {item.split(",")[0] for line in lines for item in line.split("\t")[1].split(":") if item}
    )
    features = {m: i for i, m in enumerate(movies)}
    filters = load_filters(path, samples=["166", "177", "243"], features=features)
    assert filters.stats.samples == 3 and filters.stats.multiplied == 0
    # every rated movie (timestamp value > 10) is removed from that user's ranking
    for row, line in enumerate(lines):
        seen = {features[i.split(",")[0]] for i in line.split("\t")[1].split(":") if i}
        got = filters.rows([row])
        assert set(got.indices.tolist()) == seen
        assert np.isneginf(got.values).all()
