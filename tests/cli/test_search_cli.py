"""``lamina search`` in-process: a real search on a local Ray, exit codes of bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli.main import cli
from lamina.config import load_config
from lamina.data.nc_write import DatasetArrays, write_datasets

CONFIG = Path(__file__).parents[1] / "search" / "search_config.json"


def _write(path: Path, name: str, rows: list[np.ndarray], width: int = 24) -> None:
    write_datasets(path, [DatasetArrays.sparse_rows(name, rows, width)])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """An annotated config, inputs (3 items per user) and targets (those + 2 held out)."""
    rng = np.random.default_rng(1)
    full = [rng.choice(np.arange(12) + 12 * (i % 2), size=5, replace=False) for i in range(60)]
    _write(tmp_path / "in.nc", "gl_input", [np.sort(r[:3]) for r in full])
    _write(tmp_path / "out.nc", "gl_output", [np.sort(r) for r in full])
    (tmp_path / "search.json").write_text(CONFIG.read_text())
    return {
        "config": tmp_path / "search.json",
        "in": tmp_path / "in.nc",
        "out": tmp_path / "out.nc",
    }


def command(files: dict[str, Path], study: Path, *extra: str) -> list[str]:
    return [
        "search",
        "-c",
        str(files["config"]),
        "-i",
        str(files["in"]),
        "-o",
        str(files["out"]),
        "--study",
        str(study),
        "--no-progress",
        *extra,
    ]


def run(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_help_lists_search() -> None:
    result = run(["--help"])
    assert "search" in result.output and "Bayesian hyperparameter search" in result.output
    result = run(["search", "--help"])
    assert result.exit_code == 0 and "--no-early-stop" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--validation-fraction", "0.2", "--metric", "NDCG@5"], "--metric must be one of"),
        ([], "is measured on validation data"),
        (["--metric", "training_loss", "--strategy", "tpe"], "Invalid value for '--strategy'"),
    ],
)
def test_bad_input_exits_2(
    files: dict[str, Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    result = run(command(files, tmp_path / "study", *extra))
    assert result.exit_code == 2
    assert message in result.output


def test_study_of_another_search_exits_2(files: dict[str, Path], tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    stored = json.loads(CONFIG.read_text())
    stored["Name"] = "another search"
    (study / "study.json").write_text(
        json.dumps(
            {
                "config": stored,
                "space": {},
                "metric": "ndcg@10",
                "direction": "maximize",
                "strategy": "bayes",
                "seed": 1,
                "data": {},
            }
        )
    )
    result = run(command(files, study, "--validation-fraction", "0.2"))
    assert result.exit_code == 2
    assert "holds a study with a different config" in result.output


def test_search_runs_and_writes_a_plain_best_config(files: dict[str, Path], tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():  # shared with tests/search (Ray's exit hook stops it)
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",
        )
    study = tmp_path / "study"
    args = command(
        files,
        study,
        "--validation-fraction",
        "0.25",
        "--trials",
        "3",
        "--parallel",
        "2",
        "--strategy",
        "random",
        "--metric",
        "loss",
        "--objective",
        "last",
        "-e",
        "1",
    )
    result = run(args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["trial", "state", "epochs", "loss"]
    assert len([line for line in lines[1:4] if line.lstrip(" *")[:4].isdigit()]) == 3
    assert "best: trial" in result.stdout
    statuses = [json.loads(p.read_text()) for p in (study / "trials").glob("*/status.json")]
    assert len(statuses) == 3 and all(s["epochs"] == 1 for s in statuses)
    best = min(s["value"] for s in statuses)  # loss: minimize
    assert f"loss {best:.6g}" in result.stdout
    spec = json.loads((study / "study.json").read_text())
    assert spec["metric"] == "validation_error" and spec["direction"] == "minimize"
    assert spec["objective"] == "last"
    assert spec["command"][0] == "lamina"
    config = load_config(study / "best_config.json")
    assert config.training is not None and config.training.epochs == 1  # -e is written in
