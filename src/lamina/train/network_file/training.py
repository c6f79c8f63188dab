"""Lamina's resume state (``TrainingState``) inside a network file, under the ``lamina_`` prefix.

Scalars are attributes, JSON-able dicts are JSON text attributes, arrays are variables
``lamina_opt_<k>`` whose names, dtypes and shapes are listed in the JSON attribute
``lamina_optimizer_state``. Nothing is pickled; reading only parses JSON and numbers.
"""

from __future__ import annotations

from typing import Any

import netCDF4
import numpy as np

from lamina.errors import CheckpointError, ModelError
from lamina.train.network_file._nc import NcReader, put_json, put_text, put_variable
from lamina.train.network_file.records import TrainingState

__all__ = ["has_training_state", "read_training_state", "write_training_state"]

# dtypes stored as themselves; bool is stored as u1 and restored from the recorded dtype name
_DTYPES = {"float32", "float64", "int8", "int16", "int32", "int64"}
_DTYPES |= {"uint8", "uint16", "uint32", "uint64", "bool"}


def has_training_state(r: NcReader) -> bool:
    """True if the file holds a :class:`TrainingState`."""
    return r.has("lamina_epoch")


def write_training_state(ds: netCDF4.Dataset, state: TrainingState) -> None:
    """Write ``state`` as ``lamina_*`` attributes and ``lamina_opt_<k>`` variables.

    Raises:
        ModelError: an optimizer array has a dtype netCDF-4 cannot hold exactly.
    """
    ds.setncattr("lamina_epoch", np.int64(state.epoch))
    ds.setncattr("lamina_batches", np.int64(state.batches))
    put_text(ds, "lamina_optimizer", state.optimizer)
    put_json(ds, "lamina_optimizer_meta", state.optimizer_meta)
    put_json(ds, "lamina_data_widths", state.data_widths)
    put_json(ds, "lamina_index_checksums", state.index_checksums)
    put_json(ds, "lamina_metrics", state.metrics)
    table = []
    for k, (name, value) in enumerate(state.optimizer_state.items()):
        array = np.asarray(value)
        if array.dtype.name not in _DTYPES:
            raise ModelError(
                f"optimizer state {name!r} must have a dtype in {sorted(_DTYPES)}. "
                f"Got {array.dtype.name}."
            )
        var_name = f"lamina_opt_{k}"
        table.append(
            {"name": name, "variable": var_name, "dtype": array.dtype.name, "shape": array.shape}
        )
        if array.size == 0:
            continue  # netCDF has no fixed zero-length dimension; the shape in the table suffices
        dims = []
        for d, extent in enumerate(array.shape):
            ds.createDimension(f"{var_name}_d{d}", extent)
            dims.append(f"{var_name}_d{d}")
        stored = array.astype(np.uint8) if array.dtype == np.bool_ else array
        put_variable(ds, var_name, tuple(dims), stored)
    put_json(ds, "lamina_optimizer_state", table)


def read_training_state(r: NcReader) -> TrainingState:
    """Read the :class:`TrainingState` written by :func:`write_training_state`.

    Raises:
        CheckpointError: a missing or malformed ``lamina_*`` item.
    """
    arrays: dict[str, np.ndarray] = {}
    table = r.json("lamina_optimizer_state")
    if not isinstance(table, list):
        raise r.error("lamina_optimizer_state", "a JSON list", type(table).__name__)
    for entry in table:
        name, array = _read_array(r, entry)
        arrays[name] = array
    return TrainingState(
        epoch=r.integer("lamina_epoch"),
        batches=r.integer("lamina_batches"),
        optimizer=r.text("lamina_optimizer"),
        optimizer_state=arrays,
        optimizer_meta=_json_dict(r, "lamina_optimizer_meta"),
        data_widths=_json_dict(r, "lamina_data_widths"),
        index_checksums=_json_dict(r, "lamina_index_checksums"),
        metrics=_json_dict(r, "lamina_metrics"),
    )


def _json_dict(r: NcReader, name: str) -> dict[str, Any]:
    value = r.json(name)
    if not isinstance(value, dict):
        raise r.error(name, "a JSON object", type(value).__name__)
    return value


def _read_array(r: NcReader, entry: Any) -> tuple[str, np.ndarray]:
    where = "lamina_optimizer_state"
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("variable"), str)
        and entry.get("dtype") in _DTYPES
        and isinstance(entry.get("shape"), list)
        and all(isinstance(e, int) and e >= 0 for e in entry["shape"])
    ):
        raise r.error(where, "a list of {name, variable, dtype, shape} entries", entry)
    dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
    if 0 in shape:
        return entry["name"], np.zeros(shape, dtype=dtype)
    data = r.variable(entry["variable"])
    if data.shape != shape:
        raise CheckpointError(
            f"{r.path}: variable {entry['variable']!r} must have shape {shape} "
            f"(from {where}). Got {data.shape}.",
            hint="the file is corrupt",
        )
    return entry["name"], data.astype(dtype, copy=False)
