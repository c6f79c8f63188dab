"""Hyperparameter search: search spaces inside configs, and the strategies that explore them.

Public API (this package imports neither torch nor ray; ``bayes`` loads torch when created):

    space.FloatDist(low, high, log=False), IntDist(low, high, log=False, step=1),
    ChoiceDist(values)                          frozen distributions, JSON form {"$search": ...}
    space.distribution_from_dict(data, path="") -> Distribution
    space.SearchSpace({path: dist})             .encode(assignment) / .decode(u) / .project(u)
    annotated.load_annotated(source, *, name=None) -> AnnotatedConfig
        .space, .materialize(assignment) -> NetworkConfig, .materialize_dict(assignment) -> dict
    strategy.create_strategy(name, space, *, seed=0, direction="minimize", **options) -> Strategy
        .suggest(history, pending, n=1) -> list[assignment]      (bayes | random | grid)
"""

from __future__ import annotations

from lamina.search.annotated import AnnotatedConfig, load_annotated, materialize
from lamina.search.space import (
    ChoiceDist,
    Distribution,
    FloatDist,
    IntDist,
    SearchSpace,
    distribution_from_dict,
)
from lamina.search.strategy import STRATEGIES, Strategy, create_strategy

__all__ = [
    "STRATEGIES",
    "AnnotatedConfig",
    "ChoiceDist",
    "Distribution",
    "FloatDist",
    "IntDist",
    "SearchSpace",
    "Strategy",
    "create_strategy",
    "distribution_from_dict",
    "load_annotated",
    "materialize",
]
