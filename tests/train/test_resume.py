"""Resuming ``train``: after a clean stop, Ctrl-C mid-epoch, or SIGKILL of the process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli.main import cli
from lamina.data.nc_write import DatasetArrays, write_datasets
from lamina.errors import CheckpointError, UsageError
from lamina.train.data import DataLoading
from lamina.train.network_file import load_network, save_network
from lamina.train.options import EpochReport, TrainOptions
from lamina.train.trainer import train

WIDTH = 128


def write_sparse(path: Path, name: str, n: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = [np.sort(rng.choice(16, size=5, replace=False) + 16 * (i % 4)) for i in range(n)]
    write_datasets(path, [DatasetArrays.sparse_rows(name, rows, WIDTH)])
    return path


# Every source of randomness is on: shuffling, denoising, dropout (hidden and output).
CONFIG: dict[str, Any] = {
    "Version": 0.8,
    "ShuffleIndices": True,
    "SparsenessPenalty": {"p": 0.3, "beta": 1.0},
    "Denoising": {"p": 0.2},
    "ErrorFunction": "CrossEntropy",
    "Layers": [
        {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": True},
        {
            "Name": "Hidden",
            "Kind": "Hidden",
            "N": 16,
            "Activation": "Sigmoid",
            "Sparse": True,
            "pDropout": 0.2,
        },
        {
            "Name": "Output",
            "Kind": "Output",
            "N": "auto",
            "DataSet": "gl_output",
            "Activation": "Sigmoid",
            "pDropout": 0.1,
        },
    ],
}


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return write_sparse(tmp_path / "in.nc", "gl_input"), write_sparse(
        tmp_path / "out.nc", "gl_output"
    )


def run(
    data: tuple[Path, Path],
    path: Path,
    config: Any = CONFIG,
    loading: DataLoading | None = None,
    **kwargs: Any,
) -> Any:
    defaults: dict[str, Any] = {"batch": 32, "alpha": 0.05, "mu": 0.9, "mu1": 0.999}
    options = TrainOptions(**{**defaults, **kwargs}, optimizer="adam", tensorboard=False, threads=1)
    return train(
        config,
        inputs=data[0],
        outputs=data[1],
        network_path=path,
        options=options,
        loading=loading,
    )


def assert_same_weights(a: Path, b: Path) -> None:
    fa, fb = load_network(a), load_network(b)
    assert len(fa.weights) == len(fb.weights)
    for ra, rb in zip(fa.weights, fb.weights, strict=True):
        np.testing.assert_allclose(ra.weights, rb.weights, rtol=0, atol=1e-6)
        np.testing.assert_allclose(ra.bias, rb.bias, rtol=0, atol=1e-6)
    sa, sb = fa.training, fb.training
    assert sa is not None and sb is not None
    assert (sa.epoch, sa.batches) == (sb.epoch, sb.batches)
    assert sa.optimizer_state.keys() == sb.optimizer_state.keys()
    for key in sa.optimizer_state:
        np.testing.assert_allclose(sa.optimizer_state[key], sb.optimizer_state[key], atol=1e-6)


def test_resume_at_an_epoch_boundary_equals_an_uninterrupted_run(
    tmp_path: Path, data: tuple[Path, Path]
) -> None:
    straight = run(data, tmp_path / "a.nc", epochs=4, seed=7)
    run(data, tmp_path / "b.nc", epochs=2, checkpoint_interval=1, seed=7)
    resumed = run(data, tmp_path / "b.nc", epochs=4, resume=True)  # the file's seed: 7
    assert resumed.resumed_from is not None and resumed.epochs_completed == 4
    assert resumed.resumed_from.name in ("b.nc", "b.nc2.nc")  # the same state, epoch 2
    assert [r.epoch for r in resumed.history] == [3, 4]
    assert_same_weights(tmp_path / "a.nc", tmp_path / "b.nc")
    errors = [r.training_error for r in straight.history]
    assert load_network(tmp_path / "b.nc").training.metrics["training_error"] == errors  # type: ignore[union-attr]


# Streamed in chunks of 24 examples, one chunk per window, 32 per minibatch: the first window
# yields no minibatch, so resuming at minibatch 1 skips two windows and reads the examples carried
# over from them by id.
CHUNKED = DataLoading(memory_limit=0, chunk_examples=24, window_chunks=1)


@pytest.mark.parametrize("loading", [None, CHUNKED], ids=["in-memory", "chunked"])
def test_ctrl_c_saves_mid_epoch_state_and_resume_continues_exactly(
    tmp_path: Path, data: tuple[Path, Path], loading: DataLoading | None
) -> None:
    run(data, tmp_path / "a.nc", loading=loading, epochs=3)

    def interrupt(report: EpochReport) -> bool:
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: honoured after the next minibatch
        return False

    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run(
            data,
            tmp_path / "b.nc",
            loading=loading,
            epochs=3,
            on_epoch_end=interrupt,
            log=lines.append,
        )
    state = load_network(tmp_path / "b.nc").training
    assert state is not None and state.epoch == 1 and state.optimizer_meta["position"] == 32
    assert any(line.startswith("Interrupted") for line in lines)
    resumed = run(data, tmp_path / "b.nc", loading=loading, epochs=3, resume=True)
    assert [r.epoch for r in resumed.history] == [2, 3]
    assert_same_weights(tmp_path / "a.nc", tmp_path / "b.nc")


def test_mid_epoch_resume_with_another_batch_size_redoes_the_cut_minibatch(
    tmp_path: Path, data: tuple[Path, Path]
) -> None:
    def interrupt(report: EpochReport) -> bool:
        os.kill(os.getpid(), signal.SIGINT)
        return False

    with pytest.raises(KeyboardInterrupt):
        run(data, tmp_path / "gl.nc", epochs=2, on_epoch_end=interrupt)  # saved at 1 + 32
    lines: list[str] = []
    resumed = run(data, tmp_path / "gl.nc", epochs=2, batch=24, resume=True, log=lines.append)
    assert "restarting epoch 2 at example 24 instead of 32" in " ".join(lines)
    assert [r.epoch for r in resumed.history] == [2]
    # epoch 1: 7 minibatches of 32; epoch 2: 1 of 32 before the save, then examples 24..199 of
    # the same order in 8 minibatches of 24
    assert resumed.history[0].batches == 7 + 1 + 8


def test_resume_skips_a_corrupt_newest_checkpoint(tmp_path: Path, data: tuple[Path, Path]) -> None:
    run(data, tmp_path / "gl.nc", epochs=3, checkpoint_interval=1)
    assert sorted(p.name for p in tmp_path.glob("gl.nc*.nc")) == [
        "gl.nc1.nc",
        "gl.nc2.nc",
        "gl.nc3.nc",
    ]
    (tmp_path / "gl.nc3.nc").write_bytes(b"\x89HDF\r\n garbage")
    (tmp_path / "gl.nc").unlink()
    lines: list[str] = []
    result = run(data, tmp_path / "gl.nc", None, epochs=3, resume=True, log=lines.append)
    assert result.resumed_from == tmp_path / "gl.nc2.nc" and [r.epoch for r in result.history] == [
        3
    ]
    assert any("skipping" in line and "gl.nc3.nc" in line for line in lines)


def test_resume_from_a_model_without_training_state(
    tmp_path: Path, data: tuple[Path, Path]
) -> None:
    first = run(data, tmp_path / "a.nc", epochs=2)
    model = load_network(tmp_path / "a.nc")
    save_network(tmp_path / "b.nc", replace(model, training=None))  # as DSSTNE writes models
    result = run(data, tmp_path / "b.nc", None, epochs=1, resume=True)
    assert result.resumed_from == tmp_path / "b.nc" and [r.epoch for r in result.history] == [1]
    # it continued from the trained weights (not a fresh start) with a fresh optimizer
    assert result.history[0].training_error < 0.9 * first.history[0].training_error


def test_resume_from_a_corrupt_network_file_is_an_error(
    tmp_path: Path, data: tuple[Path, Path]
) -> None:
    (tmp_path / "gl.nc").write_bytes(b"not netCDF")
    with pytest.raises(CheckpointError, match="cannot resume"):
        run(data, tmp_path / "gl.nc", epochs=1, resume=True)
    assert (tmp_path / "gl.nc").read_bytes() == b"not netCDF"


def test_resume_refuses_a_changed_config(tmp_path: Path, data: tuple[Path, Path]) -> None:
    run(data, tmp_path / "gl.nc", epochs=1)
    changed = {
        **CONFIG,
        "Layers": [CONFIG["Layers"][0], {**CONFIG["Layers"][1], "N": 8}, CONFIG["Layers"][2]],
    }
    with pytest.raises(UsageError, match="differs"):
        run(data, tmp_path / "gl.nc", changed, epochs=2, resume=True)


def test_stale_temporary_files_are_removed(tmp_path: Path, data: tuple[Path, Path]) -> None:
    stale = tmp_path / ".gl.nc5.nc.abc123.tmp"
    stale.write_bytes(b"half a file")
    run(data, tmp_path / "gl.nc", epochs=1)
    assert not stale.exists() and (tmp_path / "gl.nc").is_file()


def _lamina(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lamina", "train", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_then_resume_finishes_the_run(
    tmp_path: Path, data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text(__import__("json").dumps(CONFIG))
    args = [
        "-c",
        "config.json",
        "-i",
        "in.nc",
        "-o",
        "out.nc",
        "-n",
        "gl.nc",
        "-b",
        "16",
        "-e",
        "10",
        "--checkpoint-interval",
        "1",
        "--no-progress",
        "--no-tensorboard",
        "--threads",
        "1",
    ]
    proc = _lamina(*args, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (tmp_path / "gl.nc1.nc").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # mid-epoch 2 (or during checkpoint 2's write)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "gl.nc").exists()

    monkeypatch.chdir(tmp_path)  # resume in-process: spares a second torch start-up
    resumed = CliRunner().invoke(cli, ["train", *map(str, args), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    out = resumed.stdout
    first = int(re.search(r"Resuming from gl\.nc(\d+)\.nc", out).group(1))  # type: ignore[union-attr]
    assert first >= 1
    epochs = [int(m) for m in re.findall(r"^Epoch (\d+), average error", out, re.M)]
    assert epochs == list(range(first + 1, 11))
    state = load_network(tmp_path / "gl.nc").training
    assert state is not None and state.epoch == 10
    files = list(tmp_path.glob("gl.nc*.nc"))
    assert {p.name for p in files} == {f"gl.nc{e}.nc" for e in range(1, 11)}
    for path in [*files, tmp_path / "gl.nc"]:
        load_network(path)  # every file loads
    assert not list(tmp_path.glob(".*.tmp"))


def test_resume_with_another_optimizer_starts_fresh_moments(
    tmp_path: Path, data: tuple[Path, Path]
) -> None:
    run(data, tmp_path / "gl.nc", epochs=1)  # Adam
    options = TrainOptions(
        epochs=2, optimizer="momentum", resume=True, tensorboard=False, threads=1
    )
    result = train(
        None, inputs=data[0], outputs=data[1], network_path=tmp_path / "gl.nc", options=options
    )
    assert result.hyperparameters.optimizer.name == "MOMENTUM"
    assert result.hyperparameters.alpha == 0.05  # stored, not DSSTNE's default
    state = load_network(tmp_path / "gl.nc").training
    assert state is not None and state.optimizer == "Momentum"
    assert {k.rsplit(".", 1)[-1] for k in state.optimizer_state if k.startswith("opt.")} == {
        "velocity"
    }
