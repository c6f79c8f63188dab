"""Importers: format detection, each MovieLens layout, the generic table importer, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.data.importers import (
    detect_movielens_format,
    import_csv,
    import_libsvm,
    import_movielens,
    read_movielens,
    write_dsstne_text,
    writer,
)
from lamina.data.split import split_text
from lamina.errors import DataError, UsageError

# (user, item, rating, timestamp), deliberately not grouped by user.
RATINGS = [(2, 10, 4, 100), (1, 20, 5, 300), (1, 10, 3, 200), (2, 30, 1, 50), (10, 20, 2, 7)]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _fixture(tmp_path: Path, fmt: str, rows: list[tuple] = RATINGS) -> Path:
    if fmt == "u.data":
        return _write(tmp_path / "u.data", "".join("\t".join(map(str, r)) + "\n" for r in rows))
    if fmt == "ratings.dat":
        return _write(
            tmp_path / "ratings.dat", "".join("::".join(map(str, r)) + "\n" for r in rows)
        )
    if fmt == "ratings.csv":
        body = "".join(f"{u},{i},{float(r)},{t}\n" for u, i, r, t in rows)
        return _write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n" + body)
    users: dict[int, list[int]] = {}
    for u, i, _, _ in rows:
        users.setdefault(u, []).append(i)
    lines = "".join(f"{u} {' '.join(map(str, items))}\n" for u, items in users.items())
    return _write(tmp_path / "train.txt", lines)


TABULAR = ["u.data", "ratings.dat", "ratings.csv"]


def _no_leftovers(folder: Path, output: Path) -> None:
    assert not output.exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(f".{output.name}.")]


@pytest.mark.parametrize("fmt", [*TABULAR, "lists"])
def test_detects_each_format(tmp_path: Path, fmt: str) -> None:
    assert detect_movielens_format(_fixture(tmp_path, fmt)) == fmt


def test_detects_headerless_csv_and_rejects_unknown(tmp_path: Path) -> None:
    assert detect_movielens_format(_write(tmp_path / "r.csv", "1,2,3.5,4\n")) == "ratings.csv"
    bad = _write(tmp_path / "r.txt", "\n\nhello world|x\n")
    with pytest.raises(DataError, match=r"r\.txt:3: expected a MovieLens line"):
        detect_movielens_format(bad)


@pytest.mark.parametrize("fmt", [*TABULAR, "lists"])
def test_bare_items_grouped_by_user_in_file_order(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out.txt"
    summary = import_movielens(_fixture(tmp_path, fmt), out)
    # users ascending numerically (10 after 2), items in file order within a user
    assert out.read_text() == "1\t20:10\n2\t10:30\n10\t20\n"
    assert (summary.samples, summary.features, summary.interactions) == (3, 3, 5)
    assert summary.format == fmt


@pytest.mark.parametrize("fmt", TABULAR)
def test_values_rating_and_timestamp(tmp_path: Path, fmt: str) -> None:
    path, out = _fixture(tmp_path, fmt), tmp_path / "out.txt"
    import_movielens(path, out, values="rating")
    assert out.read_text() == "1\t20,5:10,3\n2\t10,4:30,1\n10\t20,2\n"
    import_movielens(path, out, values="timestamp")  # DSSTNE's convert_ratings.awk form
    assert out.read_text() == "1\t20,300:10,200\n2\t10,100:30,50\n10\t20,7\n"


@pytest.mark.parametrize("fmt", TABULAR)
def test_min_rating_keeps_ratings_at_or_above(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out.txt"
    summary = import_movielens(_fixture(tmp_path, fmt), out, min_rating=4)
    assert out.read_text() == "1\t20\n2\t10\n"  # user 10 has nothing left and is not written
    assert summary.filtered == 3 and summary.samples == 2


def test_fractional_ratings_written_as_floats(tmp_path: Path) -> None:
    path = _fixture(tmp_path, "ratings.csv", [(1, 5, 3.5, 1), (1, 6, 4, 2)])
    out = tmp_path / "out.txt"
    import_movielens(path, out, values="rating")
    assert out.read_text() == "1\t5,3.5:6,4.0\n"


@pytest.mark.parametrize("option", [{"min_rating": 4.0}, {"values": "rating"}])
def test_lists_have_no_ratings(tmp_path: Path, option: dict) -> None:
    out = tmp_path / "out.txt"
    with pytest.raises(DataError, match="'lists' format"):
        import_movielens(_fixture(tmp_path, "lists"), out, **option)
    _no_leftovers(tmp_path, out)


def test_forced_format_and_unknown_format(tmp_path: Path) -> None:
    path = _fixture(tmp_path, "u.data")
    assert read_movielens(path, format="u.data").format == "u.data"
    with pytest.raises(UsageError, match=r"Did you mean 'u\.data'"):
        read_movielens(path, format="u.dta")


def test_read_movielens_arrays(tmp_path: Path) -> None:
    data = read_movielens(_fixture(tmp_path, "ratings.dat"))
    inter = data.interactions
    assert list(inter.sample_labels) == ["1", "2", "10"]
    assert list(inter.sample_labels[inter.samples]) == ["2", "1", "1", "2", "10"]
    np.testing.assert_array_equal(data.ratings, [4, 5, 3, 1, 2])
    np.testing.assert_array_equal(data.timestamps, [100, 300, 200, 50, 7])
    assert inter.samples.dtype == np.int64 and data.timestamps.dtype == np.int64


BAD_LINES = [
    ("u.data", "1\t2\t3\t4\n\n1\t3\t4\n", 3, "expected 4 fields separated by TAB"),
    (
        "u.data",
        "1\t2\t3\t4\n1\t3\tfive\t4\n",
        2,
        "expected a numeric rating in field 3, found 'five'",
    ),
    ("u.data", "1\t2\t3\t4\nu1\t3\t4\t4\n", 2, "expected an integer user id in field 1"),
    ("u.data", "1\t2\t3\t4\n1\t3\t4\t4\t9\n", 2, "found 5"),
    ("ratings.dat", "1::2::3::4\n1::2::3\n", 2, "expected 4 fields separated by '::'"),
    ("ratings.dat", "1::2::3::4\n1::2::nan::4\n", 2, "expected a finite rating"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n1,x,3,4\n", 3, "integer item id"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n1,2,,4\n", 3, "found ''"),
    ("lists", "1 2 3\n2 4 x5\n", 2, "expected integer ids (user item item ...), found 'x5'"),
]


@pytest.mark.parametrize(("fmt", "text", "line", "message"), BAD_LINES)
def test_bad_lines_name_file_and_line(
    tmp_path: Path, fmt: str, text: str, line: int, message: str
) -> None:
    path, out = _write(tmp_path / "in.txt", text), tmp_path / "out.txt"
    with pytest.raises(DataError) as info:
        import_movielens(path, out, format=fmt)
    assert str(info.value).startswith(f"{path}:{line}: expected")
    assert message in str(info.value)
    _no_leftovers(tmp_path, out)


def test_not_utf8_and_bom(tmp_path: Path) -> None:
    for name, text in [("u.data", b"1\t2\t3\t4\n1\t3\t4\t4\xff\n"), ("t.txt", b"1 2\n\n3 \xe94\n")]:
        path = tmp_path / name
        path.write_bytes(text)
        line = 2 if name == "u.data" else 3
        with pytest.raises(DataError, match=rf"{name}:{line}: expected UTF-8 text, found byte 0x"):
            import_movielens(path, tmp_path / "out.txt")
    bom = tmp_path / "ratings.csv"
    bom.write_bytes("userId,movieId,rating,timestamp\n1,2,3.0,4\n".encode("utf-8-sig"))
    import_movielens(bom, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "1\t2\n"


def test_empty_inputs(tmp_path: Path) -> None:
    for name, text in [
        ("u.data", "\n"),
        ("t.txt", "1\n2\n"),
        ("r.csv", "userId,movieId,rating,timestamp\n"),
    ]:
        path = _write(tmp_path / name, text)
        fmt = {"u.data": "u.data", "t.txt": "lists", "r.csv": "ratings.csv"}[name]
        with pytest.raises(DataError, match=rf"{name}: expected"):
            import_movielens(path, tmp_path / "out.txt", format=fmt)
    assert not (tmp_path / "out.txt").exists()


def test_csv_header_without_needed_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "ratings.csv", "userId,moveId,rating,timestamp\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"ratings\.csv:1: .*no 'movieid'.*Did you mean 'moveid'"):
        import_movielens(path, tmp_path / "out.txt")


@pytest.mark.parametrize(
    ("policy", "expected"), [("first", "1\t5,1:6,2\n"), ("last", "1\t6,2:5,3\n")]
)
def test_duplicates_first_and_last(tmp_path: Path, policy: str, expected: str) -> None:
    path = _fixture(tmp_path, "u.data", [(1, 5, 1, 0), (1, 6, 2, 0), (1, 5, 3, 0)])
    out = tmp_path / "out.txt"
    summary = import_movielens(path, out, values="rating", duplicates=policy)  # type: ignore[arg-type]
    assert out.read_text() == expected and summary.duplicates == 1


def test_duplicates_error_names_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "u.data", "1\t5\t1\t0\n\n1\t6\t2\t0\n1\t5\t3\t0\n")
    with pytest.raises(DataError, match=r"u\.data:4: .* feature '5' again \(first at line 1\)"):
        import_movielens(path, tmp_path / "out.txt", duplicates="error")


# --- generic tables ------------------------------------------------------------------------


def test_csv_by_name_keeps_first_appearance_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "session,item,w\nzeta,b,1\nalpha,a,2.5\nzeta,a,3\n")
    out = tmp_path / "out.txt"
    summary = import_csv(path, out, sample_col="session", feature_col="item", value_col="w")
    assert out.read_text() == "zeta\tb,1.0:a,3.0\nalpha\ta,2.5\n"
    assert (summary.samples, summary.features, summary.interactions) == (2, 2, 3)


def test_csv_labels_kept_verbatim_and_empty_table_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "s,f\n007,1.0\n10,2\n007,x y\n")
    out = tmp_path / "out.txt"
    import_csv(path, out, sample_col="s", feature_col="f")
    assert out.read_text() == "007\t1.0:x y\n10\t2\n"
    empty = _write(tmp_path / "e.csv", "s,f\n\n")
    with pytest.raises(DataError, match=r"e\.csv: expected at least one line"):
        import_csv(empty, tmp_path / "o2.txt", sample_col="s", feature_col="f")
    assert not (tmp_path / "o2.txt").exists()


def test_csv_by_index_without_header_tab_delimited(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.tsv", "x\tu1\ti9\nx\tu2\ti9\ny\tu1\ti8\n")
    out = tmp_path / "out.txt"
    import_csv(path, out, sample_col=1, feature_col="2", delimiter="tab", header=False)
    assert out.read_text() == "u1\ti9:i8\nu2\ti9\n"


def test_csv_case_insensitive_column_and_unknown_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "User,Item\na,b\n")
    import_csv(path, tmp_path / "o.txt", sample_col="user", feature_col="ITEM")
    assert (tmp_path / "o.txt").read_text() == "a\tb\n"
    with pytest.raises(UsageError, match=r"--feature-col must be one of .*\[User, Item\].*'Item'"):
        import_csv(path, tmp_path / "o.txt", sample_col="User", feature_col="Itm")
    with pytest.raises(UsageError, match="out of range"):
        import_csv(path, tmp_path / "o.txt", sample_col="User", feature_col=7)
    with pytest.raises(UsageError, match="0-based column number"):
        import_csv(path, tmp_path / "o.txt", sample_col="User", feature_col=1, header=False)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("s,f,v\na,b,1\n\na,c\n", 4, "expected 3 fields separated by ','"),
        ("s,f,v\na,b,1\na,c,oops\n", 3, "expected a numeric value in field 3, found 'oops'"),
        ("s,f,v\na,b,1\na,c:d,1\n", 3, "without ':'"),
        ("s,f,v\na,b,1\n,c,1\n", 3, "expected a non-empty sample label in field 1"),
    ],
)
def test_csv_bad_lines(tmp_path: Path, text: str, line: int, message: str) -> None:
    path, out = _write(tmp_path / "t.csv", text), tmp_path / "out.txt"
    with pytest.raises(DataError) as info:
        import_csv(path, out, sample_col="s", feature_col="f", value_col="v")
    assert str(info.value).startswith(f"{path}:{line}: expected") and message in str(info.value)
    _no_leftovers(tmp_path, out)


def test_unsorted_large_input_grouped_like_a_dict(tmp_path: Path) -> None:
    """Grouping with numpy equals grouping with a plain dict, on random unsorted data."""
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 300, 5000), rng.integers(0, 2000, 5000)
    rows = [(int(u), int(i), 3, 0) for u, i in zip(users, items, strict=True)]
    out = tmp_path / "out.txt"
    import_movielens(_fixture(tmp_path, "u.data", rows), out, duplicates="first")
    expected: dict[int, list[int]] = {}
    for u, i, _, _ in rows:
        if i not in expected.setdefault(u, []):
            expected[u].append(i)
    want = "".join(f"{u}\t{':'.join(map(str, expected[u]))}\n" for u in sorted(expected))
    assert out.read_text() == want


@pytest.mark.parametrize("keep_empty", [False, True])
@pytest.mark.parametrize("kind", ["none", "int", "float"])
def test_writer_matches_a_plain_python_reference(
    tmp_path: Path, kind: str, keep_empty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vectorized byte writer (bare / integral values) and the float path, in small chunks."""
    monkeypatch.setattr(writer, "_CHUNK_ELEMENTS", 7)  # many chunks, rows split across none
    rng = np.random.default_rng(kind.__len__())
    samples = np.array(["s0", "ünï", "x.y_z", "long" * 10, "9", "last"])
    features = np.array(["a", "bé", "12345678901234567890", "f_3"])
    counts = np.array([3, 0, 5, 1, 12, 0])
    indptr = np.r_[0, np.cumsum(counts)]
    codes = rng.integers(0, 4, indptr[-1])
    values = {
        "none": None,
        "int": rng.integers(-(10**12), 10**12, indptr[-1]) // rng.integers(1, 10**9, indptr[-1]),
        "float": rng.normal(size=indptr[-1]).round(3),
    }[kind]
    out = tmp_path / "out.txt"
    rows, nnz = write_dsstne_text(
        out,
        sample_labels=samples,
        indptr=indptr,
        feature_labels=features,
        feature_codes=codes,
        values=values,
        keep_empty=keep_empty,
    )
    lines = []
    for r in range(6):
        elems = [str(features[c]) for c in codes[indptr[r] : indptr[r + 1]]]
        if values is not None:
            vals = values[indptr[r] : indptr[r + 1]].tolist()
            elems = [f"{e},{v!r}" for e, v in zip(elems, vals, strict=True)]
        if elems or keep_empty:
            lines.append(f"{samples[r]}\t{':'.join(elems)}\n")
    assert out.read_text(encoding="utf-8") == "".join(lines)
    assert (rows, nnz) == (6 if keep_empty else 4, 21)


