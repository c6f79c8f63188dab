"""The netCDF writer and lazy reader: multi-dataset files, dense / Dense Boolean / Weighted /
Indexed datasets, 64-bit row offsets, non-contiguous rows, and invalid files."""

from __future__ import annotations

from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest

from lamina.data.nc_read import open_datasets, read_dataset
from lamina.data.nc_write import DatasetArrays, write_datasets
from lamina.data.schema import DatasetAttributes as A
from lamina.data.schema import DataType
from lamina.errors import DataError


def sparse(name: str, rows: list[list[int]], values: bool = False, **kw) -> DatasetArrays:
    lens = np.array([len(r) for r in rows])
    end = np.cumsum(lens)
    flat = np.array([i for r in rows for i in r], dtype=np.uint32)
    return DatasetArrays(
        name,
        A.SPARSE if values else A.SPARSE | A.BOOLEAN,
        DataType.FLOAT if values else DataType.UINT,
        128,
        sparse_start=end - lens,
        sparse_end=end,
        sparse_index=flat,
        sparse_data=flat.astype(np.float32) / 2 if values else None,
        **kw,
    )


def test_multi_dataset_dense_and_sparse(tmp_path: Path):
    dense = DatasetArrays(
        "d", A.NONE, DataType.FLOAT, 4, height=2, data=np.arange(24, dtype=np.float32)
    )
    write_datasets(tmp_path / "m.nc", [sparse("s", [[1, 5], [], [7]], values=True), dense])
    s, d = open_datasets(tmp_path / "m.nc")
    assert (s.name, s.examples, s.nnz, s.is_sparse, s.is_boolean) == ("s", 3, 3, True, False)
    rows = s.read_sparse(1, 3)
    assert rows.offsets.tolist() == [0, 0, 1] and rows.indices.tolist() == [7]
    assert rows.values.tolist() == [3.5]
    assert (d.examples, d.width, d.height, d.stride) == (3, 4, 2, 8)
    np.testing.assert_array_equal(d.read_dense(1, 3), np.arange(8, 24).reshape(2, 8))
    with h5py.File(tmp_path / "m.nc") as f:
        assert int(f.attrs["datasets"][0]) == 2 and int(f.attrs["height1"][0]) == 2
        assert f["data1"].dtype == np.float32 and f["sparseData0"].dtype == np.float32
    assert read_dataset(tmp_path / "m.nc", "d").number == 1


def test_dense_boolean_weighted_indexed(tmp_path: Path):
    labels = DatasetArrays(
        "y",
        A.BOOLEAN | A.WEIGHTED,
        DataType.UINT,
        3,
        data=np.array([2, 0, 1], dtype=np.uint32),
        weights=np.array([1.0, 0.5, 2.0], dtype=np.float32),
    )
    indexed = sparse("x", [[1], [2, 3]], index=np.array([1, 0, 1], dtype=np.uint32))
    indexed = DatasetArrays(**{**indexed.__dict__, "attributes": indexed.attributes | A.INDEXED})
    write_datasets(tmp_path / "b.nc", [labels, indexed])
    y, x = open_datasets(tmp_path / "b.nc")
    np.testing.assert_array_equal(y.read_dense(0, 3), np.eye(3, dtype=np.float32)[[2, 0, 1]])
    assert y.read_weights(0, 3).tolist() == [1.0, 0.5, 2.0]
    assert (x.examples, x.rows, x.is_indexed) == (3, 2, True)
    assert x.example_rows(0, 3).tolist() == [1, 0, 1]


