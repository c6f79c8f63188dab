"""One exception tree for everything Lamina raises on purpose.

Every class knows its process exit status; only the CLI turns an exception into a message and an
exit code. Exceptions are picklable (Ray ships them between processes): each stores its constructor
arguments in ``args`` so that ``pickle.loads(pickle.dumps(e))`` rebuilds an equal exception.

Exit statuses follow the CLI convention: 2 for bad user input (config, data, usage), 1 for failures
while doing valid work, 3 for a missing optional dependency.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DependencyError",
    "LaminaError",
    "ModelError",
    "NotSupportedError",
    "UsageError",
    "did_you_mean",
]


class LaminaError(Exception):
    """Base class of every error Lamina raises on purpose.

    Args:
        message: the complete, user-facing message (where, what was expected, what was found).
        hint: optional advice printed after the message as ``- help: ...``.
    """

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n- help: {self.hint}"

    def __reduce__(self) -> tuple[type[LaminaError], tuple[str, str | None]]:
        return (type(self), (self.message, self.hint))


class ConfigError(LaminaError):
    """A network config (or a search space in it) is malformed. The message names the JSON path."""

    exit_code = 2


class DataError(LaminaError):
    """An input data, index or dataset file is malformed. The message names ``FILE:LINE``."""

    exit_code = 2


class UsageError(LaminaError):
    """Command-line arguments that cannot work together (e.g. ``-c`` with ``-m``)."""

    exit_code = 2


class ModelError(LaminaError):
    """A network cannot be built or run with the data given (e.g. widths that do not fit)."""

    exit_code = 1


class CheckpointError(LaminaError):
    """A network or checkpoint file is missing, corrupt or of an unknown format version."""

    exit_code = 1


class NotSupportedError(LaminaError):
    """A valid DSSTNE construct that Lamina does not implement (e.g. DotProduct pooling)."""

    exit_code = 2


class DependencyError(LaminaError):
    """An optional dependency is missing; the message names the extra to install."""

    exit_code = 3

    @classmethod
    def missing(cls, module: str, extra: str) -> DependencyError:
        """Build the error for a missing optional module.

        Args:
            module: the import name that failed, e.g. ``"ray"``.
            extra: the Lamina extra that provides it, e.g. ``"search"``.
        """
        return cls(
            f"this feature needs the Python package {module!r}, which is not installed",
            hint=f"pip install 'lamina[{extra}]'",
        )


def did_you_mean(found: str, allowed: Iterable[str]) -> str:
    """Return ``" Did you mean 'X'?"`` for the closest allowed name, or ``""`` if none is close.

    Matching is case-insensitive, as DSSTNE's keys and enumeration values are.
    """
    allowed = list(allowed)
    lowered = {a.lower(): a for a in allowed}
    close = difflib.get_close_matches(found.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""
