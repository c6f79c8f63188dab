"""Serve an exported model with ONNX Runtime: numpy and onnxruntime only, no torch.

``load_onnx(path)`` opens a ``.onnx`` file written by ``lamina export`` and reads its ``lamina.*``
metadata; :meth:`OnnxNetwork.run_layers` is the ONNX twin of ``lamina.predict.engine.run_layers``:
sparse rows in, one batch at a time in the model's input form (dense: ``(b, units)`` float32,
duplicates summed; sparse: ``(b, L)`` int64 indices and float32 values padded with index 0 /
value 0 to the batch's longest row), the chosen layers' activations out. ``lamina predict
--engine onnx`` runs on it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.errors import CheckpointError, DependencyError, NotSupportedError, UsageError
from lamina.export.metadata import ExportMetadata, LayerPort

if TYPE_CHECKING:
    from lamina.config.model import NetworkConfig
    from lamina.predict.recs import Csr

__all__ = [
    "OnnxNetwork",
    "RowBatch",
    "densify",
    "feeds_for",
    "load_onnx",
    "pad_dense",
    "pad_rows",
]

PROGRESS_ROWS = 10_000  # as lamina.predict.engine: a bar from this many rows on, on a terminal


@dataclass(frozen=True)
class RowBatch:
    """Activations of rows ``[start, stop)``: layer -> (stop - start, units) float32."""

    start: int
    stop: int
    activations: dict[str, np.ndarray]


def densify(rows: Csr, start: int, stop: int, width: int) -> np.ndarray:
    """Rows ``[start, stop)`` of ``rows`` as a (stop - start, width) float32 array.

    Values default to 1 (indicators); repeated columns add up, as in DSSTNE's sparse kernels.
    """
    e0, e1 = int(rows.indptr[start]), int(rows.indptr[stop])
    counts = np.diff(rows.indptr[start : stop + 1])
    row_ids = np.repeat(np.arange(stop - start), counts)
    vals = np.ones(e1 - e0, np.float32) if rows.values is None else rows.values[e0:e1]
    dense = np.zeros((stop - start, width), np.float32)
    np.add.at(dense, (row_ids, rows.indices[e0:e1]), vals.astype(np.float32, copy=False))
    return dense


def pad_rows(rows: Csr, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[start, stop)`` of ``rows`` in the padded sparse form.

    Returns:
        ``(indices, values)``, each ``(stop - start, L)`` with ``L`` = the largest row (at least
        1): int64 column indices and float32 values (1 for indicator rows), padded with index 0
        and value 0. Repeated columns stay repeated (the graph adds them up).
    """
    e0 = int(rows.indptr[start])
    counts = np.diff(rows.indptr[start : stop + 1]).astype(np.int64)
    n, width = stop - start, max(1, int(counts.max(initial=0)))
    row_ids = np.repeat(np.arange(n), counts)
    cols = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    e1 = e0 + int(counts.sum())
    vals = np.ones(e1 - e0, np.float32) if rows.values is None else rows.values[e0:e1]
    indices = np.zeros((n, width), np.int64)
    values = np.zeros((n, width), np.float32)
    indices[row_ids, cols] = rows.indices[e0:e1]
    values[row_ids, cols] = vals
    return indices, values


