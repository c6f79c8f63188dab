"""``lamina.train.trainer.train``: the training loop on tiny synthetic data, against hand-computed
DSSTNE updates (numpy) where the maths is pinned."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lamina.config import load_config
from lamina.data.batch import SparseBatch
from lamina.data.nc_write import DatasetArrays, write_datasets
from lamina.data.schema import DatasetAttributes as A
from lamina.data.schema import DataType
from lamina.nn import build_network
from lamina.train.network_file import load_network
from lamina.train.options import EpochReport, TrainOptions
from lamina.train.trainer import train

N_SAMPLES, N_FEATURES, WIDTH = 200, 64, 128


def sparse_rows(seed: int = 0, n: int = N_SAMPLES, extra: int = 0) -> list[np.ndarray]:
    """Four clusters of 16 features; each example lists 5 (+extra) features of its cluster."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(16, size=5 + extra, replace=False) + 16 * (i % 4)) for i in range(n)]


def write_sparse(path: Path, name: str, rows: list[np.ndarray], *, values: bool = False) -> Path:
    data = None
    if values:  # analog values 0.2 .. 1.0 over all stored elements, split back into rows
        flat = np.linspace(0.2, 1.0, sum(r.size for r in rows)).astype(np.float32)
        data = np.split(flat, np.cumsum([r.size for r in rows])[:-1])
    write_datasets(path, [DatasetArrays.sparse_rows(name, rows, WIDTH, values=data)])
    return path


def write_dense(path: Path, name: str, data: np.ndarray) -> Path:
    write_datasets(
        path,
        [
            DatasetArrays(
                name, A.NONE, DataType.FLOAT, data.shape[1], data=data.astype(np.float32).ravel()
            )
        ],
    )
    return path


def autoencoder(**top: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "Version": 0.8,
        "Name": "AE",
        "ShuffleIndices": True,
        "SparsenessPenalty": {"p": 0.5, "beta": 2.0},
        "Denoising": {"p": 0.2},
        "ScaledMarginalCrossEntropy": {
            "oneTarget": 1.0,
            "zeroTarget": 0.0,
            "oneScale": 1.0,
            "zeroScale": 1.0,
        },
        "ErrorFunction": "ScaledMarginalCrossEntropy",
        "Layers": [
            {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": True},
            {"Name": "Hidden", "Kind": "Hidden", "N": 16, "Activation": "Sigmoid", "Sparse": True},
            {
                "Name": "Output",
                "Kind": "Output",
                "N": "auto",
                "DataSet": "gl_output",
                "Activation": "Sigmoid",
                "Sparse": True,
            },
        ],
    }
    cfg.update(top)
    return cfg


@pytest.fixture
def ae_data(tmp_path: Path) -> tuple[Path, Path]:
    rows = sparse_rows()
    return write_sparse(tmp_path / "in.nc", "gl_input", rows), write_sparse(
        tmp_path / "out.nc", "gl_output", rows
    )


def quiet(**kwargs: Any) -> TrainOptions:
    return TrainOptions(tensorboard=False, threads=1, **kwargs)


def test_autoencoder_training_loss_decreases(tmp_path: Path, ae_data: tuple[Path, Path]) -> None:
    lines: list[str] = []
    result = train(
        autoencoder(),
        inputs=ae_data[0],
        outputs=ae_data[1],
        network_path=tmp_path / "gl.nc",
        options=TrainOptions(
            epochs=6, batch=32, alpha=0.5, log=lines.append, logdir=tmp_path / "tb", threads=1
        ),
    )
    errors = [r.training_error for r in result.history]
    assert len(errors) == 6 and errors[-1] < 0.6 * errors[0]
    assert all(b < a for a, b in itertools.pairwise(errors[1:]))  # steady decrease after epoch 1
    nf = load_network(tmp_path / "gl.nc")
    assert nf.training is not None and nf.training.epoch == 6
    assert nf.training.metrics["training_error"] == pytest.approx(errors)
    assert [line.split(",")[0] for line in lines] == [f"Epoch {e}" for e in range(1, 7)]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"epoch/training_error", "epoch/learning_rate", "batch/loss"} <= tags
    logged = [e.value for e in events.Scalars("epoch/training_error")]
    assert logged == pytest.approx(errors, rel=1e-6)


def test_sparse_targets_are_never_densified(
    tmp_path: Path, ae_data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: SparseBatch) -> torch.Tensor:
        raise AssertionError("a sparse batch was densified")

    monkeypatch.setattr(SparseBatch, "to_dense", refuse)
    result = train(
        autoencoder(),
        inputs=ae_data[0],
        outputs=ae_data[1],
        network_path=tmp_path / "gl.nc",
        options=quiet(epochs=1, batch=50),
    )
    assert np.isfinite(result.history[0].training_error)


