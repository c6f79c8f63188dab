"""Real rows for verification and calibration: the first rows of named datasets, made dense."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lamina.data.nc_read import DatasetFile, open_datasets
from lamina.errors import DataError, UsageError, did_you_mean

__all__ = ["DataFiles"]


class DataFiles:
    """The datasets of one or more netCDF dataset files, looked up by name.

    Args:
        paths: dataset files (``generate-netcdf`` output); later files do not shadow earlier ones.

    Raises:
        DataError: a file cannot be read.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        self.paths = [Path(p) for p in paths]
        self._datasets: dict[str, DatasetFile] = {}
        for path in self.paths:
            for ds in open_datasets(path):
                self._datasets.setdefault(ds.name, ds)

    def __contains__(self, name: object) -> bool:
        return name in self._datasets

    def dense(self, name: str, *, units: int, rows: int, what: str = "--data") -> np.ndarray:
        """The first ``rows`` examples of dataset ``name`` as (n, units) float32.

        Sparse rows are densified (repeated columns add up; Boolean values are 1); a dataset
        narrower than ``units`` is zero-padded.

        Raises:
            UsageError: no file holds ``name``.
            DataError: the dataset is wider than ``units``.
        """
        ds = self._datasets.get(name)
        if ds is None:
            names = sorted(self._datasets)
            raise UsageError(
                f"{what}: expected a dataset named {name!r} in {[str(p) for p in self.paths]}, "
                f"found {names}.{did_you_mean(name, names)}"
            )
        if ds.stride > units:
            raise DataError(
                f"{ds.path}: dataset {name!r} has {ds.stride} columns, expected at most {units} "
                "(the layer's units)"
            )
        n = min(rows, ds.rows)
        if ds.is_sparse:
            part = ds.read_sparse(0, n)
            dense = np.zeros((n, units), np.float32)
            row_ids = np.repeat(np.arange(n), np.diff(part.offsets))
            values = np.ones(part.indices.size, np.float32) if part.values is None else part.values
            np.add.at(dense, (row_ids, part.indices), values.astype(np.float32))
            return dense
        data = ds.read_dense(0, n)
        if data.shape[1] < units:
            data = np.pad(data, ((0, 0), (0, units - data.shape[1])))
        return np.ascontiguousarray(data, np.float32)
