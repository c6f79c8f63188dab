"""Typed netCDF attribute and variable access with errors that name the file and the attribute.

DSSTNE's C++ writer fixes the netCDF type of every attribute (NC_UINT, NC_INT, NC_FLOAT, NC_UINT64,
text); the ``put_*`` helpers reproduce them. The ``NcReader`` getters accept any numeric type a file
may hold, and raise :class:`CheckpointError` for a missing or malformed item.
"""

from __future__ import annotations

import json
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

import netCDF4
import numpy as np

from lamina.config.enums import label
from lamina.errors import CheckpointError

__all__ = [
    "NcReader",
    "float32_value",
    "put_float",
    "put_int",
    "put_json",
    "put_text",
    "put_uint",
    "put_uint64",
    "put_variable",
]

E = TypeVar("E", bound=IntEnum)
_MISSING: Any = object()


def put_uint(ds: netCDF4.Dataset, name: str, value: int) -> None:
    """Write an NC_UINT attribute."""
    ds.setncattr(name, np.uint32(value))


def put_uint64(ds: netCDF4.Dataset, name: str, value: int) -> None:
    """Write an NC_UINT64 attribute."""
    ds.setncattr(name, np.uint64(value))


def put_int(ds: netCDF4.Dataset, name: str, value: int) -> None:
    """Write an NC_INT attribute."""
    ds.setncattr(name, np.int32(value))


def put_float(ds: netCDF4.Dataset, name: str, value: float) -> None:
    """Write an NC_FLOAT attribute."""
    ds.setncattr(name, np.float32(value))


def put_text(ds: netCDF4.Dataset, name: str, value: str) -> None:
    """Write a text attribute: NC_CHAR holding UTF-8, as DSSTNE's ``putAtt(string, string)`` (a
    ``str`` with non-ASCII characters would become NC_STRING, which DSSTNE cannot read)."""
    ds.setncattr(name, value.encode("utf-8"))


def put_json(ds: netCDF4.Dataset, name: str, value: Any) -> None:
    """Write ``value`` as ASCII JSON text (so it is always NC_CHAR)."""
    put_text(ds, name, json.dumps(value, ensure_ascii=True, sort_keys=True))


def put_variable(ds: netCDF4.Dataset, name: str, dims: tuple[str, ...], data: np.ndarray) -> None:
    """Write variable ``name`` holding ``data`` (its dtype), with HDF5's Fletcher-32 checksum so a
    corrupted array fails to read instead of loading wrong numbers (scalars cannot carry one)."""
    var = ds.createVariable(name, data.dtype, dims, fletcher32=bool(dims))
    if dims:
        var[...] = data
    else:
        var.assignValue(data)


def float32_value(raw: float) -> float:
    """The shortest decimal that rounds to the same float32 (``0.0001``, not ``9.99999974e-05``)."""
    return float(str(np.float32(raw)))


class NcReader:
    """Read typed items of one open dataset; every failure names ``path`` and the item."""

    def __init__(self, ds: netCDF4.Dataset, path: Path) -> None:
        self.ds = ds
        self.path = path

    def error(self, name: str, expected: str, found: object) -> CheckpointError:
        """Build the error for attribute ``name`` holding ``found`` instead of ``expected``."""
        return CheckpointError(
            f"{self.path}: attribute {name!r} must be {expected}. Got {found!r}.",
            hint="the file is corrupt or was not written by DSSTNE or Lamina",
        )

    def has(self, name: str) -> bool:
        """True if the global attribute ``name`` exists."""
        return name in self.ds.ncattrs()

    def _raw(self, name: str, default: Any) -> Any:
        if not self.has(name):
            if default is _MISSING:
                raise CheckpointError(
                    f"{self.path}: required attribute {name!r} is missing",
                    hint="the file is truncated, corrupt or not a DSSTNE/Lamina network file",
                )
            return default
        return self.ds.getncattr(name)

    def _scalar(self, name: str, raw: Any, expected: str) -> Any:
        arr = np.asarray(raw)
        if arr.size != 1 or arr.dtype.kind not in "biuf":
            raise self.error(name, expected, raw)
        return arr.reshape(()).item()

    def text(self, name: str, default: Any = _MISSING) -> str:
        """A text attribute."""
        if default is not _MISSING and not self.has(name):
            return str(default)
        raw = self._raw(name, default)
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if isinstance(raw, np.ndarray) and raw.size == 1 and raw.dtype.kind in "OSU":
            raw = str(raw.reshape(()).item())
        if not isinstance(raw, str):
            raise self.error(name, "text", raw)
        return raw

    def integer(self, name: str, default: Any = _MISSING, *, minimum: int = 0) -> int:
        """An integer attribute (any integer type, or an integral float) ``>= minimum``."""
        if default is not _MISSING and not self.has(name):
            return int(default)
        raw = self._raw(name, default)
        value = self._scalar(name, raw, f"an integer >= {minimum}")
        if isinstance(value, float) and not value.is_integer():
            raise self.error(name, f"an integer >= {minimum}", raw)
        if int(value) < minimum:
            raise self.error(name, f"an integer >= {minimum}", raw)
        return int(value)

    def flag(self, name: str, default: Any = _MISSING) -> bool:
        """A DSSTNE boolean (uint, nonzero = true)."""
        return self.integer(name, default) != 0

    def number(self, name: str, default: Any = _MISSING) -> float:
        """A float attribute; a float32 one comes back as the shortest decimal of its value."""
        if default is not _MISSING and not self.has(name):
            return float(default)
        raw = self._raw(name, default)
        value = self._scalar(name, raw, "a number")
        if np.asarray(raw).dtype == np.float32:
            return float32_value(value)
        return float(value)

    def enum(self, name: str, enum: type[E], default: Any = _MISSING) -> E:
        """A uint attribute holding one of ``enum``'s DSSTNE codes."""
        code = self.integer(name, default)
        try:
            return enum(code)
        except ValueError:
            allowed = ", ".join(f"{m.value} ({_label(m)})" for m in enum)
            raise self.error(name, f"one of [{allowed}]", code) from None

    def json(self, name: str) -> Any:
        """A JSON text attribute, parsed with :func:`json.loads` (never evaluated)."""
        text = self.text(name)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.error(name, "valid JSON text", f"{text[:60]}... ({exc})") from None

    def variable(self, name: str, *, dtype: np.dtype[Any] | type | None = None) -> np.ndarray:
        """The full content of variable ``name`` (optionally cast to ``dtype``)."""
        if name not in self.ds.variables:
            raise CheckpointError(
                f"{self.path}: required variable {name!r} is missing",
                hint="the file is truncated, corrupt or not a DSSTNE/Lamina network file",
            )
        data = np.asarray(self.ds.variables[name][...])
        return data if dtype is None else data.astype(dtype, copy=False)


def _label(member: IntEnum) -> str:
    try:
        return label(member)
    except KeyError:
        return member.name
