"""Early stopping on a validation metric: the tracker's rules; a run keeps the best epoch."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_trainer import autoencoder, quiet, sparse_rows, write_sparse

from lamina.errors import UsageError
from lamina.train.early_stopping import EarlyStopping
from lamina.train.network_file import checkpoint_path, load_network
from lamina.train.options import TrainOptions
from lamina.train.trainer import train


def verdicts(metric: str, values: list[float], patience: int) -> list[str]:
    tracker = EarlyStopping.of({}, metric)
    assert tracker is not None
    history: dict[str, list[float]] = {metric: []}
    out = []
    for epoch, value in enumerate(values, start=1):
        history[metric].append(value)
        out.append(tracker.after_epoch(epoch, history, patience))
    return out


def test_larger_metrics_improve_upwards_and_stop_after_patience() -> None:
    got = verdicts("ndcg@10", [0.1, 0.3, 0.2, 0.3, 0.29, 0.5], patience=3)
    assert got == ["best", "best", "continue", "continue", "stop", "best"]  # a tie is no gain


def test_errors_improve_downwards_and_nan_never_wins() -> None:
    got = verdicts("validation_error", [2.0, math.nan, 1.5, 1.7], patience=2)
    assert got == ["best", "continue", "best", "continue"]


def test_a_resumed_history_primes_the_tracker() -> None:
    tracker = EarlyStopping.of({"recall@20": [0.2, 0.4, 0.3]}, "recall@20")
    assert tracker is not None and (tracker.epoch, tracker.value) == (2, 0.4)
    assert tracker.after_epoch(4, {"recall@20": [0.2, 0.4, 0.3, 0.35]}, 2) == "stop"
    assert EarlyStopping.of({"recall@20": [0.2]}, None) is None


def test_a_metric_the_network_does_not_report_is_a_usage_error() -> None:
    tracker = EarlyStopping.of({}, "ndcg@10")
    assert tracker is not None
    with pytest.raises(UsageError, match=r"reports no such validation metric.*validation_error"):
        tracker.after_epoch(1, {"training_error": [1.0], "validation_error": [1.0]}, 3)


def test_options_need_validation_and_a_known_metric() -> None:
    with pytest.raises(UsageError, match="--validation"):
        TrainOptions(early_stopping="ndcg@10")
    with pytest.raises(UsageError, match="must be one of"):
        TrainOptions(early_stopping="ndcg@5", validation_fraction=0.2)
    with pytest.raises(UsageError, match="patience"):
        TrainOptions(patience=0)
    assert TrainOptions(early_stopping="NDCG@10", validation_fraction=0.2).early_stopping == (
        "ndcg@10"
    )


def test_the_network_file_holds_the_best_epoch(tmp_path: Path) -> None:
    full = sparse_rows(seed=1, extra=3)
    inp = write_sparse(tmp_path / "in.nc", "gl_input", [r[:5] for r in full])
    out = write_sparse(tmp_path / "out.nc", "gl_output", full)
    net = tmp_path / "gl.nc"
    result = train(
        autoencoder(),
        inputs=inp,
        outputs=out,
        network_path=net,
        options=quiet(
            epochs=8,
            batch=32,
            alpha=2.0,  # large steps: the metric moves both ways
            validation_fraction=0.25,
            early_stopping="recall@20",
            patience=2,
            checkpoint_interval=1,
        ),
    )
    values = [r.metrics["recall@20"] for r in result.history]
    best = int(np.argmax(values)) + 1  # the first of equal maxima
    assert result.best_epoch == best
    assert result.epochs_completed == min(8, best + 2)
    assert result.stopped_early == (result.epochs_completed < 8)
    saved = load_network(net)
    assert saved.training is not None and saved.training.epoch == best
    assert saved.training.metrics["recall@20"] == values[:best]
    twin = load_network(checkpoint_path(net, best))  # the checkpoint of that epoch
    for a, b in zip(saved.weights, twin.weights, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
