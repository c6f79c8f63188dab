"""``lamina config validate|show`` on configs with $search annotations, in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lamina.cli.main import cli


def _config(hidden: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "Version": 0.8,
        **top,
        "Layers": [
            {"Name": "In", "Kind": "Input", "N": 8, "DataSet": "in"},
            {"Name": "H", "Kind": "Hidden", "N": 16, **hidden},
            {"Name": "Out", "Kind": "Output", "N": 4, "DataSet": "out"},
        ],
    }


GOOD = _config(
    {
        "N": {"$search": "int", "low": 64, "high": 1024, "log": True},
        "Activation": {"$search": "choice", "values": ["Sigmoid", "ReLU", "Tanh"]},
    },
    TrainingParameters={"Alpha": {"$search": "float", "low": 1e-4, "high": 1, "log": True}},
)


def _write(tmp_path: Path, data: dict[str, Any], name: str = "net.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_validate_accepts_an_annotated_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "validate", _write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    assert "net.json: ok (3 searched values)" in result.output


@pytest.mark.parametrize(
    ("hidden", "message"),
    [
        (
            {"pDropout": {"$search": "float", "low": 0.6, "high": 0.2}},
            "Layers[1].pDropout: low must be less than high. Got low=0.6, high=0.2.",
        ),
        (
            {"pDropout": {"$search": "float", "low": 0.1, "high": 1.2}},
            "Layers[1].pDropout: the $search range allows 1.2, which this key rejects",
        ),
        (
            {"Activation": {"$search": "choice", "values": ["ReLU", "Tahn"]}},
            "Did you mean 'Tanh'?",
        ),
        ({"N": {"$search": "itn", "low": 1, "high": 4}}, "$search must be one of [float, int"),
    ],
)
def test_validate_reports_bad_ranges_with_the_json_path(
    tmp_path: Path, hidden: dict[str, Any], message: str
) -> None:
    good = _write(tmp_path, GOOD, "good.json")
    bad = _write(tmp_path, _config(hidden))
    result = CliRunner().invoke(cli, ["config", "validate", good, bad])
    assert result.exit_code == 2
    assert "good.json: ok" in result.output
    assert f"error: {bad}: " in result.output and message in result.output


def test_show_prints_annotations_in_their_json_form(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "show", _write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    hidden = shown["Layers"][1]
    assert hidden["N"] == {"$search": "int", "low": 64, "high": 1024, "log": True, "step": 1}
    assert hidden["Activation"] == {"$search": "choice", "values": ["Sigmoid", "ReLU", "Tanh"]}
    assert shown["TrainingParameters"]["Alpha"]["$search"] == "float"
    assert hidden["pDropout"] == 0.0  # defaults are still filled in
