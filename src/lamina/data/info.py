"""Summary statistics of a dataset file, computed by streaming its rows (``lamina data info``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina.data.nc_read import DatasetFile

__all__ = ["DatasetStats", "dataset_stats"]

_ROWS_PER_READ = 1 << 18


@dataclass(frozen=True)
class DatasetStats:
    """What ``lamina data info`` prints for one dataset.

    Attributes:
        name: dataset name.
        kind: "sparse"/"dense", plus "boolean", "weighted", "indexed" as they apply.
        data_type: DSSTNE data-type name (``UINT``, ``FLOAT``, ...).
        examples: E.
        width: padded width (times height and length for 2-D/3-D data).
        non_zeros: stored entries (sparse) or non-zero values (dense).
        density: non_zeros / (rows x width).
        value_min: smallest stored value (1.0 for Boolean data); None if nothing is stored.
        value_max: largest stored value.
        empty_rows: stored rows with no entries.
    """

    name: str
    kind: str
    data_type: str
    examples: int
    width: int
    non_zeros: int
    density: float
    value_min: float | None
    value_max: float | None
    empty_rows: int


def dataset_stats(ds: DatasetFile) -> DatasetStats:
    """Compute ``DatasetStats`` by reading ``ds`` in blocks of rows (memory stays bounded)."""
    flags = ["sparse" if ds.is_sparse else "dense"]
    flags += [
        f
        for f, on in (
            ("boolean", ds.is_boolean),
            ("weighted", ds.is_weighted),
            ("indexed", ds.is_indexed),
        )
        if on
    ]
    nnz, empty = 0, 0
    lo, hi = np.inf, -np.inf
    for start in range(0, ds.rows, _ROWS_PER_READ):
        stop = min(ds.rows, start + _ROWS_PER_READ)
        if ds.is_sparse:
            rows = ds.read_sparse(start, stop)
            counts = np.diff(rows.offsets)
            nnz += int(rows.indices.size)
            empty += int((counts == 0).sum())
            vals = rows.values if rows.values is not None else np.ones(min(1, rows.indices.size))
        else:
            vals = ds.read_dense(start, stop)
            nz = vals != 0
            nnz += int(nz.sum())
            empty += int((~nz.any(axis=1)).sum())
        if vals.size:
            lo, hi = min(lo, float(vals.min())), max(hi, float(vals.max()))
    cells = ds.rows * ds.stride
    return DatasetStats(
        name=ds.name,
        kind=", ".join(flags),
        data_type=ds.data_type.name,
        examples=ds.examples,
        width=ds.stride,
        non_zeros=nnz,
        density=nnz / cells if cells else 0.0,
        value_min=None if lo == np.inf else lo,
        value_max=None if hi == -np.inf else hi,
        empty_rows=empty,
    )