@pytest.mark.parametrize(
    ("error_function", "activation", "target"),
    [
        ("L1", "Sigmoid", "sparse"),
        ("L2", "Sigmoid", "sparse"),
        ("L2Hinge", "Tanh", "sparse"),
        ("CrossEntropy", "Sigmoid", "sparse"),
        ("CrossEntropy", "SoftMax", "sparse"),
        ("ScaledMarginalCrossEntropy", "Sigmoid", "sparse"),
        ("DataScaledMarginalCrossEntropy", "Sigmoid", "analog"),
        ("Hinge", "Tanh", "dense"),
        ("L2", "Linear", "dense"),
    ],
)
def test_every_error_function_trains_one_epoch(
    tmp_path: Path, error_function: str, activation: str, target: str
) -> None:
    rows = sparse_rows()
    inp = write_sparse(tmp_path / "in.nc", "gl_input", rows)
    if target == "dense":
        dense = -np.ones((N_SAMPLES, 8), np.float32)
        dense[np.arange(N_SAMPLES), np.arange(N_SAMPLES) % 4] = 1.0
        out = write_dense(tmp_path / "out.nc", "gl_output", dense)
    else:
        out = write_sparse(tmp_path / "out.nc", "gl_output", rows, values=target == "analog")
    cfg = autoencoder(ErrorFunction=error_function, DeltaBoost={"one": 2.0, "zero": 0.5})
    cfg["Layers"][2]["Activation"] = activation
    config = load_config(cfg)
    before = build_network(
        config, {"gl_input": (WIDTH,), "gl_output": (8 if target == "dense" else WIDTH,)}, seed=5
    )
    result = train(
        config,
        inputs=inp,
        outputs=out,
        network_path=tmp_path / "n.nc",
        options=quiet(epochs=1, batch=64, seed=5),
    )
    assert np.isfinite(result.history[0].training_error) and result.history[0].training_error > 0
    after = load_network(tmp_path / "n.nc").weight("Hidden", "Output").weights
    assert not np.allclose(after, before.connections[1].weight.detach().numpy())


@pytest.mark.parametrize(
    "optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"]
)
def test_optimizers_train_and_store_their_state(
    tmp_path: Path, ae_data: tuple[Path, Path], optimizer: str
) -> None:
    alpha = {"sgd": 0.5, "momentum": 0.2, "nesterov": 0.2}.get(optimizer, 0.01)
    result = train(
        autoencoder(),
        inputs=ae_data[0],
        outputs=ae_data[1],
        network_path=tmp_path / "gl.nc",
        options=quiet(epochs=3, batch=32, alpha=alpha, mu=0.9, mu1=0.999, optimizer=optimizer),
    )
    errors = [r.training_error for r in result.history]
    assert np.all(np.isfinite(errors)) and errors[-1] < errors[0]
    state = load_network(tmp_path / "gl.nc").training
    assert state is not None and state.optimizer.lower() == optimizer
    keys = {name.rsplit(".", 1)[-1] for name in state.optimizer_state if name.startswith("opt.")}
    expected = {
        "sgd": set(),
        "momentum": {"velocity"},
        "nesterov": {"velocity"},
        "adagrad": {"sum_sq"},
        "rmsprop": {"mean_sq"},
        "adadelta": {"mean_sq_grad", "mean_sq_delta"},
        "adam": {"exp_avg", "exp_avg_sq", "step"},
    }
    assert keys == expected[optimizer]


# -- one SGD step of a 2-2-2 network against DSSTNE's update rule, in numpy -------------------


