"""The text format: what is accepted, what is an error (with FILE:LINE), and that a failed
conversion leaves no output and no changed index behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.data import text_parse
from lamina.data.generate import generate_netcdf
from lamina.data.textformat import read_chunks
from lamina.errors import DataError


def rows_of(path: Path, *, analog: bool = False, chunk_bytes: int = 1 << 20, skip: bool = False):
    """Parse into [(line, sample, [features], [values] | None)] for easy comparison."""
    out = []
    for c in read_chunks(path, analog=analog, chunk_bytes=chunk_bytes, skip_bad_lines=skip):
        pos = 0
        for r, n in enumerate(c.row_lengths.tolist()):
            codes = c.feature_codes[pos : pos + n]
            vals = None if c.values is None else c.values[pos : pos + n].tolist()
            out.append(
                (
                    int(c.line_numbers[r]),
                    c.sample_labels[c.sample_codes[r]],
                    [c.feature_labels[i] for i in codes],
                    vals,
                )
            )
            pos += n
    return out


def test_dsstne_forms(tmp_path: Path):
    src = tmp_path / "in.txt"
    src.write_bytes(
        b"u1\ta,1.5:b:c,2\r\n"  # CRLF, an element without value
        b"\n"  # empty line: ignored
        b"u:2\tx,1::y,3:\n"  # ':' in a sample label, empty element, trailing ':'
        b"u3\t\n"  # no features
        b"\xc3\xa9t\xc3\xa9\tcaf\xc3\xa9,4"  # UTF-8 labels, no final newline
    )
    assert rows_of(src, analog=True) == [
        (1, "u1", ["a", "b", "c"], [1.5, 0.0, 2.0]),
        (3, "u:2", ["x", "y"], [1.0, 3.0]),
        (4, "u3", [], []),
        (5, "été", ["café"], [4.0]),
    ]
    # indicator mode ignores value text entirely
    src.write_text("u1\ta,not-a-number:b,\n")
    assert rows_of(src) == [(1, "u1", ["a", "b"], None)]


def test_chunks_split_only_between_lines(tmp_path: Path):
    rng = np.random.default_rng(0)
    lines = [
        f"s{i}\t" + ":".join(f"f{j},{j / 7:.3f}" for j in rng.integers(0, 50, rng.integers(1, 9)))
        for i in range(300)
    ]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n")
    whole = rows_of(src, analog=True, chunk_bytes=1 << 20)
    assert len(whole) == 300
    assert rows_of(src, analog=True, chunk_bytes=97) == whole


def test_fast_path_equals_general_path(tmp_path: Path):
    buf = b"a\tf1,1:f2,2:f1,3\nb\tf3:f2,5\nc\tf9,-1e3\n"
    fast = text_parse.parse_clean(tmp_path, buf, 1, True)
    general = text_parse.parse_general(tmp_path, buf, 1, True, False)
    assert fast is not None
    for field in ("line_numbers", "sample_codes", "row_lengths", "feature_codes", "values"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(general, field))
    assert fast.feature_labels == general.feature_labels == ["f1", "f2", "f3", "f9"]


BAD = [
    (b"a\tf1\nno tab here\n", 2, "expected 'sample<TAB>features', found no TAB in 'no tab here'"),
    (b"a\tf1\n\tf2\n", 2, "expected a sample label before the TAB, found an empty label"),
    (b"a\tf1\tf2\n", 1, "expected one TAB per line, found more than one"),
    (b"a\tf1\nb\tf1,2:,3\n", 2, "expected a feature label before ',', found ',3'"),
    (b"a\tf1,1,2\n", 1, "expected 'feature[,value]', found more than one ',' in 'f1,1,2'"),
    (b"a\tf1,1\nb\tf2,x\n", 2, "expected a finite number after ',' (analog data), found 'x'"),
    (b"a\tf1,1\nb\tf2,\n", 2, "expected a finite number after ',' (analog data), found ''"),
    (b"a\tf1,nan\n", 1, "expected a finite number after ',' (analog data), found 'nan'"),
    (b"a\tf1\nb\tf\xff\n", 2, "expected UTF-8 text, found byte 0xff"),
]


@pytest.mark.parametrize(("content", "line", "message"), BAD)
def test_bad_input_fails_cleanly(tmp_path: Path, content: bytes, line: int, message: str):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    features, samples = tmp_path / "features", tmp_path / "samples"
    features.write_text("f1\t0\n")
    with pytest.raises(DataError) as err:
        generate_netcdf(
            src,
            tmp_path / "out.nc",
            dataset_name="x",
            feature_index=features,
            sample_index=samples,
            mode="merge",
            kind="analog",
        )
    assert str(err.value) == f"{src}:{line}: {message}"
    assert not (tmp_path / "out.nc").exists()
    assert not samples.exists()
    assert features.read_text() == "f1\t0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features", "in.txt"]


def test_skip_bad_lines_counts_and_keeps_examples(tmp_path: Path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"".join(c for c, _, _ in BAD) + b"good\tf1,1\n")
    summary = generate_netcdf(
        src,
        tmp_path / "out.nc",
        dataset_name="x",
        feature_index=tmp_path / "f",
        sample_index=tmp_path / "s",
        mode="create",
        kind="analog",
        skip_bad_lines=True,
        duplicates="last",
    )
    assert summary.bad_lines == 9
    assert summary.bad_line_examples[0] == f"{src}:2: " + BAD[0][2]
    assert len(summary.bad_line_examples) == 5
    # good lines of the same files were kept: a (line 1), a (3), b (5) ... and "good"
    assert "good" in (tmp_path / "s").read_text()


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\r\n"])
def test_empty_input_is_an_error(tmp_path: Path, content: bytes):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    with pytest.raises(
        DataError, match=r"in.txt: expected at least one 'sample<TAB>features' line"
    ):
        generate_netcdf(
            src,
            tmp_path / "o.nc",
            dataset_name="x",
            feature_index=tmp_path / "f",
            sample_index=tmp_path / "s",
            mode="create",
        )
    assert not (tmp_path / "o.nc").exists()


def test_unreadable_inputs(tmp_path: Path):
    with pytest.raises(DataError, match="cannot read input"):
        generate_netcdf(
            tmp_path / "missing.txt",
            tmp_path / "o.nc",
            dataset_name="x",
            feature_index=tmp_path / "f",
            sample_index=None,
            mode="create",
        )
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataError, match="expected text files in this directory"):
        generate_netcdf(
            tmp_path / "empty_dir",
            tmp_path / "o.nc",
            dataset_name="x",
            feature_index=tmp_path / "f",
            sample_index=None,
            mode="create",
        )
    with pytest.raises(DataError, match=r"nope.txt: cannot read input file"):
        list(read_chunks(tmp_path / "nope.txt"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_dir"]


def test_directory_input_is_sorted_and_non_recursive(tmp_path: Path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "b.txt").write_text("s2\tf2\n")
    (d / "a.txt").write_text("s1\tf1\n")
    (d / "sub" / "c.txt").write_text("s3\tf3\n")
    generate_netcdf(
        d,
        tmp_path / "o.nc",
        dataset_name="x",
        feature_index=tmp_path / "f",
        sample_index=tmp_path / "s",
        mode="create",
    )
    assert (tmp_path / "s").read_text() == "s1\t0\ns2\t1\n"
    assert (tmp_path / "f").read_text() == "f1\t0\nf2\t1\n"


def test_error_message_describes_the_reported_line(tmp_path: Path):
    # many bad elements on line 1 must not make line 2's message quote line 1
    src = tmp_path / "in.txt"
    src.write_text("a\t" + ":".join(["x,1,2"] * 1500) + "\n")
    src.write_text(src.read_text() + "b\ty,3,4\n")
    errors = [e for c in read_chunks(src, skip_bad_lines=True) for e in c.errors]
    assert [e.line for e in errors] == [1, 2]
    assert errors[1].message.endswith("found more than one ',' in 'y,3,4'")


def test_quoted_values_are_not_numbers(tmp_path: Path):
    src = tmp_path / "in.txt"
    src.write_text('a\tx,"1"\n')
    with pytest.raises(DataError, match=r"in.txt:1: expected a finite number .* found '\"1\"'"):
        list(read_chunks(src, analog=True))
