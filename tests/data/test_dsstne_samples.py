"""DSSTNE's own sample files convert to exactly the netCDF content of their ``ncdump`` listings.

The files are checked with h5py (a second library, not the netCDF4 writer): every global attribute's
value and type (NC_UINT = uint32, NC_CHAR text), every dimension, every variable's type and data.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from lamina.data.generate import generate_netcdf
from lamina.data.index import load_index
from lamina.data.nc_read import read_dataset

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
DATA = SHARED / "dsstne-examples" / "data"
CDL_TYPES = {"uint": np.uint32, "float": np.float32, "int": np.int32, "uint64": np.uint64}


@pytest.fixture
def samples_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip("../shared not present")
    return DATA


def parse_cdl(text: str) -> dict:
    """A small reader for the ``ncdump`` listings of DSSTNE's docs (dims, vars, attrs, data)."""
    dims = {
        m[0]: int(m[1])
        for m in re.findall(r"^\s*(\w+) = (\d+) ;", text.split("variables:")[0], re.M)
    }
    variables = {
        m[1]: (CDL_TYPES[m[0]], m[2])
        for m in re.findall(r"^\s*(\w+) (\w+)\((\w+)\) ;", text.split("// global")[0], re.M)
    }
    attrs = {}
    for name, value in re.findall(r"^\s*:(\w+) = (.*) ;", text, re.M):
        if value.startswith('"'):
            attrs[name] = value.strip('"')
        else:
            assert value.endswith("U")
            attrs[name] = np.uint32(int(value[:-1]))
    data = {
        name: np.array([float(v) for v in values.split(",")])
        for name, values in re.findall(r"^\s*(\w+) = ([-\d., ]+) ;", text.split("data:")[1], re.M)
    }
    return {"dims": dims, "vars": variables, "attrs": attrs, "data": data}


def assert_matches_cdl(nc_path: Path, cdl: dict) -> None:
    with h5py.File(nc_path, "r") as f:
        attrs = {k: f.attrs[k] for k in f.attrs if not k.startswith("_")}
        assert set(attrs) == set(cdl["attrs"])
        for key, want in cdl["attrs"].items():
            got = attrs[key]
            if isinstance(want, str):
                assert f.attrs.get_id(key).dtype.kind == "S", key  # NC_CHAR text
                assert got.decode() == want, key
            else:
                assert f.attrs.get_id(key).dtype == np.uint32, key  # NC_UINT
                assert np.asarray(got).reshape(-1).tolist() == [int(want)], key
        for dim, size in cdl["dims"].items():
            assert f[dim].shape == (size,), dim
        names = {k for k, v in f.items() if "_Netcdf4Coordinates" in v.attrs}
        assert names == set(cdl["vars"])
        for var, (dtype, dim) in cdl["vars"].items():
            assert f[var].dtype == dtype, var
            assert f[var].shape == (cdl["dims"][dim],), var
            np.testing.assert_array_equal(f[var][()], cdl["data"][var].astype(dtype), err_msg=var)


@pytest.mark.shared
@pytest.mark.parametrize(("stem", "kind"), [("indicators", "indicator"), ("analog", "analog")])
def test_sample_converts_to_its_ncdump(samples_dir: Path, tmp_path: Path, stem: str, kind: str):
    out = tmp_path / f"{stem}.nc"
    summary = generate_netcdf(
        samples_dir / f"{stem}.txt",
        out,
        dataset_name=stem,
        feature_index=tmp_path / "features",
        sample_index=tmp_path / "samples",
        mode="create",
        kind=kind,  # type: ignore[arg-type]
    )
    assert_matches_cdl(out, parse_cdl((samples_dir / f"{stem}.ncdump.cdl").read_text()))
    assert summary.width == 128
    assert load_index(tmp_path / "samples") == {"Example1": 0, "Example2": 1, "Example3": 2}


@pytest.mark.shared
def test_movielens_lines(samples_dir: Path, tmp_path: Path):
    src = samples_dir / "ml-20m_ratings.sample.txt"
    out = tmp_path / "ml.nc"
    summary = generate_netcdf(
        src,
        out,
        dataset_name="gl_input",
        feature_index=tmp_path / "f",
        sample_index=tmp_path / "s",
        mode="create",
    )
    lines = src.read_text().splitlines()
    expected = {}
    for line in lines:
        user, items = line.split("\t")
        expected[user] = [pair.split(",")[0] for pair in items.split(":") if pair]
    features = load_index(tmp_path / "f")
    inverse = {v: k for k, v in features.items()}
    ds = read_dataset(out)
    rows = ds.read_sparse(0, ds.examples)
    assert list(load_index(tmp_path / "s")) == list(expected)
    for r, (_user, items) in enumerate(expected.items()):
        got = rows.indices[rows.offsets[r] : rows.offsets[r + 1]]
        assert [inverse[i] for i in got.tolist()] == items
    assert summary.non_zeros == sum(map(len, expected.values()))
    assert rows.values is None and ds.is_boolean
    assert summary.width == 128 * -(-len(features) // 128)


@pytest.mark.shared
def test_dsstne_index_sample_loads(samples_dir: Path):
    index = load_index(samples_dir / "features_input_index.sample.txt")
    assert index["110510"] == 26743 and len(index) == 10