# --- LibSVM --------------------------------------------------------------------------------


def test_libsvm_features_and_targets(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "d.svm",
        "+1 3:1 10:0.5 # comment\n\n-1 1:2\n# only a comment\n2.0,7 \n0 3:1e3\n",
    )
    out, targets = tmp_path / "x.txt", tmp_path / "y.txt"
    summary = import_libsvm(path, out, targets=targets, sample_prefix="r")
    assert out.read_text() == "r0\t3,1.0:10,0.5\nr1\t1,2.0\nr2\t\nr3\t3,1000.0\n"
    assert targets.read_text() == "r0\t1\nr1\t-1\nr2\t2:7\nr3\t0\n"
    assert (summary.samples, summary.features, summary.interactions) == (4, 3, 4)
    import_libsvm(path, out, values=False)
    assert out.read_text() == "0\t3:10\n1\t1\n2\t\n3\t3\n"


def test_libsvm_compressed_and_bad_tokens(tmp_path: Path) -> None:
    import bz2

    packed = tmp_path / "d.svm.bz2"
    packed.write_bytes(bz2.compress(b"1 1:1 2:1\n0 2:1\n"))
    import_libsvm(packed, tmp_path / "x.txt")
    assert (tmp_path / "x.txt").read_text() == "0\t1,1:2,1\n1\t2,1\n"
    for text, line, found in [
        ("1 1:1\n0 a:1\n", 2, "'a:1'"),
        ("1 1:1\n0 2\n", 2, "'2'"),
        ("1 1:1\n\n0 2:x\n", 3, "'2:x'"),
        ("1 1:1\n0 2:inf\n", 2, "'2:inf'"),
        ("1:1 2:1\n", 1, "'1:1'"),
    ]:
        path, out = _write(tmp_path / "bad.svm", text), tmp_path / "bad.txt"
        with pytest.raises(DataError) as info:
            import_libsvm(path, out, targets=tmp_path / "bad_y.txt")
        assert str(info.value).startswith(f"{path}:{line}: expected") and found in str(info.value)
        _no_leftovers(tmp_path, out)
        assert not (tmp_path / "bad_y.txt").exists()


