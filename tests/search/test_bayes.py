"""Strategies: the GP and log EI against references, bayes against random, distinct parallel
suggestions, grid order, determinism."""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
import pytest
import torch
from scipy.optimize import approx_fprime
from scipy.stats import multivariate_normal

from lamina.errors import ConfigError, UsageError
from lamina.search.bayes import BayesStrategy
from lamina.search.gp import _JITTER, GaussianProcess, _matern52, log_expected_improvement
from lamina.search.grid import GridStrategy
from lamina.search.random_search import RandomStrategy
from lamina.search.space import ChoiceDist, FloatDist, IntDist, SearchSpace
from lamina.search.strategy import Strategy, assignment_key, create_strategy

SPACE2 = SearchSpace({"x": FloatDist(-1.0, 1.0), "y": FloatDist(-1.0, 1.0)})
DISCRETE = SearchSpace({"n": IntDist(1, 6), "act": ChoiceDist(("ReLU", "Tanh"))})


def quadratic(a: dict[str, Any]) -> float:
    return (a["x"] - 0.3) ** 2 + 2.0 * (a["y"] + 0.4) ** 2


def run(
    strategy: Strategy, f: Any, evals: int, batch: int = 1
) -> list[tuple[dict[str, Any], float]]:
    history: list[tuple[dict[str, Any], float]] = []
    while len(history) < evals:
        for a in strategy.suggest(history, [], n=batch):
            history.append((a, f(a)))
    return history


@pytest.mark.parametrize("z", [-60.0, -25.0, -5.0, -1.0, -0.3, 0.0, 2.0, 8.0])
def test_log_ei_matches_high_precision_reference(z: float) -> None:
    mpmath.mp.dps = 60
    zm = mpmath.mpf(z)
    pdf = mpmath.exp(-(zm**2) / 2) / mpmath.sqrt(2 * mpmath.pi)
    cdf = mpmath.ncdf(zm)
    sigma = 0.7
    expected = float(mpmath.log(sigma * (pdf + zm * cdf)))
    got = log_expected_improvement(
        torch.tensor([1.0 - z * sigma], dtype=torch.float64), torch.tensor([sigma]), 1.0
    )
    # The naive log(sigma * h(z)) is -inf below z = -38; this stays within 1e-7 relative.
    assert float(got) == pytest.approx(expected, rel=1e-7, abs=1e-9)


def test_marginal_likelihood_matches_scipy_and_its_gradient_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random((12, 3)), rng.standard_normal(12)
    gp = GaussianProcess(x, y, fit=False)
    theta = np.array([-0.5, 0.1, 0.3, math.log(0.05), math.log(1.7)])
    ls, noise, scale = np.exp(theta[:3]), 0.05 + _JITTER, 1.7
    k = scale * _matern52(gp.x, gp.x, torch.tensor(ls)).numpy() + noise * np.eye(12)
    mll = multivariate_normal(np.zeros(12), k).logpdf(gp.y.numpy())
    # Optuna's priors over the log parameters (Jacobian terms included): -(0.1/s + 0.1 s) on
    # s = ls^-2, Gamma(2, 1) on the scale, Gamma(1.1, 30) on the noise variance.
    s = ls**-2.0
    prior = -np.sum(0.1 / s + 0.1 * s) + math.log(scale) - scale
    prior += 0.1 * math.log(noise) - 30 * noise
    value, grad = gp.neg_log_posterior(theta)
    assert value == pytest.approx(-(mll + prior) / 12, rel=1e-10)
    numeric = approx_fprime(theta, lambda t: gp.neg_log_posterior(t)[0], 1e-7)
    assert grad == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_log_ei_gradient_matches_finite_differences_and_value_matches_posterior() -> None:
    rng = np.random.default_rng(2)
    x = rng.random((20, 3))
    gp = GaussianProcess(x, np.sin(5 * x[:, 0]) + x[:, 1] ** 2)
    best = float(gp.y.min())
    xq = np.concatenate([rng.random((4, 3)), x[:1] + 0.01])
    value, grad = gp.log_ei_and_grad(xq, best)
    mean, std = gp.posterior(torch.as_tensor(xq))
    assert value == pytest.approx(log_expected_improvement(mean, std, best).numpy(), rel=1e-9)
    h = 1e-6
    for i in range(len(xq)):
        steps = xq[i] + h * np.concatenate([np.eye(3), -np.eye(3)])  # central differences
        f = gp.log_ei_and_grad(steps, best)[0]
        assert grad[i] == pytest.approx((f[:3] - f[3:]) / (2 * h), rel=1e-5, abs=1e-5)


def test_condition_as_constant_liar_or_believer_collapses_the_variance() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((10, 2))
    gp = GaussianProcess(x, x.sum(1))
    xq = np.array([[0.5, 0.5]])
    mean0, std0 = gp.posterior(torch.as_tensor(xq))
    liar = gp.condition(xq, -1.5)
    believer = gp.condition(xq)
    mean_l, std_l = liar.posterior(torch.as_tensor(xq))
    mean_b, std_b = believer.posterior(torch.as_tensor(xq))
    # One Gaussian update with an observation of noise variance gp.noise at xq:
    v, m0 = float(std0) ** 2, float(mean0)
    gain = v / (v + gp.noise)
    assert float(mean_l) == pytest.approx(m0 + gain * (-1.5 - m0), rel=1e-6)
    assert float(mean_b) == pytest.approx(m0, rel=1e-6)
    assert float(std_l) ** 2 == pytest.approx(v * (1 - gain), rel=1e-4)
    assert float(std_b) == pytest.approx(float(std_l), rel=1e-9)
    assert len(gp.x) == 10  # the original model is unchanged