def _sgd_reference(
    x: np.ndarray,
    t: np.ndarray,
    params: list[np.ndarray],
    *,
    alpha: float,
    lam: float,
    lam1: float,
    penalty: tuple[float, float] | None,
    delta_norm: float = 0.0,
) -> tuple[list[np.ndarray], float, float]:
    w1, b1, w2, b2 = (p.astype(np.float64) for p in params)
    batch = x.shape[0]
    a1 = 1.0 / (1.0 + np.exp(-(x @ w1 + b1)))  # Sigmoid hidden
    a2 = a1 @ w2 + b2  # Linear output
    d2 = a2 - t  # L2 delta with f' = 1
    if delta_norm:  # DSSTNE's DeltaNorm: each example's output delta clipped to this L2 norm
        d2 = d2 * np.minimum(1.0, delta_norm / np.linalg.norm(d2, axis=1, keepdims=True))
    back = d2 @ w2.T
    if penalty is not None:  # DSSTNE adds beta*(-p/rho + (1-p)/(1-rho)) before f'
        p, beta = penalty
        rho = np.clip(a1.mean(axis=0), 1e-6, 0.999999)
        back = back + beta * (-p / rho + (1 - p) / (1 - rho))
    d1 = back * a1 * (1 - a1)
    updated = []
    for w, b, inp, d in ((w1, b1, x, d1), (w2, b2, a1, d2)):
        g = -(inp.T @ d) / batch  # DSSTNE's G: the negative mean gradient
        updated += [w + alpha * (g - lam * w - lam1 * np.sign(w)), b - alpha * d.mean(axis=0)]
    error = float(0.5 * ((a2 - t) ** 2).sum())
    reg = float(sum(0.5 * lam * (w**2).sum() + lam1 * np.abs(w).sum() for w in (w1, w2)))
    return [updated[0], updated[1], updated[2], updated[3]], error, reg


@pytest.mark.parametrize(("penalty", "delta_norm"), [(None, 0.0), ((0.2, 0.5), 0.0), (None, 0.5)])
def test_one_sgd_step_matches_dsstne_update(
    tmp_path: Path, penalty: tuple[float, float] | None, delta_norm: float
) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 2)).astype(np.float32)
    t = rng.normal(size=(4, 2)).astype(np.float32)
    cfg: dict[str, Any] = {
        "Version": 0.8,
        "ShuffleIndices": False,
        "ErrorFunction": "L2",
        "Layers": [
            {"Name": "Input", "Kind": "Input", "N": 2, "DataSet": "x"},
            {
                "Name": "Hidden",
                "Kind": "Hidden",
                "N": 2,
                "Activation": "Sigmoid",
                "Sparse": penalty is not None,
                "WeightInit": {"Scheme": "Gaussian", "Scale": 0.8, "Bias": 0.1},
            },
            {
                "Name": "Output",
                "Kind": "Output",
                "N": 2,
                "DataSet": "y",
                "Activation": "Linear",
                "WeightInit": {"Scheme": "Gaussian", "Scale": 0.8, "Bias": -0.2},
                "DeltaNorm": delta_norm,
            },
        ],
    }
    if penalty is not None:
        cfg["SparsenessPenalty"] = {"p": penalty[0], "beta": penalty[1]}
    config = load_config(copy.deepcopy(cfg))
    net = build_network(config, {"x": (2,), "y": (2,)}, seed=11)
    params = [p.detach().numpy().copy() for c in net.connections for p in (c.weight, c.bias)]
    expected, error, reg = _sgd_reference(
        x, t, params, alpha=0.1, lam=0.01, lam1=0.003, penalty=penalty, delta_norm=delta_norm
    )

    result = train(
        config,
        inputs=write_dense(tmp_path / "x.nc", "x", x),
        outputs=write_dense(tmp_path / "y.nc", "y", t),
        network_path=tmp_path / "n.nc",
        options=quiet(epochs=1, batch=4, alpha=0.1, lambda_l2=0.01, lambda_l1=0.003, seed=11),
    )
    nf = load_network(tmp_path / "n.nc")
    got = [
        a
        for pair in (("Input", "Hidden"), ("Hidden", "Output"))
        for a in (nf.weight(*pair).weights, nf.weight(*pair).bias)
    ]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    report = result.history[0]
    assert report.training_error == pytest.approx(error / 4, rel=1e-5)
    assert report.regularization_error == pytest.approx(reg, rel=1e-5)


def test_on_epoch_end_can_stop_early(tmp_path: Path, ae_data: tuple[Path, Path]) -> None:
    seen: list[EpochReport] = []

    def callback(report: EpochReport) -> bool:
        seen.append(report)
        return report.epoch == 2

    result = train(
        autoencoder(),
        inputs=ae_data[0],
        outputs=ae_data[1],
        network_path=tmp_path / "gl.nc",
        options=quiet(epochs=10, batch=64, on_epoch_end=callback),
    )
    assert [r.epoch for r in seen] == [1, 2] and result.stopped_early
    assert result.epochs_completed == 2
    assert load_network(tmp_path / "gl.nc").training.epoch == 2  # type: ignore[union-attr]


