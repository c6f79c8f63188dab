"""Value types of DSSTNE's JSON language: each knows how to ``parse`` a JSON value, ``dump`` it back
and describe it as JSON Schema, so parser, ``to_dict`` and schema share one description.

Keys and enum strings are case-insensitive, as in DSSTNE; the JSON path of every value is
named in its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from lamina.config.enums import label
from lamina.errors import ConfigError, did_you_mean
from lamina.registry import Registry

__all__ = [
    "AUTO_STRING",
    "DOC_SPELLINGS",
    "Boolean",
    "Dims",
    "Enum",
    "Integer",
    "Names",
    "Number",
    "String",
    "ValueType",
    "got",
    "json_type",
]

AUTO_STRING = "auto"

# Spellings documented in DSSTNE's LDL.txt that its parser rejects -> what the parser wants.
DOC_SPELLINGS = {
    "smce": "ScaledMarginalCrossEntropy",
    "dsmce": "DataScaledMarginalCrossEntropy",
    "convolution": "Convolutional",
}


def json_type(value: object) -> str:
    """The JSON name of a Python value's type, for messages (``bool`` is not a number here)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def got(value: object) -> str:
    return f"Got {value!r} ({json_type(value)})."


class ValueType:
    """Parses, dumps and describes (JSON Schema) one kind of JSON value."""

    def parse(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        return value

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Number(ValueType):
    """A JSON number (ints accepted, as DSSTNE's ``asFloat``), optionally range-checked."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    def _range(self) -> str:
        lo = (
            ""
            if self.minimum is None
            else ("(" if self.exclusive_minimum else "[") + f"{self.minimum:g}"
        )
        hi = (
            ""
            if self.maximum is None
            else f"{self.maximum:g}" + (")" if self.exclusive_maximum else "]")
        )
        if lo and hi:
            return f"in {lo}, {hi}"
        if lo:
            return f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        return f"{'<' if self.exclusive_maximum else '<='} {self.maximum:g}" if hi else ""

    def parse(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path} must be a number. {got(value)}")
        x = float(value)
        lo_bad = self.minimum is not None and (
            x < self.minimum or (self.exclusive_minimum and x == self.minimum)
        )
        hi_bad = self.maximum is not None and (
            x > self.maximum or (self.exclusive_maximum and x == self.maximum)
        )
        if lo_bad or hi_bad:
            raise ConfigError(f"{path} must be a number {self._range()}. Got {value!r}.")
        return x

    def dump(self, value: Any) -> float:
        return float(value)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "number"}
        if self.minimum is not None:
            out["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            out["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        return out


@dataclass(frozen=True)
class Integer(ValueType):
    """A JSON integer ``>= minimum``; an integral float such as ``128.0`` is accepted."""

    minimum: int | None = None

    def parse(self, value: Any, path: str) -> int:
        ok = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not ok:
            raise ConfigError(f"{path} must be an integer. {got(value)}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{path} must be an integer >= {self.minimum}. Got {value!r}.")
        return int(value)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        return out


class Boolean(ValueType):
    """A JSON ``true``/``false`` (DSSTNE's ``asBool`` would also take numbers; Lamina does not)."""

    def parse(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false. {got(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class String(ValueType):
    """A JSON string."""

    def parse(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(f"{path} must be a string. {got(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}


@dataclass(frozen=True)
class Enum(ValueType):
    """A case-insensitive name resolved through a :class:`~lamina.registry.Registry`."""

    registry: Registry[IntEnum]

    def parse(self, value: Any, path: str) -> IntEnum:
        if not isinstance(value, str):
            raise ConfigError(
                f"{path} must be one of [{', '.join(self.registry.names())}]. {got(value)}"
            )
        if value in self.registry:
            return self.registry.get(value)
        doc = DOC_SPELLINGS.get(value.lower())
        hint = None
        if doc in self.registry.names():
            suggestion = f" Did you mean {doc!r}?"
            hint = f"DSSTNE's LDL.txt documents {value!r}, but DSSTNE's own parser rejects it"
        else:
            suggestion = did_you_mean(value, self.registry.all_spellings())
        raise ConfigError(
            f"{path} must be one of [{', '.join(self.registry.names())}]. Got {value!r}."
            + suggestion,
            hint=hint,
        )

    def dump(self, value: Any) -> str:
        return label(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": self.registry.all_spellings()}


@dataclass(frozen=True)
class Dims(ValueType):
    """An int, or an array of 1..``max_len`` ints (each >= 1), as a tuple; optionally ``"auto"``."""

    max_len: int
    allow_auto: bool = False

    def parse(self, value: Any, path: str) -> tuple[int, ...] | str:
        if isinstance(value, str) and self.allow_auto:
            if value.lower() == AUTO_STRING:
                return AUTO_STRING
            raise ConfigError(
                f"{path} must be an integer, an array of 1-{self.max_len} integers or 'auto'. "
                f"Got {value!r}.",
                hint="DSSTNE silently ignores strings other than 'auto' here; Lamina rejects them",
            )
        if not isinstance(value, list):
            return (Integer(minimum=1).parse(value, path),)
        items = value
        if not 1 <= len(items) <= self.max_len:
            raise ConfigError(
                f"{path} must be an integer or an array of 1-{self.max_len} integers. "
                f"Got an array of {len(items)}."
            )
        return tuple(Integer(minimum=1).parse(v, f"{path}[{i}]") for i, v in enumerate(items))

    def dump(self, value: Any) -> Any:
        return value if isinstance(value, str) else list(value)

    def schema(self) -> dict[str, Any]:
        one = {"type": "integer", "minimum": 1}
        arr = {"type": "array", "items": one, "minItems": 1, "maxItems": self.max_len}
        alts: list[dict[str, Any]] = [one, arr]
        if self.allow_auto:
            alts.append({"const": AUTO_STRING})
        return {"anyOf": alts}


@dataclass(frozen=True)
class Names(ValueType):
    """A layer name or an array of distinct layer names (non-empty unless ``allow_empty``), as a
    tuple."""

    allow_empty: bool = False

    def parse(self, value: Any, path: str) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        if not items and not self.allow_empty:
            raise ConfigError(f"{path} must be a layer name or a non-empty array of names. Got [].")
        names = tuple(String().parse(v, f"{path}[{i}]") for i, v in enumerate(items))
        for i, n in enumerate(names):
            if n in names[:i]:
                raise ConfigError(f"{path} lists layer {n!r} twice.")
        return names

    def dump(self, value: Any) -> list[str]:
        return list(value)

    def schema(self) -> dict[str, Any]:
        arr = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
        arr["minItems"] = 0 if self.allow_empty else 1
        return {"anyOf": [{"type": "string"}, arr]}
