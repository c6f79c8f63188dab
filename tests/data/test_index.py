"""Index files: DSSTNE's ``loadIndex`` unit tests (TestNetCDFhelper.cpp) plus Lamina's rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lamina.data.index import check_index_checksum, file_sha256, load_index, write_index
from lamina.errors import DataError

VALID = "110510\t26743\n121019\t26740\n121017\t26739\n"


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "index.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_valid_index_loads_all_entries(tmp_path: Path):
    assert load_index(write(tmp_path, VALID)) == {"110510": 26743, "121019": 26740, "121017": 26739}


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        (VALID + "110510\t26743\n", 4, "duplicate label '110510'"),  # duplicate entry
        (VALID + "110510\t123\n", 4, "duplicate label '110510'"),  # duplicate label, other index
        (VALID + "\t123\n", 4, "expected a non-empty label"),  # missing label
        (VALID + "123\n", 4, "found no TAB"),  # missing tab
        ("110510\t123\t121017\n", 1, "found 2 TABs"),  # extra tab
        ("a\t1\nb\t1\n", 2, "found index 1 for 'b' (already used on line 1)"),  # duplicate index
        ("a\tx1\n", 1, "expected a non-negative integer index, found 'x1'"),
        ("a\t-1\n", 1, "expected a non-negative integer index, found '-1'"),
        (b"a\t1\n\xff\t2\n", 2, "expected UTF-8 text, found byte 0xff"),
    ],
)
def test_bad_index_lines_name_file_and_line(tmp_path: Path, text: str, line: int, what: str):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_index(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert what in str(err.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match="cannot read index file"):
        load_index(tmp_path / "nope")


def test_empty_lines_are_skipped(tmp_path: Path):
    assert load_index(write(tmp_path, "a\t0\n\nb\t1\n\n")) == {"a": 0, "b": 1}


def test_write_sorts_by_index_and_round_trips(tmp_path: Path):
    path = tmp_path / "out"
    write_index(path, {"z": 2, "a": 0, "m": 1})
    assert path.read_text() == "a\t0\nm\t1\nz\t2\n"
    assert load_index(path) == {"a": 0, "m": 1, "z": 2}


def test_write_rejects_unreadable_labels_and_keeps_old_file(tmp_path: Path):
    path = tmp_path / "out"
    path.write_text("old\t0\n")
    with pytest.raises(DataError, match="without TAB or newline"):
        write_index(path, {"ok": 0, "bad\tlabel": 1})
    assert path.read_text() == "old\t0\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_file_sha256_and_the_index_checksum_check(tmp_path: Path) -> None:
    path = tmp_path / "features_input"
    write_index(path, {"a": 0, "b": 1})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == digest
    check_index_checksum(path, {"features_input": digest}, flag="-i")  # same file: passes
    check_index_checksum(path, {"features_output": "0" * 64}, flag="-i")  # other name: unchecked
    with pytest.raises(DataError, match=r"features_input \(-i\): expected .* found a different"):
        check_index_checksum(path, {"features_input": "0" * 64}, flag="-i")
