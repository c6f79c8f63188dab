"""Search spaces: an ordered mapping of JSON paths to distributions, and the unit-cube encoding of
whole assignments that the optimizers work in (the distributions themselves, their JSON form and
per-value encodings are in :mod:`lamina.search.distributions`, re-exported here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from lamina.errors import ConfigError
from lamina.search.distributions import (
    SEARCH_KEY,
    ChoiceDist,
    Distribution,
    FloatDist,
    IntDist,
    distribution_from_dict,
    is_annotation,
)

__all__ = [
    "SEARCH_KEY",
    "ChoiceDist",
    "Distribution",
    "FloatDist",
    "IntDist",
    "SearchSpace",
    "distribution_from_dict",
    "is_annotation",
]


class SearchSpace(Mapping[str, Distribution]):
    """An ordered, immutable mapping JSON path -> :class:`Distribution`, plus the unit-cube
    encoding of whole assignments (``{path: value}`` dicts).

    Args:
        params: JSON path (e.g. ``"Layers[1].N"``) -> distribution, in encoding order.

    Example:
        >>> space = SearchSpace({"Layers[1].pDropout": FloatDist(0.0, 0.5),
        ...                      "Layers[1].Activation": ChoiceDist(("ReLU", "Tanh"))})
        >>> space.encode({"Layers[1].pDropout": 0.25, "Layers[1].Activation": "Tanh"})
        array([0.5, 0. , 1. ])
        >>> space.decode(np.array([0.5, 0.2, 0.7]))
        {'Layers[1].pDropout': 0.25, 'Layers[1].Activation': 'Tanh'}
    """

    def __init__(self, params: Mapping[str, Distribution]) -> None:
        for path, dist in params.items():
            if not isinstance(dist, Distribution):
                raise TypeError(f"{path}: expected a Distribution, got {type(dist).__name__}")
        self._params = dict(params)
        offsets = np.cumsum([0] + [d.dims for d in self._params.values()])
        self._slices = {
            p: slice(int(a), int(b)) for p, a, b in zip(self, offsets, offsets[1:], strict=False)
        }
        self.dim = int(offsets[-1])

    def __getitem__(self, path: str) -> Distribution:
        return self._params[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and list(self.items()) == list(other.items())

    def __hash__(self) -> int:
        return hash(tuple(self.items()))

    def __repr__(self) -> str:
        return f"SearchSpace({self._params!r})"

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{path: distribution JSON form}``."""
        return {p: d.to_dict() for p, d in self.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_dict`. Raises ``ConfigError`` naming the path of a bad entry."""
        return cls({p: distribution_from_dict(d, p) for p, d in data.items()})

    def check(self, assignment: Mapping[str, Any]) -> None:
        """Raise ``ConfigError`` unless ``assignment`` gives every path an allowed value."""
        missing = [p for p in self if p not in assignment]
        extra = [p for p in assignment if p not in self]
        if missing or extra:
            raise ConfigError(
                f"an assignment must set exactly the searched paths [{', '.join(self)}]. "
                f"Missing: {missing}; unknown: {extra}."
            )
        for path, dist in self.items():
            if not dist.contains(assignment[path]):
                raise ConfigError(
                    f"{path}: {assignment[path]!r} is outside {json.dumps(dist.to_dict())}."
                )

    def encode(self, assignment: Mapping[str, Any]) -> np.ndarray:
        """``{path: value}`` -> a ``(dim,)`` float64 point of the unit cube."""
        self.check(assignment)
        parts = [d.encode(assignment[p]) for p, d in self.items()]
        return np.concatenate(parts) if parts else np.zeros(0)

    def decode(self, u: np.ndarray) -> dict[str, Any]:
        """A ``(dim,)`` point (clipped to the cube) -> ``{path: nearest allowed value}``."""
        u = np.asarray(u, dtype=np.float64)
        if u.shape != (self.dim,):
            raise ValueError(f"expected a point of shape ({self.dim},), got {u.shape}")
        return {p: d.decode(u[self._slices[p]]) for p, d in self.items()}

    def project(self, u: np.ndarray) -> np.ndarray:
        """Snap a ``(dim,)`` point to the encoding of the value it decodes to (ints rounded,
        choices one-hot)."""
        return self.encode(self.decode(u))
