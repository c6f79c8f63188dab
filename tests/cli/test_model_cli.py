"""``lamina model summary`` driven in-process through the real CLI group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina.cli.main import cli

MOVIELENS_LIKE = {
    "Version": 0.7,
    "Name": "AE",
    "Layers": [
        {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": True},
        {
            "Name": "Hidden",
            "Kind": "Hidden",
            "Type": "FullyConnected",
            "N": 128,
            "Activation": "Sigmoid",
            "Sparse": True,
        },
        {
            "Name": "Output",
            "Kind": "Output",
            "Type": "FullyConnected",
            "DataSet": "gl_output",
            "N": "auto",
            "Activation": "Sigmoid",
            "Sparse": True,
        },
    ],
    "ErrorFunction": "ScaledMarginalCrossEntropy",
}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(MOVIELENS_LIKE))
    return path


def test_summary_prints_the_table(config_file: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "model",
            "summary",
            str(config_file),
            "--width",
            "gl_input=256",
            "--width",
            "gl_output=256",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("AE")
    hidden = next(line for line in lines if line.startswith("Hidden"))
    assert "(128,)" in hidden and "Sigmoid" in hidden and "32,896" in hidden  # 256*128 + 128
    total = 256 * 128 + 128 + 128 * 256 + 256
    assert f"Total parameters: {total:,}" in result.output


def test_missing_width_exits_2_naming_dataset_and_flag(config_file: Path) -> None:
    result = CliRunner().invoke(
        cli, ["model", "summary", str(config_file), "--width", "gl_input=256"]
    )
    assert result.exit_code == 2
    assert "'gl_output'" in result.output and "--width gl_output=N" in result.output


@pytest.mark.parametrize(
    "bad", ["gl_input", "gl_input=", "gl_input=0", "=5", "gl_input=1,2,3,4", "gl_input=x"]
)
def test_malformed_width_exits_2(config_file: Path, bad: str) -> None:
    result = CliRunner().invoke(cli, ["model", "summary", str(config_file), "--width", bad])
    assert result.exit_code == 2
    assert "--width must look like NAME=N or NAME=N,H,L" in result.output


def test_image_width_and_not_supported_layer(tmp_path: Path) -> None:
    cfg = {
        "Version": 0.81,
        "Layers": [
            {
                "Name": "Input",
                "Kind": "Input",
                "Type": "Convolutional",
                "N": "auto",
                "DataSet": "img",
            },
            {
                "Name": "Other",
                "Kind": "Input",
                "Type": "Convolutional",
                "N": [8, 8, 3],
                "DataSet": "img2",
            },
            {
                "Name": "P",
                "Kind": "Hidden",
                "Type": "Pooling",
                "Function": "Cosine",
                "Source": ["Input", "Other"],
            },
            {"Name": "Output", "Kind": "Output", "N": 10, "Source": "P", "DataSet": "y"},
        ],
    }
    path = tmp_path / "cos.json"
    path.write_text(json.dumps(cfg))
    result = CliRunner().invoke(cli, ["model", "summary", str(path), "--width", "img=8,8,3"])
    assert result.exit_code == 2
    assert "'P'" in result.output and "Cosine" in result.output
