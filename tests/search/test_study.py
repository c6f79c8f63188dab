"""The study directory, the halving rule, metric names and the report (no Ray needed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from lamina.config import load_config
from lamina.errors import UsageError
from lamina.search.halving import Halving, RungRecords
from lamina.search.metric import epoch_values, resolve_metric
from lamina.search.report import best_so_far, trial_table, write_report
from lamina.search.study import Study, StudySpec, Trial
from lamina.train.options import EpochReport

SEARCH_CONFIG = json.loads((Path(__file__).parent / "search_config.json").read_text())
SPACE = {
    "Layers[1].N": {"$search": "int", "low": 4, "high": 16, "log": False, "step": 1},
    "TrainingParameters.Alpha": {"$search": "float", "low": 0.001, "high": 0.1, "log": True},
}


def spec(**changes: Any) -> StudySpec:
    values: dict[str, Any] = {
        "config": SEARCH_CONFIG,
        "space": SPACE,
        "metric": "ndcg@10",
        "direction": "maximize",
        "strategy": "bayes",
        "seed": 1,
        "data": {"inputs": ["in.nc"], "outputs": ["out.nc"], "validation": []},
    }
    values.update(changes)
    return StudySpec(**values)


def plain(n: int, alpha: float) -> dict[str, Any]:
    """The plain config of an assignment (what materialize gives)."""
    config = json.loads(json.dumps(SEARCH_CONFIG))
    config["Layers"][1]["N"] = n
    config["TrainingParameters"]["Alpha"] = alpha
    return config


def add(study: Study, n: int, alpha: float, state: str | None, value: float | None) -> Trial:
    trial = study.new_trial({"Layers[1].N": n, "TrainingParameters.Alpha": alpha}, plain(n, alpha))
    study.record_epoch(trial, {"epoch": 1, "ndcg@10": value})
    if state is not None:
        study.finish(trial, state=state, value=value, epochs=1, best_epoch=1, network=b"net")
    return trial


def test_resume_keeps_finished_and_reruns_interrupted(tmp_path: Path) -> None:
    with Study.open(tmp_path / "s", spec()) as study:
        add(study, 4, 0.01, "completed", 0.3)
        add(study, 8, 0.02, "stopped", 0.1)
        add(study, 12, 0.05, "failed", None)
        add(study, 16, 0.09, None, 0.2)  # the driver "dies" while this one runs
    with Study.open(tmp_path / "s", spec(strategy="random")) as study:
        states = {t.id: t.state for t in study.trials}
        assert states == {
            "0000": "completed",
            "0001": "stopped",
            "0002": "failed",
            "0003": "interrupted",
        }
        assert study.trials[0].value == 0.3 and study.trials[0].history == [
            {"epoch": 1, "ndcg@10": 0.3}
        ]
        rerun = study.trials[3]
        study.start(rerun)
        assert rerun.attempt == 2 and rerun.history == []
        folder = study.trial_dir("0003")
        assert (folder / "metrics.jsonl").read_text() == ""
        assert not (folder / "network.nc").exists()
        assert json.loads((folder / "status.json").read_text())["state"] == "running"
        assert (study.trial_dir("0000") / "network.nc").read_bytes() == b"net"
        assert study.best().id == "0000"  # type: ignore[union-attr]
        new = add(study, 5, 0.003, "completed", 0.5)
        assert new.id == "0004"
    leftovers = [p for p in (tmp_path / "s").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_trial_created_halfway_is_dropped(tmp_path: Path) -> None:
    with Study.open(tmp_path / "s", spec()) as study:
        add(study, 4, 0.01, "completed", 0.3)
    half = tmp_path / "s" / "trials" / "0001"
    half.mkdir()
    (half / "params.json").write_text("{}")  # died before config.json
    with Study.open(tmp_path / "s", spec()) as study:
        assert [t.id for t in study.trials] == ["0000"]


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"metric": "recall@20"}, "metric"),
        ({"direction": "minimize"}, "direction"),
        ({"seed": 2}, "seed"),
        ({"space": {"Layers[1].N": SPACE["Layers[1].N"]}}, "space"),
    ],
)
def test_study_of_another_search_is_refused(
    tmp_path: Path, change: dict[str, Any], word: str
) -> None:
    Study.open(tmp_path / "s", spec()).close()
    with pytest.raises(UsageError, match=f"different {word}: stored"):
        Study.open(tmp_path / "s", spec(**change))


def test_second_driver_is_refused_and_non_study_folder(tmp_path: Path) -> None:
    with Study.open(tmp_path / "s", spec()), pytest.raises(UsageError, match="in use by"):
        Study.open(tmp_path / "s", spec())
    Study.open(tmp_path / "s", spec()).close()  # released
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match="not a study directory"):
        Study.open(tmp_path / "other", spec())


def test_best_prefers_completed_and_follows_direction(tmp_path: Path) -> None:
    with Study.open(tmp_path / "max", spec()) as study:
        add(study, 4, 0.01, "completed", 0.3)
        add(study, 5, 0.01, "stopped", 0.9)
        add(study, 6, 0.01, "completed", 0.4)
        assert study.best().id == "0002"  # type: ignore[union-attr]
    with Study.open(tmp_path / "min", spec(direction="minimize")) as study:
        add(study, 4, 0.01, "stopped", 0.5)
        assert study.best().id == "0000"  # type: ignore[union-attr]
        add(study, 5, 0.01, "completed", 0.7)
        add(study, 6, 0.01, "completed", 0.6)
        assert study.best().id == "0002"  # type: ignore[union-attr]


def test_halving_rungs_and_stop_rule() -> None:
    rule = Halving(min_epochs=1, reduction_factor=3)
    assert rule.rungs(30) == [1, 3, 9, 27]
    assert rule.rungs(2) == [1]
    assert Halving(2, 2).rungs(9) == [2, 4, 8]
    rec = RungRecords(rule, maximize=True)
    assert rec.record("a", 2, 0.0, max_epochs=10) is False  # not a rung
    assert rec.record("a", 1, 0.5, max_epochs=10) is False  # 1 value: nothing to compare
    assert rec.record("b", 1, 0.1, max_epochs=10) is False  # 2 < reduction factor
    assert rec.record("c", 1, 0.3, max_epochs=10) is True  # 3 values: keep 1 (a)
    assert rec.record("d", 1, 0.6, max_epochs=10) is False  # best of 4
    assert rec.record("e", 1, 0.55, max_epochs=10) is True  # 5 values keep 1: d
    assert rec.record("f", 1, float("nan"), max_epochs=10) is True  # 6 values keep 2; NaN worst
    low = RungRecords(rule, maximize=False)
    for tid, v in (("a", 3.0), ("b", 2.0)):
        low.record(tid, 3, v, max_epochs=9)
    assert low.record("c", 3, 1.0, max_epochs=9) is False
    assert low.record("x", 9, 9.9, max_epochs=9) is False  # last epoch: never a rung
    with pytest.raises(UsageError, match="reduction_factor"):
        Halving(1, 1)
    assert Halving.from_dict(rule.to_dict()) == rule


def test_metric_names() -> None:
    assert resolve_metric("NDCG@10").key == "ndcg@10"
    assert resolve_metric("recall@20").direction == "maximize"
    assert resolve_metric("loss").key == "validation_error"
    assert resolve_metric("Loss").direction == "minimize"
    assert not resolve_metric("training_loss").needs_validation
    with pytest.raises(UsageError, match=r"one of \[NDCG@10, Recall@20, loss, training_loss\]"):
        resolve_metric("NDCG@5")
    with pytest.raises(UsageError, match="Did you mean 'Recall@20'"):
        resolve_metric("recal@20")
    report = EpochReport(
        epoch=3,
        epochs=5,
        training_error=0.5,
        regularization_error=0.0,
        average_error=0.5,
        learning_rate=0.1,
        elapsed=1.0,
        batches=9,
        validation_error=0.7,
        metrics={"ndcg@10": 0.25},
    )
    assert epoch_values(report) == {
        "epoch": 3,
        "training_error": 0.5,
        "validation_error": 0.7,
        "ndcg@10": 0.25,
    }


def test_best_so_far_hand_computed() -> None:
    trials = [
        Trial("0000", {}, state="failed"),
        Trial("0001", {}, state="completed", value=0.2),
        Trial("0002", {}, state="completed", value=0.1),
        Trial("0003", {}, state="stopped", value=0.5),
        Trial("0004", {}, state="running", value=0.9),
    ]
    assert best_so_far(trials, maximize=True) == [None, 0.2, 0.2, 0.2, 0.2]  # completed only
    assert best_so_far(trials, maximize=False) == [None, 0.2, 0.1, 0.1, 0.1]
    trials.append(Trial("0005", {}, state="completed", value=0.05))
    assert best_so_far(trials, maximize=False)[-1] == 0.05


def test_report_files(tmp_path: Path) -> None:
    with Study.open(tmp_path / "s", spec()) as study:
        add(study, 4, 0.01, "completed", 0.3)
        add(study, 9, 0.02, "completed", 0.45)
        add(study, 12, 0.05, "failed", None)
        files, table = write_report(study, metric_label="NDCG@10")
        assert trial_table(study, metric_label="NDCG@10") == table
    lines = table.splitlines()
    assert lines[0].split() == ["trial", "state", "epochs", "NDCG@10", "at_epoch", *SPACE]
    assert lines[2].split() == ["*0001", "completed", "1", "0.45", "1", "9", "0.02"]
    assert lines[3].split()[:4] == ["0002", "failed", "1", "-"]
    best = json.loads(files["best_config"].read_text())
    assert "$search" not in files["best_config"].read_text()
    expected = plain(9, 0.02)
    expected["TrainingParameters"]["Epochs"] = 1  # the best epoch, not the 2 the trial ran
    assert best == expected
    config = load_config(files["best_config"])
    assert config.layers[1].n == (9,) and config.training.epochs == 1  # type: ignore[union-attr]
    assert files["best_network"].read_bytes() == b"net"
    for name in ("best_so_far", "params_vs_metric"):
        assert files[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_example_search_config() -> None:
    """examples/search/ml100k_search.json: learning rate, hidden width and dropout searched."""
    from lamina.search.annotated import load_annotated

    path = Path(__file__).parents[2] / "examples" / "search" / "ml100k_search.json"
    space = load_annotated(path).space
    assert list(space) == ["Denoising.p", "Layers[1].N", "TrainingParameters.Alpha"]


def test_example_dlae_search_config_is_the_recipe_with_three_values_searched() -> None:
    """examples/search/ml100k_dlae_search.json: the recommender recipe (dlae.json) with learning
    rate, input dropout and weight decay searched; everything else as in the recipe."""
    from lamina.config.loader import load_config
    from lamina.search.annotated import load_annotated

    examples = Path(__file__).parents[2] / "examples"
    annotated = load_annotated(examples / "search" / "ml100k_dlae_search.json")
    searched = ["Denoising.p", "TrainingParameters.Alpha", "TrainingParameters.Lambda"]
    assert list(annotated.space) == searched
    recipe = load_config(examples / "recommender" / "configs" / "dlae.json")
    searched_config = annotated.materialize(annotated.representative())
    assert recipe.training is not None and searched_config.training is not None
    back = dataclasses.replace(  # the recipe's own values where the search varies them
        searched_config,
        name=recipe.name,
        denoising=recipe.denoising,
        training=dataclasses.replace(
            searched_config.training,
            alpha=recipe.training.alpha,
            lambda_l2=recipe.training.lambda_l2,
        ),
    )
    assert back == recipe