def pad_dense(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense rows ``(B, units)`` in the padded sparse form (their non-zeros, in column order).

    Returns:
        ``(indices, values)``, each ``(B, L)``, L = the most non-zeros of a row (at least 1).
    """
    row_ids, col_ids = np.nonzero(dense)
    counts = np.bincount(row_ids, minlength=dense.shape[0]).astype(np.int64)
    width = max(1, int(counts.max(initial=0)))
    slots = np.arange(row_ids.size) - np.repeat(np.cumsum(counts) - counts, counts)
    indices = np.zeros((dense.shape[0], width), np.int64)
    values = np.zeros((dense.shape[0], width), np.float32)
    indices[row_ids, slots] = col_ids
    values[row_ids, slots] = dense[row_ids, col_ids]
    return indices, values


class OnnxNetwork:
    """An exported model in an ONNX Runtime session.

    Attributes:
        path: the ``.onnx`` file.
        metadata: its ``lamina.*`` metadata.
        session: the ``onnxruntime.InferenceSession``.
    """

    def __init__(self, path: Path, metadata: ExportMetadata, session: Any) -> None:
        self.path, self.metadata, self.session = path, metadata, session

    @property
    def config(self) -> NetworkConfig:
        """The network config recorded at export (torch-free)."""
        from lamina.config.serialize import from_dict

        return from_dict(self.metadata.config)

    def units(self, layer: str) -> int:
        """Values per example of an exported input or output layer."""
        port = self.metadata.inputs.get(layer) or self.metadata.outputs[layer]
        return port.units

    def run(
        self,
        inputs: Mapping[str, np.ndarray | tuple[np.ndarray, np.ndarray]],
        layers: Sequence[str],
    ) -> dict[str, np.ndarray]:
        """One forward pass.

        Args:
            inputs: Input layer name -> (B, units) float32 dense rows, or, for an input of the
                sparse form, dense rows or an ``(indices, values)`` pair as :func:`pad_rows`
                makes them.
            layers: exported layers to return.

        Returns:
            layer -> (B, units) float32.
        """
        feeds = feeds_for(self.metadata.inputs, inputs)
        names = [self.metadata.outputs[layer].onnx for layer in layers]
        out = self.session.run(names, feeds)
        return dict(zip(layers, out, strict=True))

    def run_layers(
        self,
        rows: Csr,
        *,
        input_layer: str,
        layers: Sequence[str],
        batch: int = 1024,
        progress: bool = False,
    ) -> Iterator[RowBatch]:
        """Forward ``rows`` in batches of ``batch`` and yield ``layers``' activations.

        Raises:
            NotSupportedError: the model has more than one input.
            UsageError: a layer that was not exported, or ``batch < 1``.
        """
        inputs = list(self.metadata.inputs)
        if inputs != [input_layer]:
            raise NotSupportedError(
                f"the model has Input layers {inputs}; predict feeds exactly one "
                f"({input_layer!r}), as DSSTNE's predict did"
            )
        for layer in layers:
            self.check_output(layer)
        if batch < 1:
            raise UsageError(f"batch size must be >= 1, found {batch}")
        width = self.metadata.inputs[input_layer].units
        bar = _progress(rows.n_rows, progress)
        try:
            for start in range(0, rows.n_rows, batch):
                stop = min(rows.n_rows, start + batch)
                if self.metadata.inputs[input_layer].form == "sparse":
                    x: Any = pad_rows(rows, start, stop)  # one batch at a time
                else:
                    x = densify(rows, start, stop, width)
                yield RowBatch(start, stop, self.run({input_layer: x}, layers))
                if bar is not None:
                    bar.update(stop - start)
        finally:
            if bar is not None:
                bar.close()

    def check_output(self, layer: str, *, flag: str = "--layer") -> None:
        """Raise ``UsageError`` unless ``layer`` is a graph output of the model."""
        if layer not in self.metadata.outputs:
            raise UsageError(
                f"{flag}: layer {layer!r} is not an output of {self.path}; exported layers: "
                f"{list(self.metadata.outputs)}",
                hint="re-export with --layer NAME to include it",
            )


def feeds_for(
    ports: Mapping[str, LayerPort],
    inputs: Mapping[str, np.ndarray | tuple[np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    """ONNX feeds for Input layer -> rows: dense arrays go to dense-form inputs as they are and
    are padded for sparse-form inputs; ``(indices, values)`` pairs feed sparse-form inputs.

    Raises:
        UsageError: an unknown layer, or a pair for a dense-form input.
    """
    feeds: dict[str, np.ndarray] = {}
    for layer, x in inputs.items():
        port = ports.get(layer)
        if port is None:
            raise UsageError(f"expected an Input layer of the model {list(ports)}, found {layer!r}")
        if port.form != "sparse":
            if isinstance(x, tuple):
                raise UsageError(
                    f"input {layer!r} takes dense (B, {port.units}) rows, found a pair"
                )
            feeds[port.onnx] = np.ascontiguousarray(x, np.float32)
            continue
        indices, values = x if isinstance(x, tuple) else pad_dense(np.asarray(x))
        feeds[port.onnx] = np.ascontiguousarray(indices, np.int64)
        feeds[port.values] = np.ascontiguousarray(values, np.float32)
    return feeds


def load_onnx(path: str | os.PathLike[str], *, threads: int | None = None) -> OnnxNetwork:
    """Open an exported model for inference on the CPU.

    Args:
        path: a ``.onnx`` file written by ``lamina export``.
        threads: intra-op threads (None: ONNX Runtime's default, all cores).

    Returns:
        The model in an ONNX Runtime session.

    Raises:
        DependencyError: onnx or onnxruntime is missing (``pip install lamina[export]``).
        CheckpointError: the file is missing, unreadable, or not a Lamina export.

    Example:
        >>> model = load_onnx("model.onnx")  # doctest: +SKIP
        >>> model.run({"Input": rows}, ["Output"])["Output"].shape  # doctest: +SKIP
        (256, 26752)
    """
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise DependencyError.missing(exc.name or "onnxruntime", "export") from None
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: cannot read the ONNX model (no such file)")
    try:
        proto = onnx.load_model(path, load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise CheckpointError(
            f"{path}: expected an ONNX model, found unreadable data ({exc})"
        ) from None
    props = {p.key: p.value for p in proto.metadata_props}
    metadata = ExportMetadata.from_props(props, where=str(path))
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph classes
        raise CheckpointError(f"{path}: ONNX Runtime cannot load the model ({exc})") from None
    return OnnxNetwork(path, metadata, session)


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return None
    return tqdm(total=total, unit="row", unit_scale=True, file=sys.stderr, leave=False)


def show_progress(progress: bool | None, rows: int) -> bool:
    """Resolve a ``progress`` option: None = on for ``PROGRESS_ROWS`` rows or more on a terminal."""
    if progress is not None:
        return progress
    return rows >= PROGRESS_ROWS and sys.stderr.isatty()