def test_matern_kernel_hand_computed() -> None:
    a = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.3, 0.4]], dtype=torch.float64)
    r = math.sqrt(5) * 0.5  # distance 0.5 with unit lengthscales
    expected = (1 + r + r * r / 3) * math.exp(-r)
    assert float(_matern52(a, b, torch.ones(2, dtype=torch.float64))) == pytest.approx(expected)


def test_posterior_interpolates_noise_free_data() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((15, 2))
    y = np.sin(3 * x[:, 0]) + x[:, 1]
    gp = GaussianProcess(x, y)
    mean, std = gp.posterior(torch.as_tensor(x))
    assert mean.numpy() * gp.y_std + gp.y_mean == pytest.approx(y, abs=0.05)
    _, far = gp.posterior(torch.tensor([[5.0, 5.0]], dtype=torch.float64))
    assert float(far) > 10 * float(std.max())


def test_bayes_beats_random_on_a_quadratic() -> None:
    regrets = {}
    for name in ("bayes", "random"):
        regrets[name] = [
            min(
                v
                for _, v in run(
                    create_strategy(name, SPACE2, seed=s, n_initial=5)
                    if name == "bayes"
                    else create_strategy(name, SPACE2, seed=s),
                    quadratic,
                    15,
                )
            )
            for s in range(2)
        ]
    assert max(regrets["bayes"]) < 1e-3
    assert max(regrets["bayes"]) < min(regrets["random"])


def test_maximize_direction() -> None:
    strategy = BayesStrategy(SPACE2, seed=0, n_initial=5, direction="maximize")
    history = run(strategy, lambda a: -quadratic(a), 12)
    assert max(v for _, v in history) > -1e-2


@pytest.mark.parametrize("name", ["bayes", "random"])
def test_parallel_suggestions_are_distinct_from_each_other_and_from_pending(name: str) -> None:
    strategy = create_strategy(name, SPACE2, seed=3)
    history = run(strategy, quadratic, 10)
    pending = strategy.suggest(history, [], n=3)
    more = strategy.suggest(history, pending, n=4)
    keys = [assignment_key(a) for a in [*pending, *more, *(a for a, _ in history)]]
    assert len(set(keys)) == len(keys) == 17
    # Pending points push the next proposals away: no proposal sits on top of a pending one.
    gaps = [math.dist((a["x"], a["y"]), (p["x"], p["y"])) for a in more for p in pending]
    assert min(gaps) > 1e-3


@pytest.mark.parametrize("name", ["bayes", "random", "grid"])
def test_discrete_space_is_exhausted_without_repeats(name: str) -> None:
    options = {"bayes": {"n_initial": 4}, "grid": {"points_per_float": 6}, "random": {}}[name]
    strategy = create_strategy(name, DISCRETE, seed=0, **options)
    history = run(strategy, lambda a: (a["n"] - 4) ** 2 + (a["act"] == "Tanh"), 10)
    pending = strategy.suggest(history, [], n=1)
    rest = strategy.suggest(history, pending, n=5)
    keys = [assignment_key(a) for a in [*(a for a, _ in history), *pending, *rest]]
    assert len(set(keys)) == len(keys) == 12
    assert strategy.suggest([*history, *((a, 0.0) for a in [*pending, *rest])], [], n=2) == []


def test_failed_trials_count_as_tried() -> None:
    strategy = BayesStrategy(SPACE2, seed=0, n_initial=3)
    history = [(a, math.nan) for a in strategy.suggest([], [], n=3)]
    history += [(a, quadratic(a)) for a in strategy.suggest(history, [], n=3)]
    (a,) = strategy.suggest(history, [], n=1)
    assert assignment_key(a) not in {assignment_key(h) for h, _ in history}


@pytest.mark.parametrize("name", ["bayes", "random"])
def test_same_seed_same_suggestions(name: str) -> None:
    first = run(create_strategy(name, SPACE2, seed=7), quadratic, 11)
    second = run(create_strategy(name, SPACE2, seed=7), quadratic, 11)
    assert first == second
    other = run(create_strategy(name, SPACE2, seed=8), quadratic, 3)
    assert [a for a, _ in other] != [a for a, _ in first[:3]]


def test_grid_order_and_values() -> None:
    space = SearchSpace(
        {"a": ChoiceDist(("x", "y")), "lr": FloatDist(1e-3, 1e-1, log=True), "n": IntDist(1, 3)}
    )
    grid = GridStrategy(space, points_per_float=3)
    assert grid.size == 18
    first = grid.suggest([], [], n=4)
    assert [(p["a"], p["n"]) for p in first] == [("x", 1), ("x", 2), ("x", 3), ("x", 1)]
    assert [p["lr"] for p in first] == pytest.approx([1e-3, 1e-3, 1e-3, 1e-2])
    assert grid.suggest([(first[0], 1.0)], first[1:3], n=1) == [first[3]]


def test_factory_errors() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'bayes'"):
        create_strategy("bayse", SPACE2)
    with pytest.raises(UsageError, match="the search space is empty"):
        create_strategy("random", SearchSpace({}))
    with pytest.raises(UsageError, match="direction must be"):
        create_strategy("bayes", SPACE2, direction="up")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="unexpected keyword"):
        create_strategy("random", SPACE2, n_initial=3)
    assert isinstance(RandomStrategy(SPACE2), Strategy)
