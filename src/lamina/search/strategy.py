"""The ``Strategy`` protocol every search strategy follows, its unit-cube base class and the
registry ``create_strategy`` reads.

A driver asks a strategy for ``n`` new assignments given the finished trials (``history``: pairs
of assignment and objective value) and the trials still running (``pending``). Strategies never
propose an assignment that is already in the history or pending, nor the same one twice in one
answer; they return fewer than ``n`` only when a finite space has no untried point left.
Objective values that are not finite (NaN, inf: a failed trial) count as tried but are not
modelled.

Strategies keep no state that changes their answers except caches: with the same seed and the
same ``(history, pending, n)`` a fresh strategy proposes the same points, so a resumed search
continues where it stopped (Bayes' warm-started hyperparameter fit may differ in the last digits).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from lamina.errors import UsageError
from lamina.registry import Registry
from lamina.search.space import SearchSpace

__all__ = [
    "STRATEGIES",
    "Direction",
    "Strategy",
    "UnitCubeStrategy",
    "assignment_key",
    "create_strategy",
]

Direction = Literal["minimize", "maximize"]
History = Sequence[tuple[Mapping[str, Any], float]]

# name -> "module:class"; imported on use, so that torch loads only for bayes.
STRATEGIES: Registry[str] = Registry("search strategy")
STRATEGIES.register("bayes", "lamina.search.bayes:BayesStrategy", aliases=("gp", "bo"))
STRATEGIES.register("random", "lamina.search.random_search:RandomStrategy")
STRATEGIES.register("grid", "lamina.search.grid:GridStrategy")


@runtime_checkable
class Strategy(Protocol):
    """What a search driver needs from a strategy."""

    space: SearchSpace

    def suggest(
        self, history: History, pending: Sequence[Mapping[str, Any]], n: int = 1
    ) -> list[dict[str, Any]]:
        """Propose up to ``n`` new assignments ``{JSON path: value}``.

        Args:
            history: finished trials, ``(assignment, objective value)``, in any order.
            pending: assignments of trials still running.
            n: how many assignments to propose (one per free worker).
        """
        ...


def assignment_key(assignment: Mapping[str, Any]) -> str:
    """A hashable identity of an assignment (its canonical JSON)."""
    return json.dumps(dict(assignment), sort_keys=True)


def create_strategy(
    name: str,
    space: SearchSpace,
    *,
    seed: int = 0,
    direction: Direction = "minimize",
    **options: Any,
) -> Strategy:
    """Build a registered strategy by name (``bayes``, ``random``, ``grid``; any case).

    Args:
        name: the strategy's name.
        space: the search space.
        seed: seeds every random choice.
        direction: whether lower or higher objective values are better.
        **options: strategy-specific keyword options (e.g. ``n_initial`` for bayes,
            ``points_per_float`` for grid).

    Raises:
        ConfigError: an unknown strategy name (the message lists the known ones).
        UsageError: an empty space, a bad direction or option.

    Example:
        >>> from lamina.search.space import FloatDist
        >>> space = SearchSpace({"TrainingParameters.Alpha": FloatDist(1e-4, 1.0, log=True)})
        >>> strategy = create_strategy("random", space, seed=1)
        >>> len(strategy.suggest([], [], n=2))
        2
    """
    module, _, attr = STRATEGIES.get(name, path="search strategy").partition(":")
    cls = getattr(importlib.import_module(module), attr)
    try:
        return cls(space, seed=seed, direction=direction, **options)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise UsageError(f"search strategy {name!r}: {exc}") from None


class UnitCubeStrategy:
    """Base class of strategies that propose points of the unit cube ``[0, 1]^space.dim``.

    Subclasses implement :meth:`propose`, which always minimizes. This class encodes and decodes
    assignments, flips the sign for ``direction="maximize"``, and removes duplicates.

    Args:
        space: the search space (at least one parameter).
        seed: seeds every random choice.
        direction: ``"minimize"`` or ``"maximize"``.
    """

    def __init__(
        self, space: SearchSpace, *, seed: int = 0, direction: Direction = "minimize"
    ) -> None:
        if len(space) == 0:
            raise UsageError("the search space is empty: the config has no $search annotation.")
        if direction not in ("minimize", "maximize"):
            raise UsageError(f"direction must be 'minimize' or 'maximize'. Got {direction!r}.")
        self.space = space
        self.seed = int(seed)
        self.direction = direction
        self._keys: dict[bytes, bytes] = {}  # point bytes -> key (a cache)

    def suggest(
        self, history: History, pending: Sequence[Mapping[str, Any]], n: int = 1
    ) -> list[dict[str, Any]]:
        """See :class:`Strategy`."""
        if n < 1:
            raise UsageError(f"n must be >= 1. Got {n}.")
        d = self.space.dim
        x = np.array([self.space.encode(a) for a, _ in history]).reshape(len(history), d)
        y = np.array([float(v) for _, v in history], dtype=np.float64)
        y = np.where(np.isfinite(y), y, np.nan)
        if self.direction == "maximize":
            y = -y
        p = np.array([self.space.encode(a) for a in pending]).reshape(len(pending), d)
        seen = {self.key(u) for u in (*x, *p)}
        points = self.propose(x, y, p, n, seen)
        return [self.space.decode(u) for u in points]

    def key(self, u: np.ndarray) -> bytes:
        """Identity of the assignment a unit-cube point decodes to."""
        raw = np.asarray(u, dtype=np.float64).tobytes()
        found = self._keys.get(raw)
        if found is None:
            found = np.round(self.space.project(u), 9).tobytes()
            if len(self._keys) < 100_000:
                self._keys[raw] = found
        return found

    def propose(
        self, x: np.ndarray, y: np.ndarray, pending: np.ndarray, n: int, seen: set[bytes]
    ) -> list[np.ndarray]:
        """Propose up to ``n`` new points.

        Args:
            x: ``(h, dim)`` finished points.
            y: ``(h,)`` their values to minimize; NaN for failed trials.
            pending: ``(p, dim)`` running points.
            n: how many to propose.
            seen: :meth:`key` of every finished and running point; a proposal's key must not be
                in it (add each proposal's key as it is chosen).

        Returns:
            Up to ``n`` ``(dim,)`` points, distinct by :meth:`key`.
        """
        raise NotImplementedError

    def random_fill(
        self, n: int, seen: set[bytes], *, index: int, tries: int = 200
    ) -> list[np.ndarray]:
        """Up to ``n`` uniformly random unseen points; point ``i`` depends only on
        ``(seed, index + i)``, so answers are reproducible."""
        out: list[np.ndarray] = []
        for i in range(n):
            rng = np.random.default_rng([self.seed, index + i])
            for _ in range(tries):
                u = rng.random(self.space.dim)
                k = self.key(u)
                if k not in seen:
                    seen.add(k)
                    out.append(self.space.project(u))
                    break
        return out
