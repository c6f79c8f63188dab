"""What ``predict`` and ``evaluate`` feed the network: layers chosen by name, text and netCDF rows.

* ``input_layer_for(config, name)``: DSSTNE's ``predict -d NAME`` looks for the Input layer whose
  ``DataSet`` is ``NAME + "_input"``; Lamina also accepts the exact dataset name when no
  ``NAME_input`` layer exists.
* ``scoring_layer(config, name)``: ``--layer`` (default: the layer named ``Output``, else the only
  Output layer). DSSTNE hard-coded ``"Output"``.
* ``read_text_rows(path, features)``: DSSTNE's text format converted in memory with a feature
  index (DSSTNE wrote ``<d>_input_predict.nc`` into the working directory; Lamina writes nothing).
* ``read_dataset_rows(ds)``: every row of a netCDF dataset as one ``Csr``.

numpy only: no torch here.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.config.enums import LayerKind
from lamina.config.model import LayerConfig, NetworkConfig
from lamina.data.nc_read import DatasetFile
from lamina.data.textformat import read_chunks
from lamina.errors import DataError, NotSupportedError, UsageError, did_you_mean
from lamina.predict.recs import Csr

__all__ = [
    "INPUT_SUFFIX",
    "TextRows",
    "input_layer_for",
    "read_dataset_rows",
    "read_text_rows",
    "scoring_layer",
]

INPUT_SUFFIX = "_input"  # DSSTNE Utils.h INPUT_DATASET_SUFFIX, appended to predict's -d


def input_layer_for(config: NetworkConfig, name: str) -> LayerConfig:
    """The Input layer fed by dataset ``name + "_input"``, else by dataset ``name``.

    Raises:
        UsageError: no Input layer reads either dataset (the message lists the datasets there are).
    """
    inputs = [lay for lay in config.layers if lay.kind == LayerKind.INPUT]
    for wanted in (name + INPUT_SUFFIX, name):
        for lay in inputs:
            if lay.dataset == wanted:
                return lay
    datasets = [lay.dataset for lay in inputs if lay.dataset]
    stems = [d[: -len(INPUT_SUFFIX)] for d in datasets if d.endswith(INPUT_SUFFIX)]
    raise UsageError(
        f"-d {name!r}: expected the name of an input dataset of the network (DSSTNE appends "
        f"'{INPUT_SUFFIX}'), found no Input layer reading {name + INPUT_SUFFIX!r} or {name!r}. "
        f"Input datasets: {datasets}.{did_you_mean(name, stems + datasets)}"
    )


def scoring_layer(
    config: NetworkConfig, name: str | None = None, *, flag: str = "--layer"
) -> LayerConfig:
    """The layer whose activations are ranked: ``name``, or ``Output``, or the only Output layer.

    Raises:
        UsageError: ``name`` is not a non-input layer, or there is no default to choose.
    """
    candidates = [lay for lay in config.layers if lay.kind != LayerKind.INPUT]
    names = [lay.name for lay in candidates]
    if name is not None:
        for lay in candidates:
            if lay.name == name:
                return lay
        raise UsageError(
            f"{flag} must name a non-input layer of the network {names}. Got {name!r}."
            + did_you_mean(name, names)
        )
    for lay in candidates:
        if lay.name == "Output":
            return lay
    outputs = [lay for lay in candidates if lay.kind == LayerKind.OUTPUT]
    if len(outputs) == 1:
        return outputs[0]
    raise UsageError(
        f"the network has no layer named 'Output' and {len(outputs)} Output layers "
        f"{[lay.name for lay in outputs]}: choose one with --layer"
    )


@dataclass(frozen=True)
class TextRows:
    """A DSSTNE text file converted with a feature index.

    Attributes:
        samples: sample labels in order of first appearance (row order of ``rows``).
        rows: one row per sample: indexed features (text order, repeats kept), values when read
            as analog data. A sample on several lines keeps its last line (DSSTNE's map).
        lines: data lines read.
        replaced_lines: lines replaced by a later line of the same sample.
        unknown_features: feature entries absent from the index (dropped, as DSSTNE does).
        unknown_labels: distinct feature labels absent from the index.
    """

    samples: list[str]
    rows: Csr
    lines: int
    replaced_lines: int
    unknown_features: int
    unknown_labels: int


def read_text_rows(
    path: str | os.PathLike[str], features: Mapping[str, int], *, analog: bool = False
) -> TextRows:
    """Read ``sample<TAB>feature[,value]:...`` lines into rows of feature indices.

    Args:
        path: the text file (DSSTNE ``predict -r``).
        features: the input feature index, label -> column.
        analog: keep the values (an element without one is 0.0); default: indicators.

    Returns:
        The rows, in order of the samples' first appearance.

    Raises:
        DataError: ``FILE:LINE: expected ..., found ...`` for a malformed line or a bad file.
    """
    path = Path(path)
    sample_rows: dict[str, int] = {}
    unknown: set[str] = set()
    line_sample = array("q")
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    n_unknown = 0
    for chunk in read_chunks(path, analog=analog):
        lookup = np.array([features.get(label, -1) for label in chunk.feature_labels], np.int64)
        unknown.update(
            lab for lab, c in zip(chunk.feature_labels, lookup.tolist(), strict=True) if c < 0
        )
        col = lookup[chunk.feature_codes] if chunk.feature_codes.size else chunk.feature_codes
        known = col >= 0
        n_unknown += int((~known).sum())
        line_of = np.repeat(np.arange(chunk.row_lengths.size), chunk.row_lengths)
        lengths.append(np.bincount(line_of[known], minlength=chunk.row_lengths.size))
        cols.append(col[known])
        if chunk.values is not None:
            vals.append(chunk.values[known])
        ids = [sample_rows.setdefault(label, len(sample_rows)) for label in chunk.sample_labels]
        line_sample.extend(np.asarray(ids, dtype=np.int64)[chunk.sample_codes].tolist())
    by_line = Csr(
        np.concatenate([[0], np.cumsum(np.concatenate([np.zeros(0, np.int64), *lengths]))]),
        np.concatenate([np.zeros(0, np.int64), *cols]),
        np.concatenate([np.zeros(0, np.float32), *vals]) if analog else None,
    )
    owner = np.frombuffer(line_sample, dtype=np.int64)
    # The last line of each sample wins; rows in sample order.
    _, first_from_end = np.unique(owner[::-1], return_index=True)
    keep = owner.size - 1 - first_from_end  # line kept for sample 0, 1, ...
    return TextRows(
        samples=list(sample_rows),
        rows=by_line.select(keep),
        lines=int(owner.size),
        replaced_lines=int(owner.size - keep.size),
        unknown_features=n_unknown,
        unknown_labels=len(unknown),
    )


def read_dataset_rows(ds: DatasetFile) -> Csr:
    """Every example of a netCDF dataset as one ``Csr`` (values ``None`` for Boolean data).

    Dense datasets become their non-zero entries.

    Raises:
        NotSupportedError: an Indexed dataset.
        DataError: inconsistent row bounds.
    """
    if ds.is_indexed:
        raise NotSupportedError(f"{ds.path}: dataset {ds.name!r} is Indexed; expected plain rows")
    if ds.is_sparse:
        rows = ds.read_sparse(0, ds.rows)
        return Csr(rows.offsets, rows.indices, rows.values)
    dense = ds.read_dense(0, ds.rows)
    r, c = np.nonzero(dense)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=dense.shape[0]))])
    return Csr(indptr, c, dense[r, c])


def check_columns(rows: Csr, width: int, *, what: str) -> None:
    """Raise ``DataError`` unless every column of ``rows`` is below ``width``."""
    if rows.nnz and int(rows.indices.max()) >= width:
        raise DataError(
            f"{what}: expected feature indices below {width} (the layer's units), "
            f"found {int(rows.indices.max())}",
            hint="use the feature index the network was trained with",
        )
