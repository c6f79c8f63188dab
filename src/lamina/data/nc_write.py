"""Write DSSTNE dataset files: netCDF-4 (HDF5) with DSSTNE's ``generateNetCDF`` layout.

For each dataset N (spec section 3.4) the file holds NC_UINT global attributes ``attributes{N}``,
``kind{N}``, ``dataType{N}``, ``dimensions{N}``, ``width{N}`` (``height{N}``/``length{N}`` when
there are more dimensions), the text attribute ``name{N}``, the dimension ``examplesDim{N}``, and

* sparse: dimension ``sparseDataDim{N}``, NC_UINT variables ``sparseStart{N}``, ``sparseEnd{N}``
  (64-bit when the non-zeros do not fit 32 bits), ``sparseIndex{N}``, and ``sparseData{N}`` unless
  the data are Boolean; or
* dense: dimension ``dataDim{N}`` and variable ``data{N}`` (row-major examples x width x height x
  length; for Dense Boolean one class index per example);

plus ``dataWeight{N}`` (float, Weighted) and ``index{N}`` (uint, Indexed). The global attribute
``datasets`` counts them. Files are written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.atomic import atomic_path
from lamina.data.schema import NUMPY_DTYPES, DatasetAttributes, DataType
from lamina.errors import DataError

__all__ = ["DatasetArrays", "write_datasets", "write_netcdf_to"]

_U32_MAX = 2**32 - 1


@dataclass(frozen=True)
class DatasetArrays:
    """One dataset to write, with its arrays in memory.

    Attributes:
        name: the dataset name (``name{N}``); a layer's ``DataSet`` refers to it.
        attributes: attribute bits (``Sparse``, ``Boolean``, ``Weighted``, ``Indexed``, ...).
        data_type: the element type of the values.
        width: columns of one example (already padded, e.g. to a multiple of 128).
        height: second dimension (1 for 1-D data).
        length: third dimension (1 for 1-D and 2-D data).
        sparse_start: (E,) row starts (sparse datasets).
        sparse_end: (E,) row ends, exclusive (sparse datasets).
        sparse_index: (nnz,) column indices (sparse datasets).
        sparse_data: (nnz,) values (sparse, not Boolean).
        data: dense values, (E * width * height * length,) or (E,) class indices for Dense Boolean.
        weights: (E,) float example weights (Weighted).
        index: (E,) row used by each example (Indexed).
        kind: ``kind{N}`` (0 = Numeric; written, never read by DSSTNE).
    """

    name: str
    attributes: DatasetAttributes
    data_type: DataType
    width: int
    height: int = 1
    length: int = 1
    sparse_start: np.ndarray | None = None
    sparse_end: np.ndarray | None = None
    sparse_index: np.ndarray | None = None
    sparse_data: np.ndarray | None = None
    data: np.ndarray | None = None
    weights: np.ndarray | None = None
    index: np.ndarray | None = None
    kind: int = 0

    @classmethod
    def sparse_rows(
        cls,
        name: str,
        rows: Sequence[np.ndarray],
        width: int,
        *,
        values: Sequence[np.ndarray] | None = None,
    ) -> DatasetArrays:
        """A sparse dataset from one array of column indices per example.

        Args:
            name: the dataset name.
            rows: E arrays of column indices (ints), one per example, in example order.
            width: columns of one example.
            values: E float arrays aligned with ``rows`` (an analog dataset); ``None`` gives a
                Boolean (indicator) dataset.
        """
        counts = np.array([len(r) for r in rows], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        index = np.concatenate([np.asarray(r, dtype=np.uint32) for r in rows])
        if values is None:
            return cls(
                name,
                DatasetAttributes.SPARSE | DatasetAttributes.BOOLEAN,
                DataType.UINT,
                width,
                sparse_start=start,
                sparse_end=start + counts,
                sparse_index=index,
            )
        data = np.concatenate([np.asarray(v, dtype=np.float32) for v in values])
        return cls(
            name,
            DatasetAttributes.SPARSE,
            DataType.FLOAT,
            width,
            sparse_start=start,
            sparse_end=start + counts,
            sparse_index=index,
            sparse_data=data,
        )

    @property
    def dimensions(self) -> int:
        """1, 2 or 3: the number of dimensions with extent above 1 (at least 1)."""
        return 3 if self.length > 1 else 2 if self.height > 1 else 1

    @property
    def examples(self) -> int:
        """E, the number of examples."""
        if self.index is not None:
            return int(self.index.size)
        if self.attributes & DatasetAttributes.SPARSE:
            return int(_need(self.sparse_start, self, "sparse_start").size)
        data = _need(self.data, self, "data")
        per = 1 if self.attributes & DatasetAttributes.BOOLEAN else self.stride
        return int(data.size // per)

    @property
    def stride(self) -> int:
        """Values per dense example: width x height x length."""
        return self.width * self.height * self.length


def _need(array: np.ndarray | None, ds: DatasetArrays, what: str) -> np.ndarray:
    if array is None:
        raise DataError(f"dataset {ds.name!r}: expected {what} for its attributes, found none")
    return array


def write_datasets(path: str | os.PathLike[str], datasets: Sequence[DatasetArrays]) -> None:
    """Write one or more datasets to a netCDF-4 file, atomically.

    Args:
        path: the output file (replaced whole on success, untouched on failure).
        datasets: the datasets, numbered 0, 1, ... in this order.

    Raises:
        DataError: a dataset lacks the arrays its attributes require.

    Example:
        >>> ds = DatasetArrays("input", DatasetAttributes.SPARSE | DatasetAttributes.BOOLEAN,
        ...     DataType.UINT, 128, sparse_start=np.array([0]), sparse_end=np.array([2]),
        ...     sparse_index=np.array([3, 7]))
        >>> write_datasets("input.nc", [ds])  # doctest: +SKIP
    """
    with atomic_path(path, suffix=".nc") as tmp:
        write_netcdf_to(tmp, datasets)


def write_netcdf_to(tmp: Path, datasets: Sequence[DatasetArrays]) -> None:
    """Write datasets to ``tmp`` directly (the caller renames it; see ``lamina.atomic``)."""
    import netCDF4

    if not datasets:
        raise DataError(f"{tmp}: expected at least one dataset to write, found none")
    nc = netCDF4.Dataset(tmp, "w", format="NETCDF4", clobber=True)
    try:
        nc.setncattr("datasets", np.uint32(len(datasets)))
        for n, ds in enumerate(datasets):
            _write_one(nc, n, ds)
    finally:
        nc.close()


def _write_one(nc: object, n: int, ds: DatasetArrays) -> None:
    put = nc.setncattr  # type: ignore[attr-defined]
    put(f"name{n}", ds.name)
    put(f"attributes{n}", np.uint32(int(ds.attributes)))
    put(f"kind{n}", np.uint32(ds.kind))
    put(f"dataType{n}", np.uint32(int(ds.data_type)))
    put(f"dimensions{n}", np.uint32(ds.dimensions))
    put(f"width{n}", np.uint32(ds.width))
    if ds.dimensions > 1:
        put(f"height{n}", np.uint32(ds.height))
    if ds.dimensions > 2:
        put(f"length{n}", np.uint32(ds.length))
    examples = ds.examples
    if examples == 0:  # a netCDF dimension of length 0 would be unlimited; DSSTNE needs > 0
        raise DataError(f"dataset {ds.name!r}: expected at least one example, found none")
    nc.createDimension(f"examplesDim{n}", examples)  # type: ignore[attr-defined]
    value_type = NUMPY_DTYPES[ds.data_type]
    if ds.attributes & DatasetAttributes.SPARSE:
        start = _need(ds.sparse_start, ds, "sparse_start")
        end = _need(ds.sparse_end, ds, "sparse_end")
        index = _need(ds.sparse_index, ds, "sparse_index")
        if index.size == 0:
            raise DataError(f"dataset {ds.name!r}: expected at least one non-zero, found none")
        offset_type = "u4" if index.size <= _U32_MAX else "u8"
        nc.createDimension(f"sparseDataDim{n}", index.size)  # type: ignore[attr-defined]
        rows = f"examplesDim{n}"
        if ds.index is not None:
            rows = f"uniqueExamplesDim{n}"
            nc.createDimension(rows, start.size)  # type: ignore[attr-defined]
        _var(nc, f"sparseStart{n}", offset_type, rows, start)
        _var(nc, f"sparseEnd{n}", offset_type, rows, end)
        _var(nc, f"sparseIndex{n}", "u4", f"sparseDataDim{n}", index)
        if not ds.attributes & DatasetAttributes.BOOLEAN:
            data = _need(ds.sparse_data, ds, "sparse_data")
            _var(nc, f"sparseData{n}", value_type, f"sparseDataDim{n}", data)
    else:
        data = _need(ds.data, ds, "data").reshape(-1)
        nc.createDimension(f"dataDim{n}", data.size)  # type: ignore[attr-defined]
        _var(nc, f"data{n}", value_type, f"dataDim{n}", data)
    if ds.attributes & DatasetAttributes.WEIGHTED:
        _var(nc, f"dataWeight{n}", "f4", f"examplesDim{n}", _need(ds.weights, ds, "weights"))
    if ds.attributes & DatasetAttributes.INDEXED:
        _var(nc, f"index{n}", "u4", f"examplesDim{n}", _need(ds.index, ds, "index"))


def _var(nc: object, name: str, dtype: str, dim: str, values: np.ndarray) -> None:
    var = nc.createVariable(name, dtype, (dim,))  # type: ignore[attr-defined]
    if values.size:
        var[:] = np.ascontiguousarray(values, dtype=dtype)
