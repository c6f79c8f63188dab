"""Convolutional weights and per-channel batch norm in network files: shapes, DSSTNE's attribute
layout (checked with h5py), bit-exact round trips, DSSTNE-only files, and agreement of the file's
shape derivation with the networks ``lamina.nn`` builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import netCDF4
import numpy as np
import pytest
import torch

from lamina.config import load_config
from lamina.config.enums import LayerType
from lamina.errors import ModelError
from lamina.nn import build_network
from lamina.train.network_file import (
    BatchNormRecord,
    NetworkFile,
    WeightRecord,
    load_network,
    save_network,
)
from lamina.train.network_file.shapes import batch_norm_size, connection_shapes, layer_dims
from lamina.train.weights import load_records, to_records

EXTENTS = ("width", "height", "length", "depth", "breadth")  # DSSTNE's weight{i}_ dims
SHARED_MARK = pytest.mark.shared
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "dsstne-examples" / "configs"

# Non-square everything, so that x/y (and kX/kY) mix-ups show: input Nx=6, Ny=5, C=2; C1's kernel
# is kX=3, kY=2; a 1-D convolution branch; BN on a convolution (per channel) and on an FC layer.
CONV: dict[str, Any] = {
    "Version": 0.81,
    "Name": "conv",
    "ErrorFunction": "CrossEntropy",
    "Layers": [
        {"Name": "img", "Kind": "Input", "Type": "Convolutional", "N": [6, 5, 2],
         "DataSet": "img"},
        {"Name": "seq", "Kind": "Input", "Type": "Convolutional", "N": [7, 2], "DataSet": "seq"},
        {"Name": "C1", "Kind": "Hidden", "Type": "Convolutional", "Source": "img", "N": 3,
         "Kernel": [3, 2], "KernelStride": [1, 1], "Activation": "Relu",
         "BatchNormalization": True},
        {"Name": "P1", "Kind": "Hidden", "Type": "Pooling", "Function": "Max", "Source": "C1",
         "Kernel": [2, 2], "KernelStride": [2, 2]},
        {"Name": "C2", "Kind": "Hidden", "Type": "Convolutional", "Source": "P1", "N": 4,
         "Kernel": [2, 2], "KernelStride": [1, 1], "Activation": "Tanh"},
        {"Name": "S1", "Kind": "Hidden", "Type": "Convolutional", "Source": "seq", "N": 4,
         "Kernel": [3], "KernelStride": [1], "Activation": "Relu"},
        {"Name": "F", "Kind": "Hidden", "Source": ["C2", "S1"], "N": 5, "Activation": "Relu",
         "BatchNormalization": True},
        {"Name": "out", "Kind": "Output", "Source": "F", "N": 3, "DataSet": "y",
         "Activation": "SoftMax"},
    ],
}  # fmt: skip

EXPECTED_DIMS = {
    "img": (6, 5, 2), "seq": (7, 2), "C1": (6, 5, 3), "P1": (3, 2, 3), "C2": (3, 1, 4),
    "S1": (7, 4), "F": (5,), "out": (3,),
}  # fmt: skip
EXPECTED_WEIGHTS = {
    ("img", "C1"): (3, 2, 2, 3),  # (C_out, C_in, kY, kX)
    ("P1", "C2"): (4, 3, 2, 2),
    ("seq", "S1"): (4, 2, 3),  # (C_out, C_in, kX)
    ("C2", "F"): (12, 5),  # Ny=2 <= kY=2: DSSTNE gives 1 row
    ("S1", "F"): (28, 5),
    ("F", "out"): (5, 3),
}


def conv_file(seed: int = 0) -> NetworkFile:
    rng = np.random.default_rng(seed)
    config = load_config(CONV)
    weights = [
        WeightRecord(
            src,
            dst,
            rng.standard_normal(shape).astype(np.float32),
            rng.standard_normal(shape[0] if len(shape) > 2 else shape[1]).astype(np.float32),
            norm=0.5 * i,
        )
        for i, ((src, dst), shape) in enumerate(EXPECTED_WEIGHTS.items())
    ]
    bn = [
        BatchNormRecord(name, *(rng.standard_normal(n).astype(np.float32) for _ in range(4)))
        for name, n in (("C1", 3), ("F", 5))
    ]
    return NetworkFile(config, weights, bn)


def assert_bit_equal(a: np.ndarray | None, b: np.ndarray | None) -> None:
    assert a is not None and b is not None
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same(x: NetworkFile, y: NetworkFile) -> None:
    assert [(r.input_layer, r.output_layer) for r in x.weights] == [
        (r.input_layer, r.output_layer) for r in y.weights
    ]
    for a, b in zip(x.weights, y.weights, strict=True):
        assert_bit_equal(a.weights, b.weights)
        assert_bit_equal(a.bias, b.bias)
        assert a.norm == b.norm
    assert [r.layer for r in x.batch_norm] == [r.layer for r in y.batch_norm]
    for p, q in zip(x.batch_norm, y.batch_norm, strict=True):
        for name in ("scale", "bias", "running_mean", "running_var"):
            assert_bit_equal(getattr(p, name), getattr(q, name))


def test_shapes_are_derived_as_dsstne_derives_them() -> None:
    config = load_config(CONV)
    dims = layer_dims(config)
    assert dims == EXPECTED_DIMS
    for (src, dst), shape in EXPECTED_WEIGHTS.items():
        bias = (shape[0],) if len(shape) > 2 else (shape[1],)
        assert connection_shapes(config, dims, src, dst) == (shape, bias)
    assert batch_norm_size(config.layer("C1"), dims["C1"]) == 3  # per channel
    assert batch_norm_size(config.layer("F"), dims["F"]) == 5  # per unit


CIFAR = SHARED / "cifar10_conv_v0.81.json"
SHAPE_CASES = [
    pytest.param(CONV, {}, id="small"),
    pytest.param(CIFAR, {"input": (8, 8, 3), "output": (10,)}, id="cifar-8x8", marks=SHARED_MARK),
    pytest.param(
        CIFAR, {"input": (32, 32, 3), "output": (100,)}, id="cifar-32x32", marks=SHARED_MARK
    ),
]


@pytest.mark.parametrize(("source", "widths"), SHAPE_CASES)
def test_file_shapes_match_the_networks_lamina_nn_builds(
    source: Any, widths: dict[str, tuple[int, ...]]
) -> None:
    """The file's torch-free derivation agrees with lamina.nn for every layer and connection."""
    if isinstance(source, Path) and not source.is_file():
        pytest.skip("../shared not present")
    network = build_network(load_config(source), widths, seed=0)
    dims = layer_dims(network.config)
    assert dims == {name: geo.dims for name, geo in network.geometry.items()}
    for conn in network.connections:
        shape, bias = connection_shapes(network.config, dims, conn.input_layer, conn.output_layer)
        assert (tuple(conn.weight.shape), tuple(conn.bias.shape)) == (shape, bias)
    for lay in network.config.layers:
        bn = getattr(network.layer(lay.name), "batch_norm", None) if lay.sources else None
        if bn is not None:
            assert tuple(bn.weight.shape) == (batch_norm_size(lay, dims[lay.name]),)


