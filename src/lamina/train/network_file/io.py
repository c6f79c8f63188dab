"""``save_network`` and ``load_network``: one netCDF-4 file per network, written atomically.

The file is a DSSTNE model file (spec section 3.5) plus Lamina's ``lamina_*`` items: the format
version, the Lamina release, the resolved config as JSON (authoritative when present) and the resume
state. Files DSSTNE wrote load too: their config is rebuilt from the ``layer{i}_`` attributes.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import netCDF4

from lamina import __version__
from lamina.atomic import atomic_path
from lamina.config.model import NetworkConfig
from lamina.errors import CheckpointError, LaminaError, ModelError
from lamina.train.network_file import dsstne, training
from lamina.train.network_file._nc import NcReader, put_int, put_text
from lamina.train.network_file.records import FORMAT_VERSION, NetworkFile
from lamina.train.network_file.shapes import batch_norm_size, connection_shapes, layer_dims

__all__ = ["load_network", "save_network"]

# What netCDF4/HDF5 raise on unreadable content; anything else is a bug and propagates.
_READ_ERRORS = (
    OSError,
    RuntimeError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    EOFError,
    AttributeError,  # netCDF4 raises it for an attribute HDF5 cannot open
)


def save_network(
    path: str | os.PathLike[str], nf: NetworkFile, *, config_json: str | None = None
) -> None:
    """Write ``nf`` to ``path`` as netCDF-4, atomically (temp file beside it, fsync, rename).

    Args:
        path: the network file to create or replace.
        nf: what to write; ``nf.config`` must be resolved (no ``"auto"``). Its ``format_version``
            and ``lamina_version`` are ignored: the file gets this Lamina's.
        config_json: the config as JSON text for ``lamina_config``; by default
            ``lamina.config.to_dict(nf.config)``.

    Raises:
        ModelError: ``nf`` is inconsistent (unresolved config, unknown layer, wrong array shape).

    Example:
        >>> save_network("gl.nc", NetworkFile(config, weights))  # doctest: +SKIP
    """
    path = Path(path)
    _check(nf)
    if config_json is None:
        config_json = _config_to_json(nf.config)
    with atomic_path(path) as tmp:
        ds = netCDF4.Dataset(tmp, "w", format="NETCDF4")
        try:
            _write(ds, nf, config_json)
        finally:
            ds.close()
        _fsync(tmp)
    with contextlib.suppress(OSError):  # make the rename durable where directories can be synced
        _fsync(path.parent)


def _write(ds: netCDF4.Dataset, nf: NetworkFile, config_json: str | None) -> None:
    config = nf.config
    dsstne.write_globals(ds, nf)
    put_int(ds, "lamina_format_version", FORMAT_VERSION)  # the writer stamps its own versions
    put_text(ds, "lamina_version", __version__)
    if config_json is not None:
        put_text(ds, "lamina_config", config_json)
    batch_norm = {record.layer: record for record in nf.batch_norm}
    dims = layer_dims(config)
    for i, layer in enumerate(config.layers):
        dsstne.write_layer(ds, i, layer, config, dims[layer.name])
        if layer.batch_normalization:
            dsstne.write_batch_norm(ds, i, batch_norm[layer.name])
    for i, record in enumerate(nf.weights):
        shape, _ = connection_shapes(config, dims, record.input_layer, record.output_layer)
        dsstne.write_weight(ds, i, record, shape)
    if nf.training is not None:
        training.write_training_state(ds, nf.training)


def load_network(path: str | os.PathLike[str]) -> NetworkFile:
    """Read a network file written by Lamina or by DSSTNE.

    Only numbers, text and JSON are parsed: nothing is unpickled or executed.

    Args:
        path: a ``.nc`` network or checkpoint file.

    Returns:
        The file's content. For a DSSTNE file ``format_version`` is 0, ``lamina_version`` is ``""``
        and ``training`` is ``None``.

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, lacks a required item, or was
            written by a newer Lamina (unknown ``lamina_format_version``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such network file")
    try:
        ds = netCDF4.Dataset(path, "r")
    except _READ_ERRORS as exc:
        raise CheckpointError(
            f"{path}: not a readable netCDF-4 network file ({exc})",
            hint="the file is truncated or corrupt; use an earlier checkpoint",
        ) from exc
    try:
        ds.set_auto_maskandscale(False)
        return _read(NcReader(ds, path))
    except _READ_ERRORS as exc:
        raise CheckpointError(
            f"{path}: corrupt network file ({type(exc).__name__}: {exc})",
            hint="the file is truncated or corrupt; use an earlier checkpoint",
        ) from exc
    finally:
        with contextlib.suppress(*_READ_ERRORS):
            ds.close()


def _read(r: NcReader) -> NetworkFile:
    fmt = r.integer("lamina_format_version", 0)
    if fmt > FORMAT_VERSION:
        raise CheckpointError(
            f"{r.path}: lamina_format_version is {fmt}, but this Lamina reads versions up to "
            f"{FORMAT_VERSION} (file written by Lamina {r.text('lamina_version', '?')})",
            hint="upgrade Lamina: pip install --upgrade lamina",
        )
    config = _config_from_json(r) if fmt and r.has("lamina_config") else None
    if config is None:
        config = _validated(r, dsstne.read_config(r))
    elif len(config.layers) != (stored := r.integer("layers")):
        raise r.error("layers", f"{len(config.layers)} (the layers of lamina_config)", stored)
    if config.has_auto:
        raise r.error("lamina_config", 'a resolved config (no "N": "auto")', "auto")
    dims = layer_dims(config)
    return NetworkFile(
        config=config,
        weights=dsstne.read_weights(r, config, dims),
        batch_norm=dsstne.read_batch_norm(r, config, dims),
        training=training.read_training_state(r) if training.has_training_state(r) else None,
        format_version=fmt,
        lamina_version=r.text("lamina_version", ""),
        checkpoint_name=r.text("checkpoint_name", "checkpoint"),
        checkpoint_interval=r.integer("checkpoint_interval", 0),
        checkpoint_epochs=r.integer("checkpoint_epochs", 0),
    )


def _config_to_json(config: NetworkConfig) -> str | None:
    try:
        from lamina.config import to_dict  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - only before lamina.config.to_dict exists
        return None
    return json.dumps(to_dict(config), ensure_ascii=True, sort_keys=True)


def _config_from_json(r: NcReader) -> NetworkConfig | None:
    try:
        from lamina.config import from_dict  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - fall back to the DSSTNE attributes
        return None
    data = r.json("lamina_config")
    try:
        config = from_dict(data)
    except (LaminaError, KeyError, TypeError, ValueError) as exc:
        raise r.error("lamina_config", "a valid Lamina network config", str(exc)) from None
    if not isinstance(config, NetworkConfig):
        raise r.error("lamina_config", "a network config object", type(config).__name__)
    return config


def _validated(r: NcReader, config: NetworkConfig) -> NetworkConfig:
    """Pass a config rebuilt from DSSTNE attributes through the JSON loader's checks."""
    try:
        from lamina.config import from_dict, to_dict  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - only before lamina.config.to_dict exists
        return config
    try:
        return from_dict(to_dict(config))
    except LaminaError as exc:
        raise CheckpointError(
            f"{r.path}: the network its layer attributes describe is not valid: {exc.message}",
            hint="the file is corrupt or was written by an incompatible DSSTNE version",
        ) from None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(nf: NetworkFile) -> None:
    """Raise ModelError unless every array fits the config's layer sizes."""
    config = nf.config
    if config.has_auto:
        raise ModelError('cannot save a network whose config still has "N": "auto"; resolve it')
    dims = layer_dims(config)
    for record in nf.weights:
        where = f"weight {record.input_layer}->{record.output_layer}"
        for end in (record.input_layer, record.output_layer):
            if end not in dims:
                raise ModelError(f"{where}: layer {end!r} is not in the config {sorted(dims)}")
        shape, bias_shape = connection_shapes(config, dims, record.input_layer, record.output_layer)
        _expect_shape(f"{where} bias", record.bias, bias_shape)
        if record.shared:
            if record.weights is not None:
                raise ModelError(f"{where}: a shared connection must have weights=None")
        else:
            if record.weights is None:
                raise ModelError(f"{where}: weights are None but the connection is not shared")
            _expect_shape(f"{where} weights", record.weights, shape)
    records = {record.layer: record for record in nf.batch_norm}
    for layer in config.layers:
        if layer.batch_normalization:
            if layer.name not in records:
                raise ModelError(f"layer {layer.name!r} has BatchNormalization but no record")
            bn = records[layer.name]
            size = batch_norm_size(layer, dims[layer.name])
            for name in ("scale", "bias", "running_mean", "running_var"):
                _expect_shape(f"{layer.name} {name}", getattr(bn, name), (size,))


def _expect_shape(where: str, array: object, shape: tuple[int, ...]) -> None:
    found = getattr(array, "shape", None)
    if found != shape:
        raise ModelError(f"{where} must have shape {shape}. Got {found}.")
