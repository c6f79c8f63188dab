"""generate_netcdf semantics: -c / -m / existing index, sample-index reuse, duplicates, hashing,
width rounding, and text -> netCDF -> reader -> text round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.data.generate import generate_netcdf
from lamina.data.index import load_index, write_index
from lamina.data.labels import hash_labels
from lamina.data.nc_read import read_dataset
from lamina.errors import DataError, UsageError


def gen(tmp_path: Path, text: str, name: str = "out", **kw):
    src = tmp_path / f"{name}.txt"
    src.write_text(text)
    kw.setdefault("feature_index", tmp_path / "features")
    kw.setdefault("sample_index", tmp_path / "samples")
    summary = generate_netcdf(src, tmp_path / f"{name}.nc", dataset_name=name, **kw)
    return summary, read_dataset(tmp_path / f"{name}.nc")


def as_text(ds, features: dict[str, int], samples: dict[str, int]) -> list[str]:
    """Rebuild text lines from a dataset file and its indices (the inverse of generate)."""
    f_inv = {v: k for k, v in features.items()}
    s_inv = {v: k for k, v in samples.items()}
    rows = ds.read_sparse(0, ds.examples)
    lines = []
    for r in range(ds.examples):
        lo, hi = rows.offsets[r], rows.offsets[r + 1]
        if rows.values is None:
            elems = [f_inv[i] for i in rows.indices[lo:hi].tolist()]
        else:
            elems = [
                f"{f_inv[i]},{v:g}"
                for i, v in zip(
                    rows.indices[lo:hi].tolist(), rows.values[lo:hi].tolist(), strict=True
                )
            ]
        lines.append(f"{s_inv[r]}\t" + ":".join(elems))
    return lines


def test_round_trip_analog(tmp_path: Path):
    rng = np.random.default_rng(1)
    lines = [
        f"user{i}\t"
        + ":".join(
            f"item{j},{v:g}"
            for j, v in zip(rng.integers(0, 400, k), np.round(rng.normal(size=k), 3), strict=True)
        )
        for i, k in enumerate(rng.integers(1, 30, 200))
    ]
    summary, ds = gen(
        tmp_path, "\n".join(lines) + "\n", mode="create", kind="analog", chunk_bytes=512
    )
    back = as_text(ds, load_index(tmp_path / "features"), load_index(tmp_path / "samples"))
    assert back == lines
    assert summary.width == 128 * -(-summary.features // 128)
    assert ds.width == summary.width and ds.data_type.name == "FLOAT"


def test_existing_index_drops_and_counts_unknown_features(tmp_path: Path):
    write_index(tmp_path / "features", {"a": 0, "b": 1})
    summary, ds = gen(tmp_path, "s1\ta:x:b:x:y\ns2\tz\n")
    assert summary.dropped_unknown == 4 and summary.dropped_unknown_labels == 3
    rows = ds.read_sparse(0, 2)
    assert rows.indices.tolist() == [0, 1] and rows.offsets.tolist() == [0, 2, 2]
    assert load_index(tmp_path / "features") == {"a": 0, "b": 1}  # never modified
    assert "missing from the feature index were dropped" in summary.describe()


def test_merge_appends_unseen_features(tmp_path: Path):
    write_index(tmp_path / "features", {"a": 0, "b": 1})
    summary, ds = gen(tmp_path, "s1\tc:a:d\n", mode="merge")
    assert load_index(tmp_path / "features") == {"a": 0, "b": 1, "c": 2, "d": 3}
    assert summary.new_features == 2
    assert ds.read_sparse(0, 1).indices.tolist() == [2, 0, 3]


def test_create_overwrites_feature_index(tmp_path: Path):
    write_index(tmp_path / "features", {"old": 0})
    gen(tmp_path, "s1\tb:a\n", mode="create")
    assert load_index(tmp_path / "features") == {"b": 0, "a": 1}


def test_existing_mode_needs_an_index(tmp_path: Path):
    with pytest.raises(DataError, match="features: cannot read feature index") as err:
        gen(tmp_path, "s\ta\n")
    assert "use -c" in str(err.value)


def test_width_counts_the_whole_index(tmp_path: Path):
    write_index(tmp_path / "features", {f"f{i}": i for i in range(129)})
    summary, ds = gen(tmp_path, "s\tf1\n")
    assert summary.width == ds.width == 256


def test_sample_index_reuse_keeps_files_aligned(tmp_path: Path):
    # inputs and outputs list samples in different orders, and the output lacks s2
    gen(tmp_path, "s1\ta\ns2\tb\ns3\tc\n", name="inp", mode="create", feature_index=tmp_path / "fi")
    summary, out = gen(
        tmp_path, "s3\tz\ns1\tx:y\n", name="outp", mode="create", feature_index=tmp_path / "fo"
    )
    assert summary.samples == 3 and summary.samples_absent == 1 and summary.new_samples == 0
    inp = read_dataset(tmp_path / "inp.nc")
    assert inp.examples == out.examples == 3
    rows = out.read_sparse(0, 3)
    fo = load_index(tmp_path / "fo")
    assert rows.offsets.tolist() == [0, 2, 2, 3]  # s1 -> x,y ; s2 -> empty ; s3 -> z
    assert rows.indices.tolist() == [fo["x"], fo["y"], fo["z"]]
    assert "written as empty rows" in summary.describe()


def test_new_samples_are_appended_to_existing_index(tmp_path: Path):
    write_index(tmp_path / "samples", {"old": 0})
    summary, ds = gen(tmp_path, "new\ta\nold\tb\n", mode="create")
    assert load_index(tmp_path / "samples") == {"old": 0, "new": 1}
    assert summary.new_samples == 1
    rows = ds.read_sparse(0, 2)
    assert rows.indices.tolist() == [1, 0]  # rows ordered by sample index: old (b=1), new (a=0)


@pytest.mark.parametrize(
    ("policy", "row"),
    [("merge", ["a", "b", "c"]), ("last", ["b", "c"])],
)
def test_duplicate_policies(tmp_path: Path, policy: str, row: list[str]):
    summary, ds = gen(tmp_path, "s\ta:b\nt\tx\ns\tb:c\n", mode="create", duplicates=policy)
    f = load_index(tmp_path / "features")
    rows = ds.read_sparse(0, 2)
    assert rows.indices[: rows.offsets[1]].tolist() == [f[x] for x in row]
    assert summary.duplicate_samples == 1 and summary.samples == 2


def test_duplicate_reject_names_both_lines(tmp_path: Path):
    with pytest.raises(DataError) as err:
        gen(tmp_path, "s\ta\nt\tx\ns\tb\n", mode="create")
    src = tmp_path / "out.txt"
    assert str(err.value).startswith(
        f"{src}:3: expected each sample on one line, found sample 's' again (first on {src}:1)"
    )
    assert not (tmp_path / "out.nc").exists() and not (tmp_path / "features").exists()


def test_hashing_is_stable_and_needs_no_index(tmp_path: Path):
    summary, ds = gen(tmp_path, "s1\talpha:beta\ns2\tgamma\n", feature_index=None, hash_bits=10)
    assert summary.width == ds.width == 1024 and summary.features == 1024
    assert not (tmp_path / "features").exists()
    expected = hash_labels(["alpha", "beta", "gamma"], 10)
    assert ds.read_sparse(0, 2).indices.tolist() == expected.tolist()
    # the hash is a fixed function of the label (blake2b-64), not Python's salted hash()
    import hashlib

    h = int.from_bytes(hashlib.blake2b(b"alpha", digest_size=8).digest(), "little") % 1024
    assert expected[0] == h


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"hash_bits": 8}, "expected no -f, -c or -m"),
        ({"feature_index": None, "hash_bits": 0}, "--hash-bits must be in 1..30"),
        ({"feature_index": None}, "expected a feature index file (-f) or --hash-bits"),
        ({"mode": "update"}, "mode must be one of ['create', 'merge', 'existing']"),
        ({"duplicates": "first"}, "duplicates must be one of"),
    ],
)
def test_usage_errors(tmp_path: Path, kw: dict, message: str):
    with pytest.raises(UsageError) as err:
        gen(tmp_path, "s\ta\n", **kw)
    assert message in str(err.value)


def test_all_features_dropped_is_an_error(tmp_path: Path):
    write_index(tmp_path / "features", {"a": 0})
    with pytest.raises(DataError, match="expected at least one non-zero"):
        gen(tmp_path, "s\tz\n")
    assert not (tmp_path / "out.nc").exists() and not (tmp_path / "samples").exists()


def test_sample_index_with_gaps_keeps_row_numbers(tmp_path: Path):
    write_index(tmp_path / "samples", {"a": 0, "c": 2})
    summary, ds = gen(tmp_path, "c\tx\nd\ty\n", mode="create")
    assert load_index(tmp_path / "samples") == {"a": 0, "c": 2, "d": 3}
    assert ds.examples == summary.samples == 4 and summary.samples_absent == 2
    assert ds.read_sparse(0, 4).offsets.tolist() == [0, 0, 0, 1, 2]


def test_duplicates_across_files_and_progress(tmp_path: Path):
    d = tmp_path / "parts"
    d.mkdir()
    (d / "1.txt").write_text("s\ta\n")
    (d / "2.txt").write_text("t\tb\ns\tc")
    with pytest.raises(
        DataError, match=r"2.txt:2: .* found sample 's' again \(first on .*1.txt:1\)"
    ):
        generate_netcdf(
            d,
            tmp_path / "o.nc",
            dataset_name="x",
            feature_index=tmp_path / "f",
            sample_index=None,
            mode="create",
        )
    seen: list[int] = []
    summary = generate_netcdf(
        d,
        tmp_path / "o.nc",
        dataset_name="x",
        feature_index=tmp_path / "f",
        sample_index=None,
        mode="create",
        duplicates="merge",
        progress=seen.append,
    )
    assert sum(seen) >= 12 and summary.duplicate_samples == 1 and summary.non_zeros == 3
