"""Search distributions: frozen value objects with a JSON form and a unit-cube encoding.

A config value may be replaced by a ``$search`` annotation (keys and kind names match
case-insensitively, like DSSTNE's keys)::

    {"$search": "float", "low": 1e-4, "high": 1, "log": true}
    {"$search": "int", "low": 64, "high": 1024, "log": true}          # optional "step": 1
    {"$search": "choice", "values": ["Sigmoid", "ReLU", "Tanh"]}

Every distribution validates itself in its constructor (``ConfigError``) and round-trips:
``distribution_from_dict(d.to_dict()) == d``.

The unit cube, which the optimizers work in:

* ``float``: one dimension, ``(x - low) / (high - low)``; with ``log``, the same on ``log x``.
* ``int``: one dimension, the float encoding of ``[low - step/2, high + step/2]`` (with ``log``:
  ``[low - 1/2, high + 1/2]`` on a log scale), so each integer owns an equal slice; decoding rounds
  to the nearest allowed integer.
* ``choice``: one-hot, one dimension per value (no false order between values); decoding takes the
  largest coordinate (the first on ties).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lamina.errors import ConfigError, did_you_mean

__all__ = [
    "SEARCH_KEY",
    "ChoiceDist",
    "Distribution",
    "FloatDist",
    "IntDist",
    "Scalar",
    "distribution_from_dict",
    "is_annotation",
]

SEARCH_KEY = "$search"
Scalar = str | int | float | bool


def is_annotation(value: Any) -> bool:
    """True for a JSON object with a ``$search`` key (any case): a search annotation."""
    return isinstance(value, Mapping) and any(
        isinstance(k, str) and k.lower() == SEARCH_KEY for k in value
    )


def _number(value: Any, name: str, *, integer: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, int) or float(value).is_integer()
    if not ok or not math.isfinite(value):
        what = "an integer" if integer else "a finite number"
        raise ConfigError(f"{name} must be {what}. Got {value!r}.")
    return int(value) if integer else float(value)


class Distribution:
    """Base of the search distributions. Subclasses are frozen dataclasses."""

    kind: ClassVar[str]

    @property
    def dims(self) -> int:
        """Number of unit-cube coordinates this distribution takes."""
        return 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, ``{"$search": kind, ...}`` with every field."""
        raise NotImplementedError

    def encode(self, value: Any) -> np.ndarray:
        """A value -> its ``(dims,)`` float64 unit-cube coordinates."""
        raise NotImplementedError

    def decode(self, u: np.ndarray) -> Any:
        """``(dims,)`` unit-cube coordinates (clipped to [0, 1]) -> the nearest allowed value."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """True when ``value`` is one this distribution can produce."""
        raise NotImplementedError

    def bounds(self) -> list[Any]:
        """The extreme values (``low``, ``high``; every value of a choice), which config
        validation tries one by one."""
        raise NotImplementedError


@dataclass(frozen=True)
class FloatDist(Distribution):
    """A real value in ``[low, high]``, uniform or (``log=True``) log-uniform.

    Raises:
        ConfigError: non-finite bounds, ``low >= high``, or ``log`` with ``low <= 0``.
    """

    low: float
    high: float
    log: bool = False
    kind: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", _number(self.low, "low"))
        object.__setattr__(self, "high", _number(self.high, "high"))
        if not isinstance(self.log, bool):
            raise ConfigError(f"log must be true or false. Got {self.log!r}.")
        if not self.low < self.high:
            raise ConfigError(
                f"low must be less than high. Got low={self.low:g}, high={self.high:g}."
            )
        if self.log and self.low <= 0:
            raise ConfigError(f"low must be > 0 when log is true. Got low={self.low:g}.")

    def _scale(self) -> tuple[float, float]:
        return (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return {SEARCH_KEY: self.kind, "low": self.low, "high": self.high, "log": self.log}

    def encode(self, value: Any) -> np.ndarray:
        a, b = self._scale()
        x = math.log(value) if self.log else float(value)
        return np.array([(x - a) / (b - a)])

    def decode(self, u: np.ndarray) -> float:
        a, b = self._scale()
        x = a + float(np.clip(u[0], 0.0, 1.0)) * (b - a)
        return float(min(max(math.exp(x) if self.log else x, self.low), self.high))

    def contains(self, value: Any) -> bool:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and self.low <= value <= self.high

    def bounds(self) -> list[Any]:
        return [self.low, self.high]


@dataclass(frozen=True)
class IntDist(Distribution):
    """An integer in ``low, low + step, ..., high``, uniform or (``log=True``) log-uniform.

    Raises:
        ConfigError: non-integers, ``low >= high``, ``step < 1``, ``high - low`` not a multiple
            of ``step``, ``log`` with ``low < 1`` or with ``step != 1``.
    """

    low: int
    high: int
    log: bool = False
    step: int = 1
    kind: ClassVar[str] = "int"

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            object.__setattr__(self, name, _number(getattr(self, name), name, integer=True))
        if not isinstance(self.log, bool):
            raise ConfigError(f"log must be true or false. Got {self.log!r}.")
        if not self.low < self.high:
            raise ConfigError(f"low must be less than high. Got low={self.low}, high={self.high}.")
        if self.step < 1:
            raise ConfigError(f"step must be an integer >= 1. Got {self.step}.")
        if (self.high - self.low) % self.step:
            raise ConfigError(
                f"high - low must be a multiple of step. Got low={self.low}, high={self.high}, "
                f"step={self.step}."
            )
        if self.log and self.low < 1:
            raise ConfigError(f"low must be >= 1 when log is true. Got low={self.low}.")
        if self.log and self.step != 1:
            raise ConfigError(f"step must be 1 when log is true. Got step={self.step}.")

    def _scale(self) -> tuple[float, float]:
        half = 0.5 * self.step
        if self.log:
            return math.log(self.low - 0.5), math.log(self.high + 0.5)
        return self.low - half, self.high + half

    def to_dict(self) -> dict[str, Any]:
        return {
            SEARCH_KEY: self.kind,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "step": self.step,
        }

    def encode(self, value: Any) -> np.ndarray:
        a, b = self._scale()
        x = math.log(value) if self.log else float(value)
        return np.array([(x - a) / (b - a)])

    def decode(self, u: np.ndarray) -> int:
        a, b = self._scale()
        x = a + float(np.clip(u[0], 0.0, 1.0)) * (b - a)
        x = math.exp(x) if self.log else x
        k = round((x - self.low) / self.step)
        return int(min(max(self.low + k * self.step, self.low), self.high))

    def contains(self, value: Any) -> bool:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok and self.low <= value <= self.high and (value - self.low) % self.step == 0

    def bounds(self) -> list[Any]:
        return [self.low, self.high]


@dataclass(frozen=True)
class ChoiceDist(Distribution):
    """One of a list of distinct JSON scalars (strings, numbers or booleans).

    Raises:
        ConfigError: an empty list, a repeated value, or a value that is an object, array or null
            (conditional search spaces, e.g. a ``$search`` nested in a choice, are not supported).
    """

    values: tuple[Scalar, ...]
    kind: ClassVar[str] = "choice"

    def __post_init__(self) -> None:
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Sequence):
            raise ConfigError(f"values must be a non-empty array. Got {self.values!r}.")
        values = tuple(self.values)
        if not values:
            raise ConfigError("values must be a non-empty array. Got [].")
        seen: set[str] = set()
        for i, v in enumerate(values):
            if isinstance(v, Mapping) and is_annotation(v):
                raise ConfigError(
                    f"values[{i}] is a nested $search annotation: conditional search spaces are "
                    "not supported. Search the choice and the nested value separately."
                )
            if not isinstance(v, (str, int, float, bool)) or (
                isinstance(v, float) and not math.isfinite(v)
            ):
                raise ConfigError(
                    f"values[{i}] must be a string, a number or a boolean. Got {v!r}.",
                    hint="conditional search spaces (a choice between blocks) are not supported",
                )
            key = json.dumps(v)
            if key in seen:
                raise ConfigError(f"values must be distinct. Got {v!r} twice.")
            seen.add(key)
        object.__setattr__(self, "values", values)

    @property
    def dims(self) -> int:
        return len(self.values)

    def _index(self, value: Any) -> int:
        key = json.dumps(value)
        for i, v in enumerate(self.values):
            if json.dumps(v) == key:
                return i
        raise ConfigError(f"{value!r} is not one of {list(self.values)!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {SEARCH_KEY: self.kind, "values": list(self.values)}

    def encode(self, value: Any) -> np.ndarray:
        out = np.zeros(len(self.values))
        out[self._index(value)] = 1.0
        return out

    def decode(self, u: np.ndarray) -> Scalar:
        return self.values[int(np.argmax(u[: len(self.values)]))]

    def contains(self, value: Any) -> bool:
        return any(json.dumps(v) == json.dumps(value) for v in self.values)

    def bounds(self) -> list[Any]:
        return list(self.values)


_KINDS: dict[str, tuple[type[Distribution], tuple[str, ...], tuple[str, ...]]] = {
    # kind -> (class, required keys, optional keys)
    "float": (FloatDist, ("low", "high"), ("log",)),
    "int": (IntDist, ("low", "high"), ("log", "step")),
    "choice": (ChoiceDist, ("values",), ()),
}


def distribution_from_dict(data: Any, path: str = "") -> Distribution:
    """Build a distribution from its JSON form, validating it.

    Args:
        data: a ``{"$search": kind, ...}`` object; keys match case-insensitively.
        path: JSON path of the annotation, which every message starts with.

    Returns:
        The :class:`FloatDist`, :class:`IntDist` or :class:`ChoiceDist`.

    Raises:
        ConfigError: ``<path>: <what is wrong>``: unknown kind or key, missing key, bad range.

    Example:
        >>> distribution_from_dict({"$search": "int", "low": 64, "high": 1024, "log": True})
        IntDist(low=64, high=1024, log=True, step=1)
    """
    where = f"{path}: " if path else ""
    if not is_annotation(data):
        raise ConfigError(f"{where}a search annotation must be an object with a '$search' key.")
    fields = {k.lower(): v for k, v in data.items()}
    kind = fields.pop(SEARCH_KEY)
    kinds = list(_KINDS)
    if not isinstance(kind, str) or kind.lower() not in _KINDS:
        hint = did_you_mean(kind, kinds) if isinstance(kind, str) else ""
        raise ConfigError(
            f"{where}$search must be one of [{', '.join(kinds)}]. Got {kind!r}.{hint}"
        )
    cls, required, optional = _KINDS[kind.lower()]
    allowed = (*required, *optional)
    for key in fields:
        if key not in allowed:
            raise ConfigError(
                f"{where}unknown key {key!r} in a $search {kind.lower()!r} annotation. "
                f"Allowed: [{', '.join(allowed)}].{did_you_mean(key, allowed)}"
            )
    for key in required:
        if key not in fields:
            raise ConfigError(f"{where}$search {kind.lower()!r} needs the key {key!r}.")
    try:
        return cls(**fields)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc.message}", exc.hint) from None