def test_conv_round_trip_is_bit_exact(tmp_path: Path) -> None:
    original = conv_file()
    save_network(tmp_path / "c.nc", original)
    loaded = load_network(tmp_path / "c.nc")
    assert loaded.config == original.config
    assert_same(original, loaded)


def _attr(f: h5py.File, name: str) -> Any:
    value = f.attrs[name]
    return value.item() if isinstance(value, np.ndarray) else value


def test_dsstne_reader_sees_filter_dims_and_nchw_order(tmp_path: Path) -> None:
    original = conv_file()
    save_network(tmp_path / "c.nc", original)
    with h5py.File(tmp_path / "c.nc", "r") as f:
        extents = EXTENTS
        # weight0 img->C1: DSSTNE's vFilterDim = (C_out, C_in, kernelY, kernelX, 1)
        assert [_attr(f, f"weight0_{e}") for e in extents] == [3, 2, 2, 3, 1]
        assert all(f.attrs[f"weight0_{e}"].dtype == np.uint64 for e in extents)
        w = original.weights[0].weights
        assert w is not None
        stored = f["weight0_weights"][...]
        assert stored.shape == (36,) and f["weight0_bias"].shape == (3,)
        k, c, i, j = 2, 1, 1, 0  # flat index ((k * C_in + c) * kY + i) * kX + j
        assert stored[((k * 2 + c) * 2 + i) * 3 + j] == w[k, c, i, j]
        np.testing.assert_array_equal(stored, w.reshape(-1))
        # weight2 seq->S1, a 1-D convolution: (C_out, C_in, kernelX, 1, 1)
        assert [_attr(f, f"weight2_{e}") for e in extents] == [4, 2, 3, 1, 1]
        # FC weights keep DSSTNE's (n_out, n_in, 1, 1, 1)
        assert [_attr(f, f"weight3_{e}") for e in extents] == [5, 12, 1, 1, 1]
        # layers carry their derived dims, as DSSTNE writes them; C1's kernel is X=3, Y=2
        assert [_attr(f, f"layer2_N{a}") for a in "xyzw"] == [6, 5, 3, 1]
        assert _attr(f, "layer2_dimensions") == 3
        assert [_attr(f, f"layer2_kernel{a}") for a in "XYZ"] == [3, 2, 1]
        assert [_attr(f, f"layer3_N{a}") for a in "xyzw"] == [3, 2, 3, 1]
        # batch norm: per channel on the convolution (DSSTNE's _strideBN = Nz), per unit on F
        assert f["layer2_scaleBN"].shape == (3,) and f["layer6_scaleBN"].shape == (5,)


