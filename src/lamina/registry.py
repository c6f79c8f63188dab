"""Case-insensitive name registries.

Every ``"Type"``, ``"Activation"``, ``"ErrorFunction"``, optimizer and init-scheme name resolves
through one, failing with the list of what is allowed. A registry maps a canonical name (as DSSTNE
spells it in docs) to a value, with any number of aliases (DSSTNE accepts ``relu`` and
``rectifiedlinear`` for the same activation). Lookup lower-cases the key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from lamina.errors import ConfigError, did_you_mean

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A case-insensitive name -> value table with aliases and one error message for misses.

    Args:
        kind: what the names are, for messages (e.g. ``"activation"``).

    Example:
        >>> acts = Registry[int]("activation")
        >>> acts.register("Sigmoid", 0)
        >>> acts.register("ReLU", 2, aliases=("RectifiedLinear",))
        >>> acts.get("relu", path="Layers[1].Activation")
        2
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._canonical: dict[str, str] = {}  # lower-cased name or alias -> canonical name
        self._values: dict[str, T] = {}  # canonical name -> value
        self._spelling: dict[str, str] = {}  # lower-cased name or alias -> as registered

    def register(self, name: str, value: T, *, aliases: tuple[str, ...] = ()) -> None:
        """Add ``name`` (and its aliases) for ``value``; a name may be registered only once."""
        for key in (name, *aliases):
            if key.lower() in self._canonical:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._canonical[key.lower()] = name
            self._spelling[key.lower()] = key
        self._values[name] = value

    def decorator(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Register the decorated object under ``name``."""

        def wrap(obj: T) -> T:
            self.register(name, obj, aliases=aliases)
            return obj

        return wrap

    def canonical(self, name: str, *, path: str = "") -> str:
        """Return the canonical spelling of ``name``.

        Raises:
            ConfigError: ``name`` is not registered; the message lists what is.
        """
        try:
            return self._canonical[name.lower()]
        except KeyError:
            where = f"{path} " if path else f"{self.kind} "
            raise ConfigError(
                f"{where}must be one of [{', '.join(self.names())}]. Got {name!r}."
                + did_you_mean(name, self.all_spellings())
            ) from None

    def get(self, name: str, *, path: str = "") -> T:
        """Return the value registered for ``name`` (any case, any alias)."""
        return self._values[self.canonical(name, path=path)]

    def names(self) -> list[str]:
        """Canonical names in registration order."""
        return list(self._values)

    def all_spellings(self) -> list[str]:
        """Every accepted spelling (canonical names and aliases), as registered."""
        return list(self._spelling.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._canonical

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
