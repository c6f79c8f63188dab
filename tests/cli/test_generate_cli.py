"""``lamina generate-netcdf`` and ``lamina data info``, driven in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina.cli.main import cli
from lamina.data.nc_read import read_dataset


@pytest.fixture
def text(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("u1\ta,1:b,2\nu2\tc,3\n")
    return path


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def generate(tmp_path: Path, dataset: str, source: str, *extra: str):
    """``generate-netcdf -d DATASET -i SOURCE`` writing o.nc, f and s under ``tmp_path``."""
    out = [str(tmp_path / name) for name in ("o.nc", "f", "s")]
    return run("generate-netcdf", "-d", dataset, "-i", source, "-o", out[0], "-f", out[1],
               "-s", out[2], *extra)  # fmt: skip


def test_generate_then_info(tmp_path: Path, text: Path):
    out = tmp_path / "o.nc"
    res = run(
        "generate-netcdf",
        "-d",
        "gl_input",
        "-i",
        str(text),
        "-o",
        str(out),
        "-f",
        str(tmp_path / "f"),
        "-s",
        str(tmp_path / "s"),
        "-c",
        "-t",
        "analog",
    )
    assert res.exit_code == 0, res.output
    assert "Wrote" in res.output and "2 samples x width 128" in res.output
    assert "3 non-zeros" in res.output
    assert read_dataset(out).name == "gl_input"
    info = run("data", "info", str(out))
    assert info.exit_code == 0, info.output
    assert "'gl_input': sparse FLOAT" in info.output
    assert "examples 2  width 128  non-zeros 3  density 0.011719" in info.output
    assert "values 1 .. 3  rows with no entries 0" in info.output


def test_hash_bits_needs_no_feature_index(tmp_path: Path, text: Path):
    res = run(
        "generate-netcdf",
        "-d",
        "x",
        "-i",
        str(text),
        "-o",
        str(tmp_path / "o.nc"),
        "-s",
        str(tmp_path / "s"),
        "--hash-bits",
        "12",
    )
    assert res.exit_code == 0, res.output
    assert read_dataset(tmp_path / "o.nc").width == 4096


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["-c", "-m"],
            "error: -c (create a feature index) and -m (merge into one) exclude each other",
        ),
        ([], "error: "),  # existing mode without an index file
    ],
)
def test_usage_errors_exit_2_without_traceback(tmp_path: Path, text: Path, extra, message):
    res = generate(tmp_path, "x", str(text), *extra)
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.nc").exists()


def test_bad_line_exit_2_names_file_and_line(tmp_path: Path):
    src = tmp_path / "bad.txt"
    src.write_text("u1\ta\nu2 b\n")
    res = generate(tmp_path, "x", str(src), "-c")
    assert res.exit_code == 2
    assert f"error: {src}:2: expected 'sample<TAB>features', found no TAB in 'u2 b'" in res.output
    assert not (tmp_path / "f").exists() and not (tmp_path / "o.nc").exists()


def test_info_on_a_bad_file(tmp_path: Path):
    bad = tmp_path / "bad.nc"
    bad.write_text("nope")
    res = run("data", "info", str(bad))
    assert res.exit_code == 2 and "expected a netCDF-4 dataset file" in res.output


def test_bad_type_choice_is_a_usage_error(tmp_path: Path, text: Path):
    res = generate(tmp_path, "x", str(text), "-t", "analogue")
    assert res.exit_code == 2 and "'analogue' is not one of" in res.output
