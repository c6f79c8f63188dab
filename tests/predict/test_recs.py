"""top_k against a brute-force reference, and DSSTNE's recommendation line format and writer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.errors import DataError, UsageError
from lamina.predict import recs
from lamina.predict.recs import Csr, as_csr, labels_by_column, top_k
from lamina.predict.recs_file import RecsWriter, format_recs_line, parse_recs_line, printf_format


def reference_top_k(scores, k, n_real, remove, multiply, exclude):
    """Row by row in plain Python: multiply, drop, sort by (-score, column)."""
    out = []
    for i, row in enumerate(np.asarray(scores, dtype=np.float32)):
        s = {c: row[c] for c in range(n_real)}
        dropped = set()
        if multiply is not None:
            for c, v in zip(multiply[i][0], multiply[i][1], strict=True):
                if c < n_real:
                    if v == -np.inf:
                        dropped.add(c)
                    else:
                        with np.errstate(invalid="ignore"):  # inf * 0 -> NaN, as in top_k
                            s[c] = np.float32(row[c] * np.float32(v))
        for lists in (remove, exclude):
            if lists is not None:
                dropped.update(c for c in lists[i] if c < n_real)
        cand = [(c, v) for c, v in s.items() if c not in dropped and not np.isnan(v)]
        cand.sort(key=lambda cv: (-cv[1], cv[0]))
        out.append(cand[:k])
    return out


def check_against_reference(scores, k, n_real, remove=None, multiply=None, exclude=None):
    as_csr_rows = lambda rows: None if rows is None else Csr.from_rows(rows)  # noqa: E731
    mult = None
    if multiply is not None:
        mult = Csr.from_rows([m[0] for m in multiply], [m[1] for m in multiply])
    idx, val = top_k(
        scores,
        k,
        n_real=n_real,
        remove=as_csr_rows(remove),
        multiply=mult,
        exclude=as_csr_rows(exclude),
    )
    kk = min(k, n_real)
    assert idx.shape == val.shape == (len(scores), kk)
    assert idx.dtype == np.int64 and val.dtype == np.float32
    for i, want in enumerate(reference_top_k(scores, k, n_real, remove, multiply, exclude)):
        got_n = int((idx[i] >= 0).sum())
        assert got_n == len(want)
        assert idx[i, :got_n].tolist() == [c for c, _ in want]
        np.testing.assert_array_equal(val[i, :got_n], np.array([v for _, v in want], np.float32))
        assert (idx[i, got_n:] == -1).all() and np.isnan(val[i, got_n:]).all()


def test_top_k_hand_case_ties_padding_nan():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, np.nan, -np.inf, 0.7, 0.8]], np.float32)
    # n_real=7 drops column 7 (padding); NaN (col 4) is never chosen; the 0.9 tie goes to col 1.
    idx, val = top_k(scores, 10, n_real=7)
    assert idx.tolist() == [[1, 3, 6, 2, 0, 5, -1]]
    assert val[0, :6].tolist() == pytest.approx([0.9, 0.9, 0.7, 0.5, 0.1, -np.inf])


def test_top_k_filter_multiply_remove_exclude():
    scores = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]], np.float32)
    multiply = Csr.from_rows([[0, 3], [1]], [[10.0, -np.inf], [0.5]])
    exclude = Csr.from_rows([[2], []])
    remove = Csr.from_rows([[], [0]])
    idx, val = top_k(scores, 2, multiply=multiply, exclude=exclude, remove=remove)
    # row 0: col0 -> 0.1*10 = 1.0, col3 removed, col2 excluded -> [0 (1.0), 1 (0.2)]
    # row 1: col0 removed, col1 -> 0.3*0.5 = 0.15 -> [2 (0.2), 1 (0.15)]
    assert idx.tolist() == [[0, 1], [2, 1]]
    np.testing.assert_allclose(val, [[1.0, 0.2], [0.2, 0.15]], rtol=1e-6)


def test_top_k_zero_scores_tie_regardless_of_sign():
    idx, _ = top_k(np.array([[-0.0, 0.0, -0.0]], np.float32), 3)
    assert idx.tolist() == [[0, 1, 2]]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_top_k_matches_reference(data):
    b = data.draw(st.integers(1, 5))
    n = data.draw(st.integers(1, 12))
    n_real = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, 15))
    # few distinct values so that ties are common; negatives, zero and infinities included
    values = st.sampled_from([-np.inf, -2.0, -0.5, -0.0, 0.0, 0.25, 0.5, 1.0, np.inf, np.nan])
    scores = np.array(
        data.draw(st.lists(st.lists(values, min_size=n, max_size=n), min_size=b, max_size=b)),
        dtype=np.float32,
    )
    cols = st.lists(st.integers(0, n + 2), max_size=6)
    remove = data.draw(st.one_of(st.none(), st.lists(cols, min_size=b, max_size=b)))
    exclude = data.draw(st.one_of(st.none(), st.lists(cols, min_size=b, max_size=b)))
    multiply = None
    if data.draw(st.booleans()):
        mults = st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 2.0, 10.0])
        multiply = []
        for _ in range(b):
            cs = data.draw(st.lists(st.integers(0, n + 2), max_size=6, unique=True))
            multiply.append((cs, [data.draw(mults) for _ in cs]))
    check_against_reference(scores, k, n_real, remove, multiply, exclude)


def test_top_k_in_chunks_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, size=(37, 50)).astype(np.float32)  # many ties
    exclude = Csr.from_rows([rng.choice(50, 5, replace=False).tolist() for _ in range(37)])
    whole = top_k(scores, 7, n_real=45, exclude=exclude)
    monkeypatch.setattr(recs, "_CHUNK_ELEMENTS", 100)  # 2 rows per chunk
    chunked = top_k(scores, 7, n_real=45, exclude=exclude)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])


def test_top_k_large_k_and_float64_input():
    rng = np.random.default_rng(1)
    scores = rng.random((3, 300))
    idx, _ = top_k(scores, 1000, n_real=260)
    assert idx.shape == (3, 260)
    want = np.argsort(-scores[:, :260].astype(np.float32), axis=1, kind="stable")
    np.testing.assert_array_equal(idx, want)


def test_top_k_rejects_bad_arguments():
    s = np.zeros((2, 4), np.float32)
    with pytest.raises(UsageError, match="k must be >= 1"):
        top_k(s, 0)
    with pytest.raises(UsageError, match="n_real"):
        top_k(s, 1, n_real=5)
    with pytest.raises(UsageError, match="2-D"):
        top_k(np.zeros(4), 1)
    with pytest.raises(UsageError, match="exclude has 1 rows, scores 2"):
        top_k(s, 1, exclude=Csr.from_rows([[0]]))
    with pytest.raises(UsageError, match="multiply needs values"):
        top_k(s, 1, multiply=Csr.from_rows([[0], []]))


def test_csr_validation_select_and_as_csr():
    c = Csr.from_rows([[3, 1], [], [2]], [[1.0, 2.0], [], [3.0]])
    assert c.n_rows == 3 and c.nnz == 3 and c.row_ids().tolist() == [0, 0, 2]
    s = c.select([2, 0, 2])
    assert s.indptr.tolist() == [0, 1, 3, 4] and s.indices.tolist() == [2, 3, 1, 2]
    assert s.values.tolist() == [3.0, 1.0, 2.0, 3.0]
    assert c.select(slice(1, 3)).indices.tolist() == [2]
    assert as_csr((np.array([0, 1]), np.array([5]))).indices.tolist() == [5]
    with pytest.raises(DataError, match="end at len"):
        Csr(np.array([0, 2]), np.array([1]))
    with pytest.raises(DataError, match="integers"):
        Csr(np.array([0, 1]), np.array([1.5]))
    with pytest.raises(UsageError):
        as_csr([1, 2])


def test_modules_do_not_import_torch():
    code = "import sys, lamina.predict; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- output format ------------------------------------------------------------------------------


def test_format_recs_line_hand_case():
    line = format_recs_line("u1", ["a", "b"], [0.98251, 1.0])
    assert line == "u1\ta,0.983:b,1.000:\n"
    assert format_recs_line("u2", [], []) == "u2\t\n"


@pytest.mark.parametrize(
    ("precision", "want"),
    [
        ("4.3f", "x,0.500:"),
        (".3f", "x,0.500:"),
        ("%4.3f", "x,0.500:"),
        ("8.2e", "x,5.00e-01:"),
        ("g", "x,0.5:"),
        ("6.1f", "x,   0.5:"),
    ],
)
def test_precision_forms(precision, want):
    assert format_recs_line("s", ["x"], [0.5], precision=precision) == f"s\t{want}\n"


@pytest.mark.parametrize("bad", ["", "4.3", "d", "%s", "4.3f%", "4.3fx", "abc"])
def test_precision_invalid(bad):
    with pytest.raises(UsageError, match="printf float format"):
        printf_format(bad)


@pytest.mark.shared
def test_dsstne_sample_lines_round_trip(shared_dir):
    raw = (shared_dir / "dsstne-examples/data/recs_output_top16.sample.txt").read_bytes()
    lines = raw.decode("utf-8").splitlines(keepends=True)
    assert len(lines) == 3
    for n, line in enumerate(lines, 1):
        sample, labels, scores = parse_recs_line(line, where=f"sample:{n}")
        assert len(labels) == 16
        assert format_recs_line(sample, labels, scores).encode() == line.encode()


@pytest.mark.shared
def test_dsstne_sample_via_top_k_and_writer(shared_dir, tmp_path):
    raw = (shared_dir / "dsstne-examples/data/recs_output_top16.sample.txt").read_bytes()
    parsed = [parse_recs_line(x) for x in raw.decode().splitlines(keepends=True)]
    features = sorted({f for _, labels, _ in parsed for f in labels}, key=int)
    col = {f: i for i, f in enumerate(features)}
    scores = np.zeros((3, 128), np.float32)  # padded to 128 like a DSSTNE output layer
    scores[:, len(features) :] = 9.0  # padding units must never be written
    for i, (_, labels, vals) in enumerate(parsed):
        for f, v in zip(labels, vals, strict=True):
            scores[i, col[f]] = v
    idx, val = top_k(scores, 16, n_real=len(features))
    target = tmp_path / "recs.txt"
    with RecsWriter(target) as out:
        out.write([s for s, _, _ in parsed], idx, val, features)
    assert target.read_bytes() == raw


def test_parse_recs_line_errors():
    assert parse_recs_line("u\t\n") == ("u", [], [])
    for bad in ["no tab", "\ta,1:", "u\ta,1", "u\ta:", "u\ta,x:", "u\t,1:"]:
        with pytest.raises(DataError, match=r"recs\.txt:3: expected"):
            parse_recs_line(bad, where="recs.txt:3")


def test_labels_by_column():
    assert labels_by_column({"b": 2, "a": 0}) == ["a", None, "b"]


def test_writer_skips_padding_and_unlabelled_columns(tmp_path):
    target = tmp_path / "r.txt"
    with RecsWriter(target, precision=".2f") as out:
        out.write(
            ["u1", "u2"],
            np.array([[3, -1, 1], [5, 0, 2]]),
            np.array([[0.9, np.nan, 0.5], [0.8, 0.7, 0.6]]),
            ["a", "b", None, "d"],
        )
        out.write_line("u3", ["z"], [1.0])
        assert not target.exists()  # nothing visible before close
    assert target.read_text() == "u1\td,0.90:b,0.50:\nu2\ta,0.70:\nu3\tz,1.00:\n"
    assert out.lines == 3


def test_writer_leaves_target_untouched_on_error(tmp_path):
    target = tmp_path / "r.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"), RecsWriter(target) as out:
        out.write_line("u", ["a"], [1.0])
        raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]  # no temp file left


def test_writer_abort_and_closed_errors(tmp_path):
    target = tmp_path / "r.txt"
    out = RecsWriter(target)
    out.write_line("u", ["a"], [1.0])
    out.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="already closed"):
        out.write_line("u", ["a"], [1.0])
    with pytest.raises(UsageError, match="expected"), RecsWriter(tmp_path / "x.txt") as bad:
        bad.write(["u"], np.zeros((2, 1)), np.zeros((2, 1)), ["a"])
    assert list(tmp_path.iterdir()) == []