def test_conv_file_read_through_dsstne_attributes_only(tmp_path: Path) -> None:
    """With the lamina_* items removed, the config is rebuilt from the layer attributes (a hidden
    convolution's N is its channel count again) and every array comes back bit-exact."""
    original = conv_file(seed=3)
    save_network(tmp_path / "c.nc", original)
    with netCDF4.Dataset(tmp_path / "c.nc", "a") as ds:
        for name in [a for a in ds.ncattrs() if a.startswith("lamina_")]:
            ds.delncattr(name)
    loaded = load_network(tmp_path / "c.nc")
    assert loaded.format_version == 0
    for name in ("C1", "C2", "S1"):
        assert loaded.config.layer(name) == original.config.layer(name), name
    assert loaded.config.layer("C1").n == (3,)
    assert layer_dims(loaded.config) == EXPECTED_DIMS
    assert_same(original, loaded)


def test_network_round_trip_through_records_predicts_the_same(tmp_path: Path) -> None:
    network = build_network(load_config(CONV), seed=1)
    network.train()
    x = {"img": torch.rand(8, 60), "seq": torch.rand(8, 14)}
    network(x)  # move the batch-norm running statistics away from their initial values
    weights, bn = to_records(network)
    assert {r.layer: r.scale.shape for r in bn} == {"C1": (3,), "F": (5,)}
    save_network(tmp_path / "n.nc", NetworkFile(network.config, weights, bn))
    other = build_network(load_network(tmp_path / "n.nc").config, seed=2)
    load_records(other, load_network(tmp_path / "n.nc"))
    network.eval(), other.eval()
    a, b = network(x).activations, other(x).activations
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_wrongly_shaped_conv_weights_are_refused(tmp_path: Path) -> None:
    nf = conv_file()
    flat = nf.weights[0]
    assert flat.weights is not None
    bad = WeightRecord("img", "C1", flat.weights.reshape(60 // 5, -1)[:, :3].copy(), flat.bias)
    with pytest.raises(ModelError, match=r"img->C1 weights must have shape \(3, 2, 2, 3\)"):
        save_network(tmp_path / "bad.nc", NetworkFile(nf.config, [bad, *nf.weights[1:]], []))
    transposed = WeightRecord("img", "C1", flat.weights.transpose(0, 1, 3, 2).copy(), flat.bias)
    with pytest.raises(ModelError, match="must have shape"):
        save_network(tmp_path / "bad.nc", NetworkFile(nf.config, [transposed, *nf.weights[1:]]))
    assert not (tmp_path / "bad.nc").exists()


# ----------------------------------------------------------------------- a file DSSTNE wrote
def write_dsstne_conv_file(path: Path, weights: np.ndarray, bias: np.ndarray) -> None:
    """Only the items DSSTNE's SaveNetCDF writes: input 5x4x2 -> conv C (2 channels, 3x3 kernel,
    linear) -> FC output of 3; the conv weights are given flat, as DSSTNE stores them."""
    u, i, f = np.uint32, np.int32, np.float32
    rng = np.random.default_rng(4)
    fc = rng.standard_normal((40, 3)).astype(np.float32)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        glob = {
            "version": f(0.9), "name": "cifar-ish", "kind": u(0), "errorFunction": u(2),
            "maxout_k": i(2), "decay": f(0.0), "LRN_k": f(2), "LRN_n": i(5),
            "LRN_alpha": f(0.0001), "LRN_beta": f(0.75), "bSparsenessPenalty": u(0),
            "sparsenessPenalty_p": f(0), "sparsenessPenalty_beta": f(0), "bDenoising": u(0),
            "denoising_p": f(0), "deltaBoost_one": f(1), "deltaBoost_zero": f(1),
            "SMCE_oneScale": f(1), "SMCE_zeroScale": f(1), "SMCE_oneTarget": f(0.9),
            "SMCE_zeroTarget": f(0.1), "ShuffleIndices": u(0), "checkpoint_name": "c.nc",
            "checkpoint_interval": i(0), "checkpoint_epochs": i(0), "layers": u(3),
            "weights": u(2),
        }  # fmt: skip
        for key, value in glob.items():
            ds.setncattr(key, value)
        layers = [  # name, kind, type, dims, kernel, dataset, activation, sources
            ("Input", 0, 1, (5, 4, 2), (1, 1), "input", 0, []),
            ("C", 1, 1, (5, 4, 2), (3, 3), "", 3, ["Input"]),
            ("Output", 2, 0, (3,), (1,), "output", 3, ["C"]),
        ]
        for n, (name, kind, ltype, dims, kernel, dataset, act, sources) in enumerate(layers):
            nx, ny, nz, nw = (*dims, 1, 1, 1)[:4]
            kx, ky, kz = (*kernel, 1, 1)[:3]
            items = {
                "name": name, "kind": u(kind), "type": u(ltype), "poolingfunction": u(0),
                "dataSet": dataset, "Nx": u(nx), "Ny": u(ny), "Nz": u(nz), "Nw": u(nw),
                "dimensions": u(len(dims)), "kernelX": u(kx), "kernelY": u(ky), "kernelZ": u(kz),
                "kernelDimensions": u(len(kernel)), "kernelStrideX": u(1), "kernelStrideY": u(1),
                "kernelStrideZ": u(1), "kernelPaddingX": u(0), "kernelPaddingY": u(0),
                "kernelPaddingZ": u(0), "pDropout": f(0), "weightInit": u(0),
                "weightInitScale": f(1), "biasInit": f(0), "weightNorm": f(0), "deltaNorm": f(0),
                "activation": u(act), "sparsenessPenalty_p": f(0), "sparsenessPenalty_beta": f(0),
                "RELUSlope": f(1), "ELUAlpha": f(1), "SELULambda": f(1.050701),
                "attributes": u(0), "sources": u(len(sources)), "skips": u(0),
            }  # fmt: skip
            items.update({f"source{j}": s for j, s in enumerate(sources)})
            for key, value in items.items():
                ds.setncattr(f"layer{n}_{key}", value)
        connections = [  # NNWeight::WriteNetCDF: conv (C_out, C_in, kY, kX, 1); FC (n_out, n_in)
            ("Input", "C", (2, 2, 3, 3, 1), weights, bias),
            ("C", "Output", (3, 40, 1, 1, 1), fc.reshape(-1), np.zeros(3, np.float32)),
        ]
        for n, (src, dst, extents, w, b) in enumerate(connections):
            pre = f"weight{n}_"
            ds.setncattr(pre + "inputLayer", src)
            ds.setncattr(pre + "outputLayer", dst)
            for key, value in zip(EXTENTS, extents, strict=True):
                ds.setncattr(pre + key, np.uint64(value))
            for key, value in {"bShared": u(0), "bLocked": u(0), "norm": f(0)}.items():
                ds.setncattr(pre + key, value)
            ds.createDimension(pre + "biasDim", b.size)
            ds.createVariable(pre + "bias", "f4", (pre + "biasDim",))[:] = b
            ds.createDimension(pre + "weightDim", w.size)
            ds.createVariable(pre + "weights", "f4", (pre + "weightDim",))[:] = w


def test_dsstne_conv_file_loads_and_convolves_in_dsstne_memory_order(tmp_path: Path) -> None:
    # one filter tap: output channel k=1 reads input channel c=0 at kernel row i=0, column j=2,
    # stored at ((k * C_in + c) * kY + i) * kX + j = 20 of DSSTNE's flat NCHW filter
    flat = np.zeros(2 * 2 * 3 * 3, np.float32)
    flat[((1 * 2 + 0) * 3 + 0) * 3 + 2] = 1.0
    bias = np.array([0.25, 0.5], np.float32)
    write_dsstne_conv_file(tmp_path / "dsstne.nc", flat, bias)
    nf = load_network(tmp_path / "dsstne.nc")
    assert nf.format_version == 0
    c = nf.config.layer("C")
    assert (c.type, c.n, c.kernel) == (LayerType.CONVOLUTIONAL, (2,), (3, 3))
    record = nf.weight("Input", "C")
    assert record.weights is not None and record.weights.shape == (2, 2, 3, 3)
    assert record.weights[1, 0, 0, 2] == 1.0 and record.weights.sum() == 1.0

    network = build_network(nf.config, seed=0)
    load_records(network, nf)
    x = torch.arange(40, dtype=torch.float32).reshape(1, 40) + 1.0  # unit order: x fastest
    out = network.eval()({"Input": x}).activations["C"][0]  # (C=2, Ny=4, Nx=5)
    image = x.reshape(2, 4, 5)  # (channel, y, x)
    expected = torch.zeros(2, 4, 5)
    expected[0] = 0.25
    for y in range(4):
        for xx in range(5):  # same padding 1: out[y, x] = in[y + i - 1, x + j - 1], i=0, j=2
            inside = y - 1 >= 0 and xx + 1 < 5
            expected[1, y, xx] = 0.5 + (image[0, y - 1, xx + 1] if inside else 0.0)
    assert torch.equal(out, expected)
    assert nf.weight("C", "Output").weights.shape == (40, 3)  # type: ignore[union-attr]
