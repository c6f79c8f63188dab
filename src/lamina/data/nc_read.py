"""Read DSSTNE dataset files lazily: metadata on open, rows on demand by netCDF variable slicing.

``open_datasets(path)`` checks a file's schema (spec section 3.4; the same items DSSTNE's loader
requires) and returns one ``DatasetFile`` per dataset. Rows are read by example range, so a file
larger than memory can be streamed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.data.schema import DatasetAttributes, DataType
from lamina.errors import DataError

__all__ = ["CSRRows", "DatasetFile", "open_datasets", "read_dataset"]


@dataclass(frozen=True)
class CSRRows:
    """Consecutive examples of a sparse dataset in CSR form (numpy).

    Attributes:
        offsets: (k + 1,) int64 row starts into ``indices``; ``offsets[0] == 0``.
        indices: (nnz,) int64 column indices, row after row, in file order.
        values: (nnz,) float32 values, or ``None`` for Boolean data (every listed value is 1).
        width: number of columns (the dataset's padded width times height times length).
    """

    offsets: np.ndarray
    indices: np.ndarray
    values: np.ndarray | None
    width: int

    @property
    def rows(self) -> int:
        """k, the number of rows."""
        return int(self.offsets.size) - 1

    def to_dense(self) -> np.ndarray:
        """(k, width) float32; duplicate entries add up."""
        dense = np.zeros((self.rows, self.width), dtype=np.float32)
        row = np.repeat(np.arange(self.rows), np.diff(self.offsets))
        vals = np.ones(self.indices.size, np.float32) if self.values is None else self.values
        np.add.at(dense, (row, self.indices), vals)
        return dense


class DatasetFile:
    """One dataset of a netCDF file: its metadata, and its rows read on demand.

    Attributes:
        path: the file.
        number: N, the dataset's number in the file.
        name: ``name{N}``.
        attributes: ``attributes{N}`` bits.
        data_type: ``dataType{N}``.
        width, height, length: the example's extents (height/length 1 when absent).
        examples: E, ``examplesDim{N}``.
        rows: stored rows (``uniqueExamplesDim{N}`` if present, else E).
        nnz: stored non-zeros (sparse) or stored values (dense).
    """

    def __init__(self, path: Path, number: int, meta: dict[str, Any]) -> None:
        self.path = path
        self.number = number
        self.name: str = meta["name"]
        self.attributes = DatasetAttributes(meta["attributes"])
        self.data_type = DataType(meta["data_type"])
        self.width: int = meta["width"]
        self.height: int = meta["height"]
        self.length: int = meta["length"]
        self.examples: int = meta["examples"]
        self.rows: int = meta["rows"]
        self.nnz: int = meta["nnz"]
        self._offsets_dtype = meta["offsets_dtype"]
        self._nc: Any = None
        self._pid = -1

    # -- metadata -------------------------------------------------------------------------
    @property
    def is_sparse(self) -> bool:
        return bool(self.attributes & DatasetAttributes.SPARSE)

    @property
    def is_boolean(self) -> bool:
        return bool(self.attributes & DatasetAttributes.BOOLEAN)

    @property
    def is_weighted(self) -> bool:
        return bool(self.attributes & DatasetAttributes.WEIGHTED)

    @property
    def is_indexed(self) -> bool:
        return bool(self.attributes & DatasetAttributes.INDEXED)

    @property
    def stride(self) -> int:
        """Columns of one example as the model sees it: width x height x length."""
        return self.width * self.height * self.length

    def __repr__(self) -> str:
        return (
            f"DatasetFile({str(self.path)!r}, name={self.name!r}, examples={self.examples}, "
            f"width={self.width}, attributes={self.attributes!r})"
        )

    # -- data -----------------------------------------------------------------------------
    def _var(self, name: str) -> Any:
        if self._nc is None or self._pid != os.getpid():  # HDF5 handles do not survive fork
            import netCDF4

            self._nc = netCDF4.Dataset(self.path, "r")
            self._nc.set_auto_mask(False)
            self._pid = os.getpid()
        return self._nc.variables[f"{name}{self.number}"]

    def __getstate__(self) -> dict[str, Any]:  # picklable (Ray, DataLoader workers): no handle
        return {**self.__dict__, "_nc": None, "_pid": -1}

    def close(self) -> None:
        """Close the file handle (it is reopened on the next read)."""
        if self._nc is not None and self._pid == os.getpid():
            self._nc.close()
        self._nc = None

    def example_rows(self, start: int, stop: int) -> np.ndarray | None:
        """(k,) int64 stored row of each example in ``[start, stop)`` (Indexed data), else None."""
        if not self.is_indexed:
            return None
        return np.asarray(self._var("index")[start:stop], dtype=np.int64)

    def read_sparse(self, start: int, stop: int) -> CSRRows:
        """Stored rows ``[start, stop)`` of a sparse dataset.

        Args:
            start: first row.
            stop: one past the last row.

        Returns:
            The rows as ``CSRRows`` (values ``None`` for Boolean data).

        Raises:
            DataError: the dataset is dense, or its row bounds are inconsistent.
        """
        if not self.is_sparse:
            raise DataError(f"{self.path}: dataset {self.name!r} is dense, expected sparse")
        start, stop = max(0, start), min(self.rows, stop)
        begin = np.asarray(self._var("sparseStart")[start:stop], dtype=np.int64)
        end = np.asarray(self._var("sparseEnd")[start:stop], dtype=np.int64)
        counts = end - begin
        if np.any(counts < 0) or (end.size and int(end.max()) > self.nnz):
            raise DataError(
                f"{self.path}: dataset {self.name!r} rows {start}..{stop}: expected "
                f"0 <= sparseStart <= sparseEnd <= {self.nnz}, found other bounds"
            )
        offsets = np.zeros(begin.size + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        lo, hi = (int(begin.min()), int(end.max())) if begin.size else (0, 0)
        index = np.asarray(self._var("sparseIndex")[lo:hi], dtype=np.int64)
        data = None
        if not self.is_boolean:
            data = np.asarray(self._var("sparseData")[lo:hi], dtype=np.float32)
        contiguous = begin.size == 0 or (
            int(begin[0]) == lo and np.array_equal(begin[1:], end[:-1])
        )
        if not contiguous:  # gather each row's span from the covering range
            take = np.repeat(begin - lo - offsets[:-1], counts) + np.arange(int(offsets[-1]))
            index = index[take]
            data = None if data is None else data[take]
        return CSRRows(offsets, index, data, self.stride)

    def read_dense(self, start: int, stop: int) -> np.ndarray:
        """Stored rows ``[start, stop)`` of a dense dataset as (k, stride) float32.

        Dense Boolean data (one class index per example) become one-hot rows.
        """
        if self.is_sparse:
            raise DataError(f"{self.path}: dataset {self.name!r} is sparse, expected dense")
        start, stop = max(0, start), min(self.rows, stop)
        var = self._var("data")
        if self.is_boolean:
            classes = np.asarray(var[start:stop], dtype=np.int64)
            if classes.size and (classes.min() < 0 or classes.max() >= self.stride):
                raise DataError(
                    f"{self.path}: dataset {self.name!r}: expected class indices in "
                    f"[0, {self.stride}), found {int(classes.min())}..{int(classes.max())}"
                )
            dense = np.zeros((classes.size, self.stride), dtype=np.float32)
            dense[np.arange(classes.size), classes] = 1.0
            return dense
        values = np.asarray(var[start * self.stride : stop * self.stride], dtype=np.float32)
        return values.reshape(-1, self.stride)

    def read_weights(self, start: int, stop: int) -> np.ndarray | None:
        """(k,) float32 example weights for Weighted data, else None."""
        if not self.is_weighted:
            return None
        return np.asarray(self._var("dataWeight")[start:stop], dtype=np.float32)


def _fail(path: Path, what: str) -> DataError:
    return DataError(f"{path}: {what}")


def open_datasets(path: str | os.PathLike[str]) -> list[DatasetFile]:
    """Open a DSSTNE dataset file and check its schema; no data are read yet.

    Args:
        path: a netCDF-4 file written by ``generate-netcdf`` (Lamina or DSSTNE) or similar.

    Returns:
        One ``DatasetFile`` per dataset, in file order.

    Raises:
        DataError: the file cannot be read, or an item DSSTNE requires is missing or invalid
            (the message names the file and the item).

    Example:
        >>> [ds.name for ds in open_datasets("gl_input.nc")]  # doctest: +SKIP
        ['gl_input']
    """
    import netCDF4

    path = Path(path)
    if not path.is_file():
        raise _fail(path, "cannot read dataset file (no such file)")
    try:
        nc = netCDF4.Dataset(path, "r")
    except OSError as exc:
        raise _fail(
            path, f"expected a netCDF-4 dataset file, found unreadable data ({exc})"
        ) from None
    try:
        attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
        count = _uint(path, attrs, "datasets")
        if count < 1:
            raise _fail(path, "expected global attribute 'datasets' >= 1, found 0")
        return [DatasetFile(path, n, _meta(path, nc, attrs, n)) for n in range(count)]
    finally:
        nc.close()


def _uint(path: Path, attrs: dict[str, Any], key: str, default: int | None = None) -> int:
    if key not in attrs:
        if default is not None:
            return default
        raise _fail(path, f"expected global attribute {key!r}, found none")
    value = np.asarray(attrs[key]).reshape(-1)
    if value.size != 1 or value.dtype.kind not in "iu" or int(value[0]) < 0:
        raise _fail(
            path,
            f"expected global attribute {key!r} to be a non-negative integer, found {attrs[key]!r}",
        )
    return int(value[0])


def _dim(path: Path, nc: Any, name: str) -> int:
    if name not in nc.dimensions:
        raise _fail(path, f"expected dimension {name!r}, found none")
    return len(nc.dimensions[name])


def _meta(path: Path, nc: Any, attrs: dict[str, Any], n: int) -> dict[str, Any]:
    if f"name{n}" not in attrs or not isinstance(attrs[f"name{n}"], str):
        raise _fail(
            path,
            f"expected text global attribute 'name{n}', found {attrs.get(f'name{n}', 'none')!r}",
        )
    bits = _uint(path, attrs, f"attributes{n}")
    code = _uint(path, attrs, f"dataType{n}")
    if code not in DataType._value2member_map_:
        raise _fail(path, f"expected 'dataType{n}' in 0..9, found {code}")
    dims = _uint(path, attrs, f"dimensions{n}", 1)
    if not 1 <= dims <= 3:
        raise _fail(path, f"expected 'dimensions{n}' in 1..3, found {dims}")
    meta: dict[str, Any] = {
        "name": attrs[f"name{n}"],
        "attributes": bits,
        "data_type": code,
        "width": _uint(path, attrs, f"width{n}"),
        "height": _uint(path, attrs, f"height{n}") if dims > 1 else 1,
        "length": _uint(path, attrs, f"length{n}") if dims > 2 else 1,
        "examples": _dim(path, nc, f"examplesDim{n}"),
    }
    if meta["examples"] == 0:
        raise _fail(path, f"expected dimension 'examplesDim{n}' > 0, found 0")
    unique = f"uniqueExamplesDim{n}"
    meta["rows"] = _dim(path, nc, unique) if unique in nc.dimensions else meta["examples"]
    needed: list[str]
    if bits & DatasetAttributes.SPARSE:
        meta["nnz"] = _dim(path, nc, f"sparseDataDim{n}")
        needed = [f"sparseStart{n}", f"sparseEnd{n}", f"sparseIndex{n}"]
        if not bits & DatasetAttributes.BOOLEAN:
            needed.append(f"sparseData{n}")
    else:
        meta["nnz"] = _dim(path, nc, f"dataDim{n}")
        needed = [f"data{n}"]
    if bits & DatasetAttributes.WEIGHTED:
        needed.append(f"dataWeight{n}")
    if bits & DatasetAttributes.INDEXED:
        needed.append(f"index{n}")
    for var in needed:
        if var not in nc.variables:
            raise _fail(path, f"dataset {meta['name']!r}: expected variable {var!r}, found none")
    meta["offsets_dtype"] = (
        nc.variables[f"sparseStart{n}"].dtype if bits & DatasetAttributes.SPARSE else None
    )
    return meta


def read_dataset(path: str | os.PathLike[str], name: str | None = None) -> DatasetFile:
    """The dataset called ``name`` in a file (or its only/first dataset when ``name`` is None).

    Raises:
        DataError: no dataset has that name (with a did-you-mean), or the file is invalid.
    """
    from lamina.errors import did_you_mean

    datasets = open_datasets(path)
    if name is None:
        return datasets[0]
    for ds in datasets:
        if ds.name == name:
            return ds
    names = [ds.name for ds in datasets]
    raise DataError(
        f"{path}: expected a dataset named {name!r}, found {names}.{did_you_mean(name, names)}"
    )
