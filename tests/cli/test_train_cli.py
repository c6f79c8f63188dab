"""``lamina train`` in-process: DSSTNE's flags, exit codes, TrainingParameters precedence."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli.main import cli
from lamina.data.nc_write import DatasetArrays, write_datasets
from lamina.train.network_file import load_network

CONFIG: dict[str, Any] = {
    "Version": 0.8,
    "ErrorFunction": "CrossEntropy",
    "Layers": [
        {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": True},
        {"Name": "Hidden", "Kind": "Hidden", "N": 8, "Activation": "Sigmoid"},
        {
            "Name": "Output",
            "Kind": "Output",
            "N": "auto",
            "DataSet": "gl_output",
            "Activation": "Sigmoid",
        },
    ],
}
EPOCH_LINE = re.compile(
    r"^Epoch (\d+), average error [\d.]+, average training error [\d.]+, average regularization "
    r"error [\d.]+, elapsed time [\d.]+s$"
)


def write_sparse(path: Path, name: str, n: int = 60) -> None:
    rng = np.random.default_rng(0)
    rows = [np.sort(rng.choice(32, size=4, replace=False)) for _ in range(n)]
    write_datasets(path, [DatasetArrays.sparse_rows(name, rows, 128)])


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_sparse(tmp_path / "in.nc", "gl_input")
    write_sparse(tmp_path / "out.nc", "gl_output")
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    monkeypatch.chdir(tmp_path)
    return tmp_path


BASE = [
    "train",
    "-c",
    "config.json",
    "-i",
    "in.nc",
    "-o",
    "out.nc",
    "-n",
    "gl.nc",
    "--no-progress",
    "--no-tensorboard",
    "--threads",
    "1",
]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def stored_hyper(path: str = "gl.nc") -> dict[str, Any]:
    state = load_network(path).training
    assert state is not None
    return state.optimizer_meta["hyperparameters"]


def test_dsstne_flags_and_epoch_lines(workdir: Path) -> None:
    result = invoke(
        *BASE,
        "-b",
        "16",
        "-e",
        "2",
        "-alpha",
        "0.1",
        "-lambda",
        "0.001",
        "-lambda1",
        "0.0002",
        "-mu",
        "0.8",
        "-mu1",
        "0.99",
        "--optimizer",
        "adam",
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("Epoch")]
    assert [EPOCH_LINE.match(line).group(1) for line in lines] == ["1", "2"]  # type: ignore[union-attr]
    h = stored_hyper()
    assert (h["batch"], h["epochs"], h["alpha"], h["lambda_l2"], h["lambda_l1"]) == (
        16,
        2,
        0.1,
        0.001,
        0.0002,
    )
    assert (h["mu"], h["mu1"], h["optimizer"]) == (0.8, 0.99, "Adam")
    assert not (workdir / "initial_network.nc").exists()  # unlike DSSTNE's train


def test_defaults_are_dsstne_train_defaults(workdir: Path) -> None:
    assert invoke(*BASE, "-e", "1").exit_code == 0
    h = stored_hyper()
    assert (h["batch"], h["alpha"], h["lambda_l2"], h["lambda_l1"], h["mu"], h["mu1"]) == (
        1024,
        0.025,
        0.0001,
        0.0,
        0.5,
        0.0,
    )
    assert (h["optimizer"], h["checkpoint_interval"]) == ("SGD", 10)


def test_existing_network_file_needs_resume_or_overwrite(workdir: Path) -> None:
    assert invoke(*BASE, "-e", "1").exit_code == 0
    result = invoke(*BASE, "-e", "1")
    assert result.exit_code == 2
    assert "gl.nc' already exists" in result.stderr and "--resume" in result.stderr
    assert invoke(*BASE, "-e", "1", "--overwrite").exit_code == 0
    resumed = invoke(*BASE, "-e", "2", "--resume")
    assert (
        resumed.exit_code == 0 and "Epoch 2," in resumed.stdout and "Epoch 1," not in resumed.stdout
    )


def test_resume_and_overwrite_exclude_each_other(workdir: Path) -> None:
    result = invoke(*BASE, "--resume", "--overwrite")
    assert result.exit_code == 2 and "exclude each other" in result.stderr


def test_missing_input_file_is_a_usage_error(workdir: Path) -> None:
    args = [a if a != "in.nc" else "missing.nc" for a in BASE]
    result = invoke(*args)
    assert result.exit_code == 2 and "missing.nc" in result.stderr


def test_bad_config_exits_2_with_the_json_path(workdir: Path) -> None:
    bad = json.loads(json.dumps(CONFIG))
    bad["Layers"][1]["Activation"] = "Sigmod"
    (workdir / "config.json").write_text(json.dumps(bad))
    result = invoke(*BASE)
    assert result.exit_code == 2
    assert "Activation" in result.stderr and "Sigmoid" in result.stderr
    assert not (workdir / "gl.nc").exists()


def test_dataset_missing_from_data_files_exits_2(workdir: Path) -> None:
    bad = json.loads(json.dumps(CONFIG))
    bad["Layers"][2]["DataSet"] = "gl_outptu"
    (workdir / "config.json").write_text(json.dumps(bad))
    result = invoke(*BASE)
    assert result.exit_code == 2 and "gl_outptu" in result.stderr and "gl_output" in result.stderr


def test_training_parameters_precedence(workdir: Path) -> None:
    cfg = {
        **CONFIG,
        "TrainingParameters": {
            "Epochs": 3,
            "Alpha": 0.2,
            "Batch": 20,
            "Optimizer": "Nesterov",
            "Mu": 0.7,
        },
    }
    (workdir / "config.json").write_text(json.dumps(cfg))
    result = invoke(
        *BASE, "-e", "1", "-mu", "0.6"
    )  # flags beat the block, the block beats defaults
    assert result.exit_code == 0, result.output
    h = stored_hyper()
    assert (h["epochs"], h["mu"]) == (1, 0.6)
    assert (h["alpha"], h["batch"], h["optimizer"]) == (0.2, 20, "Nesterov")
    assert h["lambda_l2"] == 0.0001  # neither flag nor block: DSSTNE's default


def test_ctrl_c_saves_the_current_state_and_exits_130(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lamina.train import trainer

    class PressedAtOnce(trainer.Interrupt):
        def __init__(self) -> None:
            self.requested = True  # as if Ctrl-C came during the first minibatch

    monkeypatch.setattr(trainer, "Interrupt", PressedAtOnce)
    result = invoke(*BASE, "-e", "3", "-b", "16")
    assert result.exit_code == 130
    assert "Interrupted: saved epoch 0 + 16 examples" in result.stdout
    state = load_network("gl.nc").training
    assert state is not None and (state.epoch, state.optimizer_meta["position"]) == (0, 16)


def test_checkpoints_are_named_like_dsstne(workdir: Path) -> None:
    assert invoke(*BASE, "-e", "4", "-b", "30", "--checkpoint-interval", "2").exit_code == 0
    names = sorted(p.name for p in workdir.glob("gl.nc*"))
    assert names == ["gl.nc", "gl.nc2.nc", "gl.nc4.nc"]


def test_cuda_without_cuda_is_a_usage_error(workdir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = invoke(*BASE, "--device", "cuda")
    assert result.exit_code == 2 and "CUDA is not available" in result.stderr


def test_validation_files_report_a_validation_error(workdir: Path) -> None:
    result = invoke(*BASE, "-e", "2", "--validation", "in.nc", "--validation", "out.nc")
    assert result.exit_code == 0, result.output
    assert re.findall(r"^Epoch (\d), validation error [\d.]+$", result.stdout, re.M) == ["1", "2"]


def test_feature_index_checksums_are_stored_and_checked_on_resume(workdir: Path) -> None:
    (workdir / "features.txt").write_text("a\t0\nb\t1\n")
    assert invoke(*BASE, "-e", "1", "--feature-index", "features_input=features.txt").exit_code == 0
    state = load_network("gl.nc").training
    assert state is not None and set(state.index_checksums) == {"features_input"}
    (workdir / "features.txt").write_text("a\t0\nc\t1\n")
    result = invoke(*BASE, "-e", "2", "--resume", "--feature-index", "features_input=features.txt")
    assert result.exit_code == 2 and "SHA-256 mismatch" in result.stderr
    bad = invoke(*BASE, "--overwrite", "--feature-index", "features.txt")
    assert bad.exit_code == 2 and "NAME=PATH" in bad.stderr


def test_layer_narrower_than_its_data_exits_2(workdir: Path) -> None:
    bad = json.loads(json.dumps(CONFIG))
    bad["Layers"][0]["N"] = 64  # the data files are 128 wide
    (workdir / "config.json").write_text(json.dumps(bad))
    result = invoke(*BASE)
    assert result.exit_code == 2 and "'Input' has 64 units" in result.stderr


def test_checkpoints_of_an_earlier_run_need_resume_or_overwrite(workdir: Path) -> None:
    assert invoke(*BASE, "-e", "4", "-b", "30", "--checkpoint-interval", "2").exit_code == 0
    (workdir / "gl.nc").unlink()
    refused = invoke(*BASE, "-e", "1")
    assert refused.exit_code == 2 and "gl.nc2.nc, gl.nc4.nc" in refused.stderr
    fresh = invoke(*BASE, "-e", "1", "--overwrite")
    assert fresh.exit_code == 0 and "removed checkpoint" in fresh.stdout
    assert sorted(p.name for p in workdir.glob("gl.nc*")) == ["gl.nc"]


def test_early_stopping_flags(workdir: Path) -> None:
    result = invoke(
        *BASE,
        "-e",
        "4",
        "--validation-fraction",
        "0.25",
        "--early-stopping",
        "VALIDATION_ERROR",
        "--patience",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"gl\.nc after \d epochs \(it holds epoch \d, the best\)", result.output)
    state = load_network("gl.nc").training
    assert state is not None and len(state.metrics["validation_error"]) == state.epoch
    errors = state.metrics["validation_error"]
    assert errors[-1] == min(errors)  # the file holds the best epoch: nothing after it was better
    # inputs == targets here (plain reconstruction): no ranking metric is reported; the first
    # epoch's state is kept so that nothing is lost
    no_rank = invoke(
        *BASE, "--overwrite", "--validation-fraction", "0.25", "--early-stopping", "ndcg@10"
    )
    assert no_rank.exit_code == 2 and "reports no such validation metric" in no_rank.output
    assert "Saved epoch 1 to gl.nc" in no_rank.output
    state = load_network("gl.nc").training
    assert state is not None and state.epoch == 1
    bad = invoke(*BASE, "--overwrite", "--early-stopping", "ndcg@10")
    assert bad.exit_code == 2 and "--validation" in bad.output
