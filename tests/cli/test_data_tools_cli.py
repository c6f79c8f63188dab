"""``lamina data import / split / synth``, driven in-process through the real ``lamina`` group."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lamina.cli.main import cli


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["data", *map(str, args)])


@pytest.fixture
def udata(tmp_path: Path) -> Path:
    path = tmp_path / "u.data"
    path.write_text("2\t10\t4\t100\n1\t20\t5\t300\n1\t10\t3\t200\n2\t30\t1\t50\n")
    return path


def test_import_movielens(tmp_path: Path, udata: Path) -> None:
    out = tmp_path / "out.txt"
    result = run("import", "movielens", udata, "-o", out, "--values", "timestamp")
    assert result.exit_code == 0, result.output
    assert out.read_text() == "1\t20,300:10,200\n2\t10,100:30,50\n"
    assert "2 samples, 3 features, 4 interactions (from u.data)" in result.output


def test_import_min_rating_and_forced_format(tmp_path: Path, udata: Path) -> None:
    out = tmp_path / "out.txt"
    result = run("import", "movielens", udata, "-o", out, "--min-rating", "4", "--format", "u.data")
    assert result.exit_code == 0, result.output
    assert out.read_text() == "1\t20\n2\t10\n" and "2 below --min-rating dropped" in result.output


def test_import_bad_line_exits_2_without_output(tmp_path: Path) -> None:
    path, out = tmp_path / "u.data", tmp_path / "out.txt"
    path.write_text("1\t2\t3\t4\n1\t3\tbad\t4\n")
    result = run("import", "movielens", path, "-o", out)
    assert result.exit_code == 2
    assert f"error: {path}:2: expected a numeric rating in field 3, found 'bad'" in result.output
    assert not out.exists()


def test_import_lists_min_rating_is_an_error(tmp_path: Path) -> None:
    path, out = tmp_path / "train.txt", tmp_path / "out.txt"
    path.write_text("0 5 6 7\n1 5\n")
    result = run("import", "movielens", path, "-o", out, "--min-rating", "4")
    assert result.exit_code == 2 and "--min-rating needs ratings" in result.output
    assert not out.exists()
    assert run("import", "movielens", path, "-o", out).exit_code == 0
    assert out.read_text() == "0\t5:6:7\n1\t5\n"


def test_import_csv(tmp_path: Path) -> None:
    path, out = tmp_path / "t.tsv", tmp_path / "out.txt"
    path.write_text("who\twhat\tn\nbob\tx\t2\nann\ty\t1\nbob\tz\t1\n")
    args = ["--sample-col", "who", "--feature-col", "1", "--value-col", "n", "--delimiter", "tab"]
    result = run("import", "csv", path, "-o", out, *args)
    assert result.exit_code == 0, result.output
    assert out.read_text() == "bob\tx,2:z,1\nann\ty,1\n"
    bad = run(
        "import",
        "csv",
        path,
        "-o",
        out,
        "--sample-col",
        "wh0",
        "--feature-col",
        "what",
        "--delimiter",
        "\t",
    )
    assert bad.exit_code == 2 and "Did you mean 'who'" in bad.output


def test_netcdf_options_need_nc_and_dataset(tmp_path: Path, udata: Path) -> None:
    out = tmp_path / "out.txt"
    result = run("import", "movielens", udata, "-o", out, "--nc", tmp_path / "x.nc")
    assert result.exit_code == 2 and "--nc needs --dataset" in result.output
    result = run("import", "movielens", udata, "-o", out, "--dataset", "input")
    assert result.exit_code == 2 and "need --nc" in result.output
    assert not out.exists()


def test_import_to_netcdf(tmp_path: Path, udata: Path) -> None:
    pytest.importorskip("lamina.data.generate")
    from lamina.data.index import load_index
    from lamina.data.nc_read import open_datasets

    out, nc = tmp_path / "out.txt", tmp_path / "gl_input.nc"
    result = run("import", "movielens", udata, "-o", out, "--nc", nc, "--dataset", "gl_input")
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and nc.is_file()
    assert set(load_index(tmp_path / "features_gl_input")) == {"10", "20", "30"}
    assert set(load_index(tmp_path / "samples_gl_input")) == {"1", "2"}
    assert len(open_datasets(nc)) == 1


def test_split(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text(
        "".join(f"u{i}\t" + ":".join(f"i{j}" for j in range(10)) + "\n" for i in range(5))
    )
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    result = run("split", path, "--train", train, "--test", test, "--seed", "3")
    assert result.exit_code == 0, result.output
    assert all(len(line.split("\t")[1].split(":")) == 2 for line in test.read_text().splitlines())
    assert all(len(line.split("\t")[1].split(":")) == 8 for line in train.read_text().splitlines())
    assert "test.txt: 5 samples, 10 features" in result.output
    first = (train.read_bytes(), test.read_bytes())
    run("split", path, "--train", train, "--test", test, "--seed", "3")
    assert (train.read_bytes(), test.read_bytes()) == first


def test_split_strong_generalization(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text(
        "".join(f"u{i}\t" + ":".join(f"i{j}" for j in range(5)) + "\n" for i in range(20))
    )
    train, test, fold = tmp_path / "train", tmp_path / "test", tmp_path / "fold"
    args = ["--holdout-samples", "4", "--fold-in-fraction", "0.8", "--fold-in", fold]
    result = run("split", path, "--train", train, "--test", test, *args)
    assert result.exit_code == 0, result.output
    assert len(train.read_text().splitlines()) == 16 and len(test.read_text().splitlines()) == 4
    assert len(fold.read_text().splitlines()) == 4 and "(4 samples held out)" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--holdout-fraction", "0.2", "--holdout-samples", "3"],
        ["--holdout-samples", "lots"],
        ["--fold-in-fraction", "0.5"],
        ["--by-time", "--holdout-samples", "2"],
    ],
)
def test_split_usage_errors(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "in.txt"
    path.write_text("a\tx,1:y,2:z,3\n")
    result = run("split", path, "--train", tmp_path / "tr", "--test", tmp_path / "te", *args)
    assert result.exit_code == 2 and result.output.startswith("error: --")
    assert not (tmp_path / "tr").exists()


def test_synth(tmp_path: Path) -> None:
    out = tmp_path / "syn.txt"
    args = ["--samples", "100", "--features", "50", "--nnz", "5", "--seed", "1", "-o", out]
    result = run("synth", *args)
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 100 and "100 samples" in result.output
    bad = run("synth", "--samples", "10", "--features", "5", "--nnz", "9", "-o", out)
    assert bad.exit_code == 2 and "--nnz must be in" in bad.output


def test_synth_to_netcdf(tmp_path: Path) -> None:
    pytest.importorskip("lamina.data.generate")
    out, nc = tmp_path / "syn.txt", tmp_path / "syn.nc"
    args = ["--samples", "30", "--features", "20", "--nnz", "4", "-o", out, "--nc", nc]
    result = run("synth", *args, "--dataset", "input", "--kind", "indicator")
    assert result.exit_code == 0, result.output
    assert nc.is_file() and (tmp_path / "features_input").is_file()


def test_import_libsvm(tmp_path: Path) -> None:
    path, out, y = tmp_path / "d.svm", tmp_path / "x.txt", tmp_path / "y.txt"
    path.write_text("+1 4:1 9:1\n-1 9:1\n")
    result = run("import", "libsvm", path, "-o", out, "--targets", y, "--no-values")
    assert result.exit_code == 0, result.output
    assert out.read_text() == "0\t4:9\n1\t9\n" and y.read_text() == "0\t1\n1\t-1\n"
    path.write_text("+1 4:1 9:1\n-1 9=1\n")
    result = run("import", "libsvm", path, "-o", tmp_path / "z.txt")
    assert result.exit_code == 2 and f"error: {path}:2: expected 'index:value'" in result.output
