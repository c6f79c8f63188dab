"""Reading a config's JSON text the way DSSTNE's jsoncpp ``Json::Reader`` does: ``//`` and ``/* */``
comments are allowed, ``NaN``/``Infinity`` are not. Syntax errors become one ``ConfigError`` naming
``FILE:LINE:COLUMN``; keys repeated inside one object are kept so the loader can reject them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lamina.errors import ConfigError

__all__ = ["Pairs", "read_json_source", "strip_comments"]


class Pairs(dict):  # type: ignore[type-arg]
    """A JSON object that remembers every ``(key, value)`` pair in order, repeats included."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


def strip_comments(text: str) -> str:
    """Blank out ``//`` and ``/* */`` comments outside strings, keeping every newline (so line and
    column numbers of later errors stay right)."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_text(text: str, display: str) -> Any:
    """Parse JSON text (comments allowed) into plain values with :class:`Pairs` objects.

    Raises:
        ConfigError: ``display:LINE:COLUMN: invalid JSON: <decoder message>``.
    """
    try:
        return json.loads(
            strip_comments(text), object_pairs_hook=Pairs, parse_constant=_no_constants
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{display}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
            hint="DSSTNE configs are JSON; check for a missing comma, quote or bracket",
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{display}: invalid JSON: {exc}") from None


def read_json_source(
    source: str | os.PathLike[str] | Mapping[str, Any], name: str | None
) -> tuple[Any, str | None]:
    """Turn a path, JSON text or a dict into JSON data plus the name messages should start with.

    A ``str`` whose first non-blank character is ``{`` is JSON text; any other ``str`` is a path.

    Returns:
        (data, display name or ``None`` for an unnamed dict).

    Raises:
        ConfigError: unreadable file or invalid JSON.
    """
    if isinstance(source, Mapping):
        return source, name
    if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
        display = name or "<string>"
        return parse_json_text(source, display), display
    path = Path(source)
    display = name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{display}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{display}: cannot read config file: {exc}") from None
    return parse_json_text(text, display), display
