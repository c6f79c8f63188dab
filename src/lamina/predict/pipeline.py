"""The ``predict`` and ``evaluate`` flows as typed functions (the CLI commands are thin wrappers).

``predict`` (here) is DSSTNE's ``predict``: text input -> forward pass -> per-sample filter ->
top-k -> ``sample<TAB>feature,score:...:`` lines, or (``dump_layer``) any layer's activations.
``evaluate`` (from :mod:`lamina.predict.evaluation`) ranks all real items for every row of a
training dataset, excluding the row's own items, and scores the rankings against held-out data
next to any registered baseline (``lamina.predict.baselines``).

``predict`` runs on one of two engines: ``torch`` (a ``.nc`` network file, :mod:`.engine`) or
``onnx`` (a model written by ``lamina export``, :mod:`lamina.export.runtime`); the onnx path imports
no torch, so this module imports torch only inside the torch branch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from lamina.atomic import atomic_path
from lamina.data.index import check_index_checksum, load_index
from lamina.data.schema import DatasetAttributes
from lamina.errors import DataError, UsageError
from lamina.predict.filters import FilterStats, load_filters
from lamina.predict.inputs import (
    input_layer_for,
    read_text_rows,
    scoring_layer,
)
from lamina.predict.recs import Csr, labels_by_column, top_k
from lamina.predict.recs_file import DEFAULT_PRECISION, RecsWriter, printf_format

if TYPE_CHECKING:
    from lamina.config.model import NetworkConfig
    from lamina.predict.evaluation import EvaluateResult, evaluate
    from lamina.predict.loading import LoadedModel

__all__ = [
    "DUMP_PRECISION",
    "ENGINES",
    "EvaluateResult",
    "PredictResult",
    "evaluate",
    "predict",
]

DUMP_PRECISION = ".7g"  # float32 keeps ~7 significant digits: a text dump loses nothing visible
InputType = Literal["auto", "indicator", "analog"]
Engine = Literal["auto", "torch", "onnx"]
ENGINES = ("auto", "torch", "onnx")


def __getattr__(name: str) -> Any:
    """``evaluate`` and ``EvaluateResult`` load torch: imported on first use only."""
    if name in ("evaluate", "EvaluateResult"):
        from lamina.predict import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LayerBatch(Protocol):
    """Activations of rows ``[start, stop)``: ``lamina.predict.engine.LayerBatch`` (torch) or
    ``lamina.export.runtime.RowBatch`` (ONNX Runtime)."""

    @property
    def start(self) -> int: ...

    @property
    def stop(self) -> int: ...

    @property
    def activations(self) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class _Backend:
    """What ``predict`` needs from a model, whichever engine runs it."""

    config: NetworkConfig
    units: Any  # layer name -> values per example
    analog: Any  # dataset name -> True when trained on analog (non-Boolean) data
    run: Any  # (rows, input_layer, layers, batch, progress) -> Iterator[LayerBatch]
    rows_for_progress: Any  # (progress, rows) -> bool
    checksums: dict[str, str]  # index name -> sha256 recorded at training (may be empty)


@dataclass(frozen=True)
class PredictResult:
    """What ``predict`` did.

    Attributes:
        path: the file written (recommendations or the layer dump).
        samples: rows predicted (distinct samples of the input text).
        input_layer: the Input layer fed.
        layer: the layer ranked (or dumped).
        dumped: True when ``path`` holds activations instead of recommendations.
        analog: the input text was read with its values (else as indicators).
        unknown_features: input feature entries missing from the input index (dropped).
        unknown_labels: distinct input feature labels missing from the index.
        replaced_lines: input lines replaced by a later line of the same sample.
        filters: what loading the filter file found (None without ``-f``).
    """

    path: Path
    samples: int
    input_layer: str
    layer: str
    dumped: bool
    analog: bool
    unknown_features: int
    unknown_labels: int
    replaced_lines: int
    filters: FilterStats | None = None


def predict(
    network: str | os.PathLike[str],
    *,
    dataset: str,
    input_path: str | os.PathLike[str],
    input_index: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    output_index: str | os.PathLike[str] | None = None,
    filter_path: str | os.PathLike[str] | None = None,
    k: int = 100,
    batch: int = 1024,
    precision: str | None = None,
    layer: str | None = None,
    dump_layer: str | None = None,
    input_type: InputType = "auto",
    device: str = "cpu",
    progress: bool | None = None,
    engine: Engine = "auto",
) -> PredictResult:
    """Top-``k`` recommendations per sample of a DSSTNE text file (DSSTNE's ``predict``).

    Args:
        network: the trained network file (``-n``).
        dataset: ``-d``: the Input layer reading ``dataset + "_input"`` (else ``dataset``).
        input_path: text input, ``sample<TAB>feature[,value]:...`` (``-r``).
        input_index: input feature index (``-i``); unknown features are dropped and counted.
        output_path: recommendations file (``-s``), or the dump file with ``dump_layer``
            (``.npy`` suffix: a (samples, units) float32 array in input order; else text lines
            ``sample<TAB>v1,v2,...``). Written atomically.
        output_index: output feature index (``-o``): column -> label; columns past it (the
            128-padding) are never recommended. Required unless ``dump_layer``.
        filter_path: DSSTNE filter file or folder (``-f``); see ``lamina.predict.filters``.
        k: recommendations per sample, any ``k >= 1``.
        batch: samples per forward pass (``-b``).
        precision: printf float format of scores (``-p``); default ``4.3f`` (``.7g`` for dumps).
        layer: the layer to rank (default ``Output``, else the only Output layer).
        dump_layer: write this layer's activations instead of recommendations.
        input_type: ``indicator`` (DSSTNE), ``analog`` (use the values), or ``auto``: analog when
            the network file records that the input dataset was analog, else indicator.
        device: torch device (the onnx engine runs on the CPU only).
        progress: tqdm bar on stderr; None = on for large inputs on a terminal.
        engine: ``torch`` (a ``.nc`` network file), ``onnx`` (a model written by ``lamina
            export``, run by ONNX Runtime without importing torch), or ``auto``: onnx when
            ``network`` ends with ``.onnx``. Same output format either way.

    Returns:
        A :class:`PredictResult`.

    Raises:
        UsageError: bad ``k``/``batch``/``precision``, unknown dataset or layer, no ``-o``.
        DataError: unreadable or malformed text, index or filter files; an index wider than
            its layer.
        CheckpointError: a missing or corrupt network file.

    Example:
        >>> predict("gl.nc", dataset="gl", input_path="ratings", input_index="features_input",
        ...         output_index="features_output", output_path="recs", filter_path="ratings",
        ...         k=10)  # doctest: +SKIP
    """
    if k < 1 or batch < 1:
        raise UsageError(f"-k and -b must be >= 1, found k={k}, b={batch}")
    if dump_layer is None and output_index is None:
        raise UsageError("missing -o <output feature index> (needed for recommendations)")
    if input_type not in ("auto", "indicator", "analog"):
        raise UsageError(f"input type must be one of [auto, indicator, analog]. Got {input_type!r}")
    fmt = precision or (DUMP_PRECISION if dump_layer else DEFAULT_PRECISION)
    printf_format(fmt)  # fail on a bad -p before any work
    backend = _open(network, engine=engine, device=device)
    config = backend.config
    in_layer = input_layer_for(config, dataset)
    if dump_layer is not None:
        out_layer = scoring_layer(config, dump_layer, flag="--dump-layer")
    else:
        out_layer = scoring_layer(config, layer)
    analog = input_type == "analog" or (
        input_type == "auto" and backend.analog(in_layer.dataset or "")
    )
    units_out = backend.units(out_layer.name, "--dump-layer" if dump_layer else "--layer")
    check_index_checksum(input_index, backend.checksums, flag="-i")
    features = load_index(input_index)
    _check_index(features, backend.units(in_layer.name, "-d"), input_index, in_layer.name)
    text = read_text_rows(input_path, features, analog=analog)
    result = PredictResult(
        path=Path(output_path),
        samples=len(text.samples),
        input_layer=in_layer.name,
        layer=out_layer.name,
        dumped=dump_layer is not None,
        analog=analog,
        unknown_features=text.unknown_features,
        unknown_labels=text.unknown_labels,
        replaced_lines=text.replaced_lines,
    )
    parts = backend.run(
        text.rows,
        input_layer=in_layer.name,
        layers=[out_layer.name],
        batch=batch,
        progress=backend.rows_for_progress(progress, len(text.samples)),
    )
    if dump_layer is not None:
        _dump(parts, text.samples, out_layer.name, units_out, output_path, fmt)
        return result
    check_index_checksum(output_index, backend.checksums, flag="-o")  # type: ignore[arg-type]
    index = load_index(output_index)  # type: ignore[arg-type]
    _check_index(index, units_out, output_index, out_layer.name)
    labels = labels_by_column(index)
    filters = None
    if filter_path is not None:
        filters = load_filters(filter_path, samples=text.samples, features=index)
    with RecsWriter(output_path, precision=fmt) as writer:
        for part in parts:
            rows = np.arange(part.start, part.stop)
            idx, val = top_k(
                part.activations[out_layer.name],
                k,
                n_real=len(labels),
                multiply=None if filters is None else filters.rows(rows),
            )
            writer.write(text.samples[part.start : part.stop], idx, val, labels)
    return replace(result, filters=None if filters is None else filters.stats)


def _check_index(index: dict[str, int], units: int, path: object, layer: str) -> None:
    """Raise ``DataError`` when a feature index addresses columns beyond its layer's units."""
    top = max(index.values(), default=-1)
    if top >= units:
        raise DataError(
            f"{path}: expected feature indices below {units} (the units of layer {layer!r}), "
            f"found {top}",
            hint="use the feature index the network was trained with",
        )


def _open(network: str | os.PathLike[str], *, engine: str, device: str) -> _Backend:
    """Load ``network`` with the chosen engine; only the torch engine imports torch."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {list(ENGINES)}. Got {engine!r}.")
    if engine == "auto":
        engine = "onnx" if str(network).lower().endswith(".onnx") else "torch"
    if engine == "onnx":
        return _open_onnx(network, device=device)
    from lamina.predict.engine import run_layers, show_progress
    from lamina.predict.loading import load_model

    model = load_model(network, device=device)
    geometry = model.network.geometry

    def run(rows: Csr, **kw: Any) -> Iterator[LayerBatch]:
        return run_layers(model, rows, **kw)

    return _Backend(
        config=model.file.config,
        units=lambda name, flag: geometry[name].stride,
        analog=lambda dataset: _trained_on_analog(model, dataset),
        run=run,
        rows_for_progress=show_progress,
        checksums={} if model.file.training is None else dict(model.file.training.index_checksums),
    )


def _open_onnx(network: str | os.PathLike[str], *, device: str) -> _Backend:
    from lamina.export.runtime import load_onnx, show_progress

    if device != "cpu":
        raise UsageError(f"--engine onnx runs on the CPU; expected --device cpu, found {device!r}")
    model = load_onnx(network)
    bits = model.metadata.data_attributes

    def units(name: str, flag: str) -> int:
        if name in model.metadata.inputs:
            return model.units(name)
        model.check_output(name, flag=flag)
        return model.units(name)

    def analog(dataset: str) -> bool:
        return dataset in bits and not int(bits[dataset]) & DatasetAttributes.BOOLEAN

    return _Backend(
        config=model.config,
        units=units,
        analog=analog,
        run=model.run_layers,
        rows_for_progress=show_progress,
        checksums=dict(model.metadata.index_checksums),
    )


def _trained_on_analog(model: LoadedModel, dataset: str) -> bool:
    """True when the network file records ``dataset`` as non-Boolean (analog) training data.

    Looks for ``data_attributes`` (dataset name -> ``attributes`` bits) in the training state;
    files without it (and DSSTNE's) are read as indicators, as DSSTNE's predict always did.
    """
    state = model.file.training
    if state is None:
        return False
    bits: Any = getattr(state, "data_attributes", None)
    if bits is None:
        bits = state.optimizer_meta.get("data_attributes")
    if not isinstance(bits, dict) or dataset not in bits:
        return False
    return not int(bits[dataset]) & DatasetAttributes.BOOLEAN


def _dump(
    parts: Iterator[LayerBatch],
    samples: list[str],
    layer: str,
    units: int,
    path: str | os.PathLike[str],
    fmt: str,
) -> None:
    """Write ``layer``'s activations: ``.npy`` (float32, input order) or text lines."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        with atomic_path(path) as tmp:
            shape = (len(samples), units)
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            for part in parts:
                array[part.start : part.stop] = part.activations[layer]
            array.flush()
            del array  # close the memory map before the rename
        return
    conv = printf_format(fmt)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for part in parts:
            _write_dump_lines(out, samples[part.start : part.stop], part.activations[layer], conv)


def _write_dump_lines(out: IO[str], samples: Sequence[str], values: np.ndarray, conv: str) -> None:
    out.write(
        "".join(
            f"{s}\t{','.join([conv % v for v in row])}\n"
            for s, row in zip(samples, values.tolist(), strict=True)
        )
    )
