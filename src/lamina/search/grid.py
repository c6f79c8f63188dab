"""Grid search: the Cartesian product of every parameter's grid, in path order.

Grids: every value of a choice; every value of an int range with at most ``points_per_float``
values, else that many values spread evenly on its (log) scale; ``points_per_float`` values from
``low`` to ``high`` of a float range (log-spaced when ``log``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lamina.errors import UsageError
from lamina.search.space import ChoiceDist, Distribution, SearchSpace
from lamina.search.strategy import Direction, History, UnitCubeStrategy, assignment_key

__all__ = ["GridStrategy", "grid_values"]


def grid_values(dist: Distribution, points: int) -> list[Any]:
    """The grid of one distribution (see the module docstring), without repeats, in order."""
    if isinstance(dist, ChoiceDist):
        return list(dist.values)
    out: list[Any] = []
    for u in np.linspace(0.0, 1.0, points):
        v = dist.decode(np.array([u]))
        if v not in out:
            out.append(v)
    return out


class GridStrategy(UnitCubeStrategy):
    """Tries every grid point once, in order; returns fewer than ``n`` when the grid runs out.

    Args:
        space: the search space.
        seed: unused (a grid is deterministic); accepted for a uniform constructor.
        direction: unused.
        points_per_float: grid points per float (and per wide int) range, >= 2.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        direction: Direction = "minimize",
        points_per_float: int = 5,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction)
        if points_per_float < 2:
            raise UsageError(f"points_per_float must be >= 2. Got {points_per_float}.")
        self.axes = {p: grid_values(d, points_per_float) for p, d in space.items()}

    @property
    def size(self) -> int:
        """Number of grid points."""
        return int(np.prod([len(v) for v in self.axes.values()]))

    def suggest(
        self, history: History, pending: Sequence[Mapping[str, Any]], n: int = 1
    ) -> list[dict[str, Any]]:
        if n < 1:
            raise UsageError(f"n must be >= 1. Got {n}.")
        seen = {assignment_key(a) for a, _ in history} | {assignment_key(a) for a in pending}
        out: list[dict[str, Any]] = []
        for values in itertools.product(*self.axes.values()):
            assignment = dict(zip(self.axes, values, strict=True))
            if assignment_key(assignment) not in seen:
                out.append(assignment)
                if len(out) == n:
                    break
        return out