def test_64bit_offsets_and_noncontiguous_rows_are_read(tmp_path: Path):
    path = tmp_path / "dsstne.nc"
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        for k, v in {
            "datasets": 1,
            "attributes0": 3,
            "kind0": 0,
            "dataType0": 0,
            "dimensions0": 1,
            "width0": 128,
        }.items():
            nc.setncattr(k, np.uint32(v))
        nc.setncattr("name0", "x")
        nc.createDimension("examplesDim0", 3)
        nc.createDimension("sparseDataDim0", 6)
        nc.createVariable("sparseStart0", "u8", ("examplesDim0",))[:] = [4, 0, 2]
        nc.createVariable("sparseEnd0", "u8", ("examplesDim0",))[:] = [6, 1, 4]
        nc.createVariable("sparseIndex0", "u4", ("sparseDataDim0",))[:] = [10, 99, 20, 21, 30, 31]
    rows = read_dataset(path).read_sparse(0, 3)
    assert rows.offsets.tolist() == [0, 2, 3, 5]
    assert rows.indices.tolist() == [30, 31, 10, 20, 21]


def test_invalid_files_name_the_problem(tmp_path: Path):
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    with pytest.raises(DataError, match=r"junk.nc: expected a netCDF-4 dataset file"):
        open_datasets(junk)
    with pytest.raises(DataError, match=r"none.nc: cannot read dataset file"):
        open_datasets(tmp_path / "none.nc")
    write_datasets(tmp_path / "ok.nc", [sparse("s", [[1]])])
    with netCDF4.Dataset(tmp_path / "ok.nc", "a") as nc:
        nc.delncattr("width0")
    with pytest.raises(DataError, match=r"ok.nc: expected global attribute 'width0', found none"):
        open_datasets(tmp_path / "ok.nc")
    write_datasets(tmp_path / "ok.nc", [sparse("s", [[1]], values=True)])
    with netCDF4.Dataset(tmp_path / "ok.nc", "a") as nc:
        nc.renameVariable("sparseData0", "other")
    with pytest.raises(DataError, match=r"expected variable 'sparseData0', found none"):
        open_datasets(tmp_path / "ok.nc")
    write_datasets(tmp_path / "ok.nc", [sparse("input", [[1]])])
    with pytest.raises(
        DataError, match=r"expected a dataset named 'inptu', found \['input'\]. Did"
    ):
        read_dataset(tmp_path / "ok.nc", "inptu")


def test_failed_write_leaves_old_file(tmp_path: Path):
    path = tmp_path / "x.nc"
    write_datasets(path, [sparse("s", [[1]])])
    before = path.read_bytes()
    broken = DatasetArrays("b", A.SPARSE, DataType.FLOAT, 128)  # no arrays
    with pytest.raises(DataError, match="expected sparse_start"):
        write_datasets(path, [broken])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.nc"]


def test_dataset_file_pickles_without_its_handle(tmp_path: Path):
    import pickle

    write_datasets(tmp_path / "p.nc", [sparse("s", [[1, 2], [3]])])
    ds = read_dataset(tmp_path / "p.nc")
    before = ds.read_sparse(0, 2)
    again = pickle.loads(pickle.dumps(ds))
    assert again.read_sparse(0, 2).indices.tolist() == before.indices.tolist() == [1, 2, 3]


def test_sparse_rows_builds_boolean_and_analog_datasets_that_read_back(tmp_path) -> None:
    rows = [np.array([3, 1]), np.array([], dtype=np.int64), np.array([7])]
    vals = [np.array([0.5, 2.0]), np.array([]), np.array([-1.0])]
    write_datasets(
        tmp_path / "d.nc",
        [
            DatasetArrays.sparse_rows("ind", rows, 128),
            DatasetArrays.sparse_rows("ana", rows, 128, values=vals),
        ],
    )
    ind = read_dataset(tmp_path / "d.nc", "ind")
    ana = read_dataset(tmp_path / "d.nc", "ana")
    assert ind.is_boolean and not ana.is_boolean and ind.examples == ana.examples == 3
    for ds in (ind, ana):
        csr = ds.read_sparse(0, 3)
        assert csr.offsets.tolist() == [0, 2, 2, 3]
        assert csr.indices.tolist() == [3, 1, 7]
    assert ind.read_sparse(0, 3).values is None
    assert ana.read_sparse(0, 3).values.tolist() == [0.5, 2.0, -1.0]
