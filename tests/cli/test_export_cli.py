"""``lamina export`` and ``lamina predict --engine onnx``, driven in-process through ``lamina``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lamina.cli.main import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))
from tiny_world import World, build_world, reference_lines


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, list(map(str, args)))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def predict_args(world: World, network: Path, out: Path) -> list[str | Path]:
    return [
        "predict",
        "-d",
        "gl",
        "-n",
        network,
        "-r",
        world.text,
        "-i",
        world.features_input,
        "-o",
        world.features_output,
        "-s",
        out,
        "-k",
        "4",
    ]


def test_fp32_export_then_onnx_predict_is_byte_exact(world: World) -> None:
    model = world.dir / "gl.onnx"
    result = run("export", "-n", world.network, "-o", model)
    assert result.exit_code == 0, result.output
    assert "verification passed" in result.output and f"fp32 ONNX model to {model}" in result.output
    out = world.dir / "recs"
    result = run(*predict_args(world, model, out))  # .onnx: the onnx engine is chosen
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == reference_lines(world, world.scores(world.dense()), 4).encode()


def test_int8_export_prints_the_table_and_predict_runs(world: World) -> None:
    model = world.dir / "gl8.onnx"
    result = run(
        "export", "-n", world.network, "-o", model, "--int8", "dynamic", "--data", world.input_nc
    )
    assert result.exit_code == 0, result.output
    for row in ("size (MB)", "latency (ms", "max |diff| vs torch", "top-10 agreement"):
        assert row in result.output
    out = world.dir / "recs8"
    result = run(*predict_args(world, model, out), "--engine", "onnx")
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == len(world.rows)


def test_failed_bound_exits_1_without_output(world: World) -> None:
    model = world.dir / "strict.onnx"
    result = run(
        "export",
        "-n",
        world.network,
        "-o",
        model,
        "--int8",
        "dynamic",
        "--data",
        world.input_nc,
        "-k",
        "60",
        "--max-topk-disagreement",
        "0",
    )
    assert result.exit_code == 1, result.output
    assert "error: export verification failed" in result.output
    assert "top-60 agreement" in result.output
    assert not model.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--int8", "dynamic"], "needs real rows"),
        (["--int8", "static", "--data", "{input}"], "needs --calibration"),
        (["--int8", "int4"], "'int4' is not one of"),
        (["--layer", "Hiden"], "Did you mean 'Hidden'"),
    ],
)
def test_usage_errors_exit_2(world: World, extra: list[str], message: str) -> None:
    extra = [e.replace("{input}", str(world.input_nc)) for e in extra]
    result = run("export", "-n", world.network, "-o", world.dir / "x.onnx", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (world.dir / "x.onnx").exists()


def test_onnx_engine_on_a_network_file_is_a_checkpoint_error(world: World) -> None:
    result = run(*predict_args(world, world.network, world.dir / "r"), "--engine", "onnx")
    assert result.exit_code == 1
    assert "expected an ONNX model" in result.output


def test_export_is_listed_in_help() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "  export " in result.output and "Export a network to ONNX" in result.output