def test_validation_split_reports_loss_and_ranking_metrics(tmp_path: Path) -> None:
    full = sparse_rows(seed=1, extra=3)  # 8 items per example; the input sees the first 5
    inp = write_sparse(tmp_path / "in.nc", "gl_input", [r[:5] for r in full])
    out = write_sparse(tmp_path / "out.nc", "gl_output", full)
    result = train(
        autoencoder(),
        inputs=inp,
        outputs=out,
        network_path=tmp_path / "gl.nc",
        options=quiet(epochs=3, batch=32, alpha=0.5, validation_fraction=0.25),
    )
    first, last = result.history[0], result.history[-1]
    assert first.validation_error is not None and last.validation_error < first.validation_error
    assert set(last.metrics) == {"recall@20", "ndcg@10"}
    assert 0.0 <= last.metrics["ndcg@10"] <= 1.0
    # the 3 held-out items come from the example's cluster of 16: chance is about 20/123 = 0.16
    assert last.metrics["recall@20"] > 0.3


def test_training_parameters_fill_unset_options(tmp_path: Path, ae_data: tuple[Path, Path]) -> None:
    cfg = autoencoder(
        TrainingParameters={
            "Epochs": 2,
            "Alpha": 0.3,
            "Optimizer": "Momentum",
            "Batch": 50,
            "Mu": 0.8,
        }
    )
    result = train(
        cfg,
        inputs=ae_data[0],
        outputs=ae_data[1],
        network_path=tmp_path / "gl.nc",
        options=quiet(epochs=3, mu=0.7),
    )
    h = result.hyperparameters
    assert (h.epochs, h.alpha, h.optimizer.name, h.batch, h.mu) == (3, 0.3, "MOMENTUM", 50, 0.7)
    assert (h.lambda_l2, h.checkpoint_interval) == (0.0001, 10)  # DSSTNE's train defaults
    assert result.epochs_completed == 3


def test_weight_norm_is_applied_after_every_step(
    tmp_path: Path, ae_data: tuple[Path, Path]
) -> None:
    cfg = autoencoder()
    cfg["Layers"][1]["WeightNorm"] = 0.05
    train(
        cfg,
        inputs=ae_data[0],
        outputs=ae_data[1],
        network_path=tmp_path / "gl.nc",
        options=quiet(epochs=1, batch=32, alpha=1.0),
    )
    w = load_network(tmp_path / "gl.nc").weight("Input", "Hidden").weights
    assert w is not None and np.linalg.norm(w, axis=0).max() <= 0.05 * (1 + 1e-5)


def test_divergence_brake_fires_and_can_be_switched_off(tmp_path: Path) -> None:
    # 120 calm examples (one per minibatch, in order), then one whose error explodes.
    x = np.ones((121, 2), np.float32)
    t = np.zeros((121, 2), np.float32)
    t[120] = 1000.0
    cfg = {
        "Version": 0.8,
        "ShuffleIndices": False,
        "ErrorFunction": "L2",
        "Layers": [
            {"Name": "Input", "Kind": "Input", "N": 2, "DataSet": "x"},
            {"Name": "Output", "Kind": "Output", "N": 2, "DataSet": "y", "Activation": "Linear"},
        ],
    }
    inp, out = write_dense(tmp_path / "x.nc", "x", x), write_dense(tmp_path / "y.nc", "y", t)
    finals = {}
    for brake in (True, False):
        lines: list[str] = []
        path = tmp_path / f"n{brake}.nc"
        train(
            cfg,
            inputs=inp,
            outputs=out,
            network_path=path,
            options=quiet(epochs=1, batch=1, alpha=0.01, brake=brake, log=lines.append),
        )
        fired = "Detected network divergence, attempting recovery." in lines
        assert fired == brake
        finals[brake] = load_network(path).weight("Input", "Output").bias
    # with the brake the exploding minibatch was not applied: the bias stayed small
    assert np.abs(finals[True]).max() < 1.0 < np.abs(finals[False]).max()


def test_decay_divides_the_learning_rate_by_applied_updates(
    tmp_path: Path, ae_data: tuple[Path, Path]
) -> None:
    result = train(
        autoencoder(Decay=0.5),
        inputs=ae_data[0],
        outputs=ae_data[1],
        network_path=tmp_path / "gl.nc",
        options=quiet(epochs=2, batch=50, alpha=0.2),
    )
    # 4 minibatches per epoch; DSSTNE: alpha / (1 + decay * updates already applied)
    assert [r.learning_rate for r in result.history] == pytest.approx(
        [0.2 / (1 + 0.5 * 3), 0.2 / (1 + 0.5 * 7)]
    )
    assert [r.batches for r in result.history] == [4, 8]