# --- the real data, read in place -----------------------------------------------------------


@pytest.mark.shared
def test_real_movielens_import_split_and_netcdf(shared_dir: Path, tmp_path: Path) -> None:
    generate = pytest.importorskip("lamina.data.generate")
    data = shared_dir / "data"
    cases = [
        ("ml-100k/u.data", "u.data", 943, 100_000, {"values": "timestamp"}),
        ("ml-latest-small/ratings.csv", "ratings.csv", 610, 100_836, {}),
        ("ml-1m-implicit/train.txt", "lists", 6040, 800_167, {}),
    ]
    for rel, fmt, users, pairs, opts in cases:
        src = data / rel
        if not src.is_file():
            pytest.skip(f"{src} not present")
        text = tmp_path / f"{fmt}.txt"
        summary = import_movielens(src, text, **opts)
        assert (summary.format, summary.samples, summary.interactions) == (fmt, users, pairs)
        train, test = tmp_path / f"{fmt}.train", tmp_path / f"{fmt}.test"
        split = split_text(text, train=train, test=test, seed=7, by_time="values" in opts)
        assert split.train_elements + split.test_elements == pairs
        assert 0.19 < split.test_elements / pairs < 0.21
        nc = tmp_path / f"{fmt}.nc"
        generate.generate_netcdf(
            [train],
            nc,
            dataset_name="input",
            feature_index=tmp_path / f"{fmt}.features",
            sample_index=tmp_path / f"{fmt}.samples",
            mode="create",
        )
        assert nc.is_file() and nc.stat().st_size > 0
    ge4 = import_movielens(data / "ml-latest-small/ratings.csv", tmp_path / "ge4.txt", min_rating=4)
    assert ge4.interactions == 48_580 and ge4.filtered == 100_836 - 48_580
    adult = data / "adult-libsvm" / "adult.trn.bz2"
    if adult.is_file():
        y = tmp_path / "adult_y.txt"
        summary = import_libsvm(adult, tmp_path / "adult_x.txt", targets=y)
        assert (summary.samples, summary.features) == (32_561, 123)
        labels = [line.split("\t")[1] for line in y.read_text().splitlines()]
        assert set(labels) == {"-1", "1"} and 0.23 < labels.count("1") / len(labels) < 0.25
