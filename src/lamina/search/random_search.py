"""Random search: uniform points of the unit cube (log-uniform for ``log`` ranges, every choice
equally likely), reproducible from the seed and the number of trials so far."""

from __future__ import annotations

import numpy as np

from lamina.search.strategy import UnitCubeStrategy

__all__ = ["RandomStrategy"]


class RandomStrategy(UnitCubeStrategy):
    """Uniform random search.

    Point ``k`` of a search (``k`` = finished + running trials before it) depends only on
    ``(seed, k)``.

    Example:
        >>> from lamina.search.space import IntDist, SearchSpace
        >>> s = RandomStrategy(SearchSpace({"Layers[1].N": IntDist(8, 64)}), seed=0)
        >>> [a["Layers[1].N"] for a in s.suggest([], [], n=3)] == [
        ...     a["Layers[1].N"] for a in RandomStrategy(s.space, seed=0).suggest([], [], n=3)]
        True
    """

    def propose(
        self, x: np.ndarray, y: np.ndarray, pending: np.ndarray, n: int, seen: set[bytes]
    ) -> list[np.ndarray]:
        return self.random_fill(n, seen, index=len(x) + len(pending))
