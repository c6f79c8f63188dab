"""Keys, key tables and nested blocks: how a JSON object of DSSTNE's language maps onto a frozen
dataclass. A :class:`KeyTable` matches keys case-insensitively (aliases included) and rejects
unknown ones with a "did you mean"; a :class:`Block` turns a matched object into its dataclass and
back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lamina.config.values import ValueType, got
from lamina.errors import ConfigError, did_you_mean

__all__ = ["Block", "BlockList", "Key", "KeyTable"]


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
            raise ConfigError(f"{where} must be a JSON object ({self.what}). {got(obj)}")
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
                    spell = [
                        s for s in self.spellings() if allowed is None or self[s].name in allowed
                    ]
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
