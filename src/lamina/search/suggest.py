"""Thin adapter between the study driver and the strategies of :mod:`lamina.search.strategy`.

The driver passes every finished trial (failed ones with a NaN value, so they count as tried but
are not modelled) and every running trial as pending. One driver suggests for all workers, so
parallel workers never receive the same point (the strategies exclude history and pending); the
adapter re-checks that and drops any repeat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lamina.search.space import SearchSpace
from lamina.search.strategy import assignment_key, create_strategy

__all__ = ["STRATEGY_NAMES", "Suggester"]

STRATEGY_NAMES = ("bayes", "random", "grid")


class Suggester:
    """Suggests new, distinct assignments for a study.

    Args:
        name: ``"bayes"``, ``"random"`` or ``"grid"``.
        space: the search space.
        seed: seed of the strategy.
        maximize: whether larger metric values are better.
    """

    def __init__(self, name: str, space: SearchSpace, *, seed: int, maximize: bool) -> None:
        self.strategy = create_strategy(
            name, space, seed=seed, direction="maximize" if maximize else "minimize"
        )

    def suggest(
        self,
        n: int,
        *,
        history: Sequence[tuple[Mapping[str, Any], float | None]],
        pending: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Up to ``n`` assignments, none equal to one in ``history`` or ``pending``.

        Args:
            n: how many to suggest.
            history: finished trials ``(assignment, metric value)``; ``None`` (failed) is NaN.
            pending: assignments of trials running or about to run.

        Returns:
            Fewer than ``n`` only when a finite space (grid, small discrete spaces) is exhausted.
        """
        done = [(dict(p), float("nan") if y is None else float(y)) for p, y in history]
        seen = {assignment_key(p) for p, _ in done} | {assignment_key(p) for p in pending}
        out = []
        for params in self.strategy.suggest(done, [dict(p) for p in pending], n):
            if assignment_key(params) not in seen:
                seen.add(assignment_key(params))
                out.append(params)
        return out
