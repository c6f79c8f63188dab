"""Value types and key tables: the one description of DSSTNE's JSON language that the parser, the
serializer (``to_dict``) and the JSON Schema are all built from.

A :class:`Key` names one JSON key (canonical spelling plus the aliases DSSTNE also matches), the
dataclass field it fills and its :class:`ValueType`. A value type knows how to ``parse`` a JSON value
(raising :class:`~lamina.errors.ConfigError` with the JSON path), how to ``dump`` it back to JSON and
its JSON Schema fragment. Keys and enum strings are case-insensitive, as in DSSTNE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from lamina.config.enums import label
from lamina.errors import ConfigError, did_you_mean
from lamina.registry import Registry

__all__ = [
    "AUTO_STRING",
    "DOC_SPELLINGS",
    "Block",
    "BlockList",
    "Boolean",
    "Dims",
    "Enum",
    "Integer",
    "Key",
    "KeyTable",
    "Names",
    "Number",
    "String",
    "ValueType",
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
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _got(value: object) -> str:
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
        lo = "" if self.minimum is None else ("(" if self.exclusive_minimum else "[") + f"{self.minimum:g}"
        hi = "" if self.maximum is None else f"{self.maximum:g}" + (")" if self.exclusive_maximum else "]")
        if lo and hi:
            return f"in {lo}, {hi}"
        if lo:
            return f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        return f"{'<' if self.exclusive_maximum else '<='} {self.maximum:g}" if hi else ""

    def parse(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path} must be a number. {_got(value)}")
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
            raise ConfigError(f"{path} must be an integer. {_got(value)}")
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
            raise ConfigError(f"{path} must be true or false. {_got(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class String(ValueType):
    """A JSON string."""

    def parse(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(f"{path} must be a string. {_got(value)}")
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
                f"{path} must be one of [{', '.join(self.registry.names())}]. {_got(value)}"
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


@dataclass(frozen=True)
class Key:
    """One JSON key: canonical spelling, the dataclass field it fills, its value type.

    Args:
        name: canonical spelling (as DSSTNE's samples write it), used by ``to_dict`` and the schema.
        field: attribute of the dataclass the value goes to.
        type: how the value is parsed, dumped and described.
        aliases: other spellings DSSTNE's parser matches for the same field (e.g. ``Slope``).
        required: the key must be present (only ``SharedWeights`` layer names).
    """

    name: str
    field: str
    type: ValueType
    aliases: tuple[str, ...] = ()
    required: bool = False

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class KeyTable:
    """The keys allowed in one JSON object, matched case-insensitively.

    Args:
        what: the object's name for messages (e.g. ``"WeightInit"``).
        keys: the keys, in the order ``to_dict`` writes them.
    """

    def __init__(self, what: str, keys: Sequence[Key]) -> None:
        self.what = what
        self.keys = tuple(keys)
        self._by_spelling = {s.lower(): k for k in self.keys for s in k.spellings}

    def __iter__(self) -> Iterator[Key]:
        return iter(self.keys)

    def __getitem__(self, name: str) -> Key:
        return self._by_spelling[name.lower()]

    def names(self) -> list[str]:
        """Canonical spellings in table order."""
        return [k.name for k in self.keys]

    def spellings(self) -> list[str]:
        """Every accepted spelling, canonical names and aliases."""
        return [s for k in self.keys for s in k.spellings]

    def match(
        self, obj: Any, path: str, *, allowed: frozenset[str] | None = None, context: str = ""
    ) -> dict[str, tuple[Key, Any, str]]:
        """Match an object's keys to this table, case-insensitively.

        Args:
            obj: the JSON value, which must be an object.
            path: its JSON path, for messages.
            allowed: canonical names allowed here (default: every key of the table).
            context: appended to "not allowed" messages, e.g. ``" on an Input layer"``.

        Returns:
            canonical key name -> (key, raw value, JSON path of the value).

        Raises:
            ConfigError: not an object, an unknown or disallowed key, two spellings of one key.
        """
        where = path or "the top level"
        if not isinstance(obj, Mapping):
            raise ConfigError(f"{where} must be a JSON object ({self.what}). {_got(obj)}")
        names = [k for k in self.names() if allowed is None or k in allowed]
        out: dict[str, tuple[Key, Any, str]] = {}
        seen: dict[str, str] = {}
        for raw, value in getattr(obj, "pairs", None) or obj.items():
            if not isinstance(raw, str):
                raise ConfigError(f"{where}: keys must be strings. Got {raw!r}.")
            key = self._by_spelling.get(raw.lower())
            if key is None or (allowed is not None and key.name not in allowed):
                if key is None:
                    what = f"unknown key {raw!r}"
                    spell = [s for s in self.spellings() if allowed is None or self[s].name in allowed]
                    suggestion = did_you_mean(raw, spell)
                else:
                    what, suggestion = f"key {raw!r} is not allowed{context}", ""
                raise ConfigError(f"{where}: {what}. Allowed: [{', '.join(names)}].{suggestion}")
            if key.name in seen:
                raise ConfigError(
                    f"{where}: keys {seen[key.name]!r} and {raw!r} set the same field "
                    f"(DSSTNE keys are case-insensitive{' and aliases' if key.aliases else ''})."
                )
            seen[key.name] = raw
            out[key.name] = (key, value, f"{path}.{key.name}" if path else key.name)
        for key in self.keys:
            if key.required and key.name not in out and (allowed is None or key.name in allowed):
                raise ConfigError(f"{where}: missing required key {key.name!r}.")
        return out


@dataclass(frozen=True)
class Block(ValueType):
    """A nested JSON object that maps onto a frozen dataclass through a :class:`KeyTable`.

    ``dump`` writes every field (defaults included) except those that are ``None``.
    """

    table: KeyTable
    cls: type

    def parse(self, value: Any, path: str) -> Any:
        fields = {k.field: k.type.parse(v, p) for k, v, p in self.table.match(value, path).values()}
        return self.cls(**fields)

    def dump(self, value: Any) -> dict[str, Any]:
        out = {}
        for key in self.table:
            v = getattr(value, key.field)
            if v is not None:
                out[key.name] = key.type.dump(v)
        return out

    def schema(self) -> dict[str, Any]:
        defaults = {f.name: f.default for f in dataclasses.fields(self.cls)}
        props: dict[str, Any] = {}
        for key in self.table:
            for spelling in key.spellings:
                props[spelling] = dict(key.type.schema())
                default = defaults.get(key.field, dataclasses.MISSING)
                if default not in (dataclasses.MISSING, None):
                    props[spelling]["default"] = key.type.dump(default)
        out: dict[str, Any] = {
            "type": "object",
            "title": self.table.what,
            "properties": props,
            "additionalProperties": False,
        }
        required = [k.name for k in self.table if k.required]
        if required:
            out["required"] = required
        return out


@dataclass(frozen=True)
class BlockList(ValueType):
    """One object or an array of objects of the same :class:`Block`, as a tuple."""

    block: Block

    def parse(self, value: Any, path: str) -> tuple[Any, ...]:
        if isinstance(value, list):
            return tuple(self.block.parse(v, f"{path}[{i}]") for i, v in enumerate(value))
        return (self.block.parse(value, path),)

    def dump(self, value: Any) -> list[Any]:
        return [self.block.dump(v) for v in value]

    def schema(self) -> dict[str, Any]:
        one = self.block.schema()
        return {"anyOf": [one, {"type": "array", "items": one}]}
