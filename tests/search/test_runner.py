"""Real searches on Ray with tiny data: run, stop after N new trials, resume; kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lamina.config import load_config
from lamina.errors import ConfigError, UsageError
from lamina.search.runner import SearchOptions, run_search
from lamina.search.study import Study, StudySpec
from lamina.train.options import TrainOptions
from lamina.train.trainer import train


def statuses(study: Path) -> dict[str, dict[str, Any]]:
    return {
        p.parent.name: json.loads(p.read_text())
        for p in sorted((study / "trials").glob("*/status.json"))
    }


def check_best_trains(study: Path, files: dict[str, Path], tmp_path: Path) -> None:
    """best_config.json is a plain config that loads and trains."""
    text = (study / "best_config.json").read_text()
    assert "$search" not in text
    config = load_config(study / "best_config.json")
    result = train(
        config,
        inputs=files["inputs"],
        outputs=files["outputs"],
        network_path=tmp_path / "best.nc",
        options=TrainOptions(epochs=1, threads=1, tensorboard=False, checkpoint_interval=0),
    )
    assert result.epochs_completed == 1 and result.network_path.is_file()


def test_search_stop_and_resume(
    local_ray: None, search_files: dict[str, Path], tmp_path: Path
) -> None:
    study = tmp_path / "study"
    options = SearchOptions(
        metric="NDCG@10",
        trials=6,
        parallel=2,
        strategy="bayes",
        validation_fraction=0.25,
        max_new_trials=3,
        seed=3,
    )
    args = {"inputs": search_files["inputs"], "outputs": search_files["outputs"]}
    first = run_search(search_files["config"], study_dir=study, options=options, **args)
    assert [t.id for t in first.trials] == ["0000", "0001", "0002"] and not first.complete
    before = statuses(study)
    assert all(s["state"] in ("completed", "stopped") for s in before.values())
    # a driver that died while trial 0003 ran leaves it "running" on disk
    with Study.open(
        study, StudySpec.from_dict(json.loads((study / "study.json").read_text()))
    ) as s:
        params = {"Layers[1].N": 7, "TrainingParameters.Alpha": 0.02}
        config = json.loads(search_files["config"].read_text())
        config["Layers"][1]["N"], config["TrainingParameters"]["Alpha"] = 7, 0.02
        s.new_trial(params, config)

    resumed = run_search(
        search_files["config"],
        study_dir=study,
        options=SearchOptions(
            metric="NDCG@10", trials=6, parallel=2, validation_fraction=0.25, seed=3
        ),
        **args,
    )
    after = statuses(study)
    assert resumed.complete and len(resumed.trials) == 6 == len(after)
    for tid, status in before.items():  # finished trials kept untouched
        assert after[tid] == status
    assert after["0003"]["attempt"] == 2 and after["0003"]["state"] in ("completed", "stopped")
    params = [json.loads((study / "trials" / t / "params.json").read_text()) for t in after]
    assert len({json.dumps(p, sort_keys=True) for p in params}) == 6  # no duplicate suggestions
    for tid, status in after.items():
        lines = (study / "trials" / tid / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == status["epochs"] >= 1
        curve = [json.loads(line)["ndcg@10"] for line in lines]
        assert status["value"] == pytest.approx(max(curve))  # objective "best"
        assert curve[status["best_epoch"] - 1] == pytest.approx(status["value"])
        assert (study / "trials" / tid / "network.nc").is_file()
    best = resumed.best
    assert best is not None
    finished = [s["value"] for s in after.values() if s["state"] == "completed"]
    assert best.value == max(finished)
    trial_config = json.loads((study / "trials" / best.id / "config.json").read_text())
    trial_config["TrainingParameters"]["Epochs"] = best.best_epoch
    assert json.loads((study / "best_config.json").read_text()) == trial_config
    assert f"*{best.id}" in resumed.table
    assert (study / "best_so_far.png").is_file() and (study / "params_vs_metric.png").is_file()
    check_best_trains(study, search_files, tmp_path)
    # the same command once more: nothing left to do, nothing changes
    again = run_search(
        search_files["config"],
        study_dir=study,
        options=SearchOptions(trials=6, parallel=2, validation_fraction=0.25, seed=3),
        **args,
    )
    assert statuses(study) == after and again.best.id == best.id  # type: ignore[union-attr]


def test_bad_searches_fail_before_ray(search_files: dict[str, Path], tmp_path: Path) -> None:
    args = {"inputs": search_files["inputs"], "outputs": search_files["outputs"]}
    with pytest.raises(UsageError, match="--validation"):
        run_search(search_files["config"], study_dir=tmp_path / "a", **args)
    plain = tmp_path / "plain.json"
    config = json.loads(search_files["config"].read_text())
    config["Layers"][1]["N"], config["TrainingParameters"]["Alpha"] = 8, 0.01
    plain.write_text(json.dumps(config))
    with pytest.raises(UsageError, match=r"no \$search annotations"):
        run_search(
            plain,
            study_dir=tmp_path / "b",
            options=SearchOptions(validation_fraction=0.2),
            **args,
        )
    config["TrainingParameters"]["Alpha"] = {"$search": "float", "low": 0.1, "high": 0.01}
    plain.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"TrainingParameters\.Alpha"):
        run_search(
            plain,
            study_dir=tmp_path / "c",
            options=SearchOptions(validation_fraction=0.2),
            **args,
        )
    with pytest.raises(UsageError, match="strategy must be one of"):
        SearchOptions(strategy="tpe")
    assert not (tmp_path / "a").exists()


def _search_command(files: dict[str, Path], study: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lamina",
        "search",
        "-c",
        str(files["config"]),
        "-i",
        str(files["inputs"]),
        "-o",
        str(files["outputs"]),
        "--validation-fraction",
        "0.25",
        "--trials",
        "8",
        "--parallel",
        "2",
        "-e",
        "3",
        "--no-early-stop",
        "--no-progress",
        "--study",
        str(study),
    ]


@pytest.mark.slow
def test_kill_driver_and_resume(search_files: dict[str, Path], tmp_path: Path) -> None:
    """SIGKILL the driver while trials run; the same command resumes the study."""
    study = tmp_path / "study"
    command = _search_command(search_files, study)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    driver = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 240
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and driver.poll() is None:
        try:
            seen = statuses(study)
        except (FileNotFoundError, json.JSONDecodeError):
            seen = {}
        done = [s for s in seen.values() if s["state"] == "completed"]
        running = [s for s in seen.values() if s["state"] == "running"]
        if done and running:
            break
        time.sleep(0.05)
    assert driver.poll() is None, driver.communicate()[1].decode()[-2000:]
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    killed = statuses(study)
    finished = {tid: s for tid, s in killed.items() if s["state"] == "completed"}
    interrupted = [tid for tid, s in killed.items() if s["state"] == "running"]
    assert finished and interrupted and len(killed) < 8

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "interrupted to re-run" in rerun.stderr
    after = statuses(study)
    assert len(after) == 8 and all(s["state"] == "completed" for s in after.values())
    for tid, status in finished.items():
        assert after[tid] == status  # kept, not re-run
    for tid in interrupted:
        assert after[tid]["attempt"] == 2 and after[tid]["epochs"] == 3
    assert "best: trial" in rerun.stdout
    check_best_trains(study, search_files, tmp_path)


def test_missing_ray_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from lamina.errors import DependencyError
    from lamina.search import cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(DependencyError, match="'ray'") as info:
        cluster.import_ray()
    assert info.value.exit_code == 3 and "lamina[search]" in str(info.value)


def _report(epoch: int, ndcg: float) -> Any:
    from lamina.train.options import EpochReport

    return EpochReport(
        epoch=epoch,
        epochs=9,
        training_error=1.0,
        regularization_error=0.0,
        average_error=1.0,
        learning_rate=0.01,
        elapsed=0.1,
        batches=epoch,
        validation_error=2.0,
        metrics={"ndcg@10": ndcg},
    )


def test_objective_value_and_coordinator_rungs() -> None:
    from lamina.search.halving import Halving
    from lamina.search.trial import Coordinator, objective_value

    history = [_report(1, 0.1), _report(2, 0.3), _report(3, float("nan")), _report(4, 0.2)]
    assert objective_value(history, "ndcg@10", True, "best") == (0.3, 2)
    assert objective_value(history, "ndcg@10", False, "best") == (0.1, 1)
    assert objective_value(history, "ndcg@10", True, "last") == (0.2, 4)
    assert objective_value(history, "recall@20", True, "best") == (None, None)

    coord = Coordinator(Halving(1, 2).to_dict(), True, "ndcg@10", "best")
    coord.seed("a", [{"epoch": 1, "ndcg@10": 0.5}, {"epoch": 2, "ndcg@10": 0.2}], 9)
    # rung 2 compares best-so-far values: a's is 0.5 (from epoch 1), not its 0.2
    assert coord.report("b", {"epoch": 1, "ndcg@10": 0.4}, 9) is True  # 2 values, keep 1: a
    assert coord.report("c", {"epoch": 1, "ndcg@10": 0.6}, 9) is False
    assert coord.report("c", {"epoch": 2, "ndcg@10": 0.45}, 9) is False  # c: best 0.6 > a's 0.5
    assert coord.report("c", {"epoch": 3, "ndcg@10": 0.1}, 9) is False  # 3 is not a rung
    assert [tid for tid, _ in coord.drain()] == ["b", "c", "c", "c"] and coord.drain() == []
    off = Coordinator(None, True, "ndcg@10", "best")
    assert off.report("x", {"epoch": 1, "ndcg@10": 0.0}, 9) is False
