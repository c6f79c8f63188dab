"""mu/mu1 defaults follow the optimizer unless something sets them.

DSSTNE's ``-mu 0.5 -mu1 0`` diverge as Adam's beta1/beta2.
"""

from __future__ import annotations

from lamina.config import load_config
from lamina.config.enums import Optimizer
from lamina.train.options import TrainOptions, resolve_hyperparameters

NET = {
    "Version": 0.8,
    "Layers": [
        {"Kind": "Input", "N": 8, "DataSet": "x", "Sparse": True},
        {"Kind": "Output", "N": 8, "DataSet": "y"},
    ],
}


def _config(training: dict | None = None):
    return load_config({**NET, **({"TrainingParameters": training} if training else {})})


def test_adam_gets_adam_betas_and_sgd_keeps_dsstne_defaults() -> None:
    adam = resolve_hyperparameters(TrainOptions(optimizer="adam"), _config())
    assert (adam.optimizer, adam.mu, adam.mu1) == (Optimizer.ADAM, 0.9, 0.999)
    sgd = resolve_hyperparameters(TrainOptions(), _config())
    assert (sgd.optimizer, sgd.mu, sgd.mu1, sgd.alpha) == (Optimizer.SGD, 0.5, 0.0, 0.025)


def test_explicit_mu_wins_over_the_optimizer_default_from_config_or_flag() -> None:
    cfg = _config({"Optimizer": "Adam", "Mu1": 0.99})
    hyper = resolve_hyperparameters(TrainOptions(), cfg)
    assert (hyper.mu, hyper.mu1) == (0.9, 0.99)
    hyper = resolve_hyperparameters(TrainOptions(mu=0.8), cfg)
    assert (hyper.mu, hyper.mu1) == (0.8, 0.99)
