"""``lamina predict``, driven in-process through the real ``lamina`` group."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from lamina.cli.main import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))
from tiny_world import N_ITEMS, World, build_world, reference_lines, write_text


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def base_args(world: World, out: Path) -> list[str | Path]:
    return [
        "-d",
        "gl",
        "-n",
        world.network,
        "-r",
        world.text,
        "-i",
        world.features_input,
        "-o",
        world.features_output,
        "-s",
        out,
    ]


def test_dsstne_flags_and_byte_exact_output(world: World) -> None:
    out = world.dir / "recs"
    result = run(*base_args(world, out), "-k", "4", "-b", "5")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == reference_lines(world, world.scores(world.dense()), 4).encode()
    assert f"for {len(world.rows)} samples to {out}" in result.output


def test_filter_k_beyond_catalogue_and_precision(world: World) -> None:
    out = world.dir / "recs"
    result = run(*base_args(world, out), "-k", "1000", "-f", world.text, "-p", "6.4f")
    assert result.exit_code == 0, result.output
    removed = {user: set(items) for user, items in world.rows.items()}
    scores = world.scores(world.dense())
    assert out.read_text() == reference_lines(world, scores, 1000, removed=removed, fmt="%6.4f")
    assert "items removed" in result.output


def test_unknown_features_are_reported(world: World) -> None:
    text = write_text(world.dir / "noisy.txt", {"u1": ["m1", "nope", "m2"], "u2": ["nope", "x"]})
    args = base_args(world, world.dir / "recs")
    args[args.index("-r") + 1] = text
    result = run(*args, "-k", "2")
    assert result.exit_code == 0, result.output
    assert "3 input features (2 distinct) not in" in result.output


def test_layer_and_dump_layer_npy(world: World) -> None:
    npy = world.dir / "emb.npy"
    result = run(
        "-d",
        "gl",
        "-n",
        world.network,
        "-r",
        world.text,
        "-i",
        world.features_input,
        "-s",
        npy,
        "--dump-layer",
        "Hidden",
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(npy), world.scores(world.dense(), "Hidden"), rtol=1e-5)
    result = run(*base_args(world, world.dir / "r"), "--layer", "Hiden")
    assert result.exit_code == 2
    assert "--layer must name a non-input layer" in result.output and "'Hidden'?" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("-n", "missing.nc"), "'missing.nc' does not exist"),
        (("-d", "movies"), "Input datasets: ['gl_input']"),
        (("-p", "4.3d"), "precision must be a printf float format"),
        (("-k", "0"), "0 is not in the range x>=1"),
    ],
)
def test_errors_exit_2(world: World, change: tuple[str, str], message: str) -> None:
    flag, value = change
    args = base_args(world, world.dir / "recs")
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (world.dir / "recs").exists()


def test_missing_output_index_needs_dump_layer(world: World) -> None:
    result = run(
        "-d",
        "gl",
        "-n",
        world.network,
        "-r",
        world.text,
        "-i",
        world.features_input,
        "-s",
        world.dir / "recs",
    )
    assert result.exit_code == 2 and "missing -o" in result.output


def test_movielens_pipeline_end_to_end(tmp_path: Path) -> None:
    """DSSTNE's run_movielens_sample.sh on synthetic data: generate-netcdf x2, train, predict."""
    world = build_world(tmp_path)  # the text and a config; the CLI rebuilds everything else
    ratings = world.text
    runner = CliRunner()
    for name, index in (("gl_input", "fi"), ("gl_output", "fo")):
        res = runner.invoke(
            cli,
            [
                "generate-netcdf",
                "-d",
                name,
                "-i",
                str(ratings),
                "-o",
                str(tmp_path / f"{name}.nc"),
                "-f",
                str(tmp_path / index),
                "-s",
                str(tmp_path / "si"),
                "-c",
            ],
        )
        assert res.exit_code == 0, res.output
    config = tmp_path / "config.json"
    config.write_text(
        '{"Version": 0.7, "Name": "AE", "Kind": "FeedForward", "ShuffleIndices": false,'
        ' "SparsenessPenalty": {"p": 0.5, "beta": 2.0}, "Denoising": {"p": 0.2},'
        ' "ScaledMarginalCrossEntropy": {"oneTarget": 1.0, "zeroTarget": 0.0, "oneScale": 1.0,'
        ' "zeroScale": 1.0}, "ErrorFunction": "ScaledMarginalCrossEntropy", "Layers": ['
        '{"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": true},'
        '{"Name": "Hidden", "Kind": "Hidden", "Type": "FullyConnected", "N": 8,'
        ' "Activation": "Sigmoid", "Sparse": true},'
        '{"Name": "Output", "Kind": "Output", "Type": "FullyConnected", "DataSet": "gl_output",'
        ' "N": "auto", "Activation": "Sigmoid", "Sparse": true}]}'
    )
    net = tmp_path / "gl2.nc"
    res = runner.invoke(
        cli,
        [
            "train",
            "-c",
            str(config),
            "-i",
            str(tmp_path / "gl_input.nc"),
            "-o",
            str(tmp_path / "gl_output.nc"),
            "-n",
            str(net),
            "-b",
            "4",
            "-e",
            "2",
            "--no-tensorboard",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    recs = tmp_path / "recs"
    res = runner.invoke(
        cli,
        [
            "predict",
            "-b",
            "5",
            "-d",
            "gl",
            "-i",
            str(tmp_path / "fi"),
            "-o",
            str(tmp_path / "fo"),
            "-k",
            "10",
            "-n",
            str(net),
            "-f",
            str(ratings),
            "-s",
            str(recs),
            "-r",
            str(ratings),
        ],
    )
    assert res.exit_code == 0, res.output
    lines = recs.read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == list(world.rows)
    entry = r"m\d+,\d\.\d{3}:"
    for line in lines:
        user, rest = line.split("\t")
        assert re.fullmatch(f"({entry})+", rest), line
        shown = [e.split(",")[0] for e in rest.split(":")[:-1]]
        assert len(shown) == min(10, N_ITEMS - len(world.rows[user]))
        assert not set(shown) & set(world.rows[user])  # the filter removed every seen item
        scores = [float(e.split(",")[1]) for e in rest.split(":")[:-1]]
        assert scores == sorted(scores, reverse=True)
