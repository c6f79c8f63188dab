"""Network files: DSSTNE's model layout (checked with a second reader, h5py), Lamina's resume state,
plain DSSTNE files, corruption, atomicity and checkpoint discovery."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest

from lamina.config import LayerConfig, NetworkConfig, SharedWeights, WeightInit, load_config
from lamina.config.enums import (
    Activation,
    ErrorFunction,
    LayerKind,
    NetworkKind,
    Optimizer,
    PoolingFunction,
    WeightInitScheme,
)
from lamina.config.model import SMCE, Denoising, SparsenessPenalty
from lamina.errors import CheckpointError, ModelError
from lamina.train import network_file as nf_pkg
from lamina.train.network_file import (
    FORMAT_VERSION,
    BatchNormRecord,
    NetworkFile,
    TrainingState,
    WeightRecord,
    checkpoint_path,
    find_latest_checkpoint,
    load_network,
    save_network,
)

CONFIG = {
    "Version": 0.8,
    "Name": "roundtrip",
    "Kind": "AutoEncoder",
    "LocalResponseNormalization": {"k": 3, "n": 7, "alpha": 0.001, "beta": 0.5},
    "MaxOut": {"k": 3},
    "SparsenessPenalty": {"p": 0.05, "beta": 2.0},
    "Denoising": {"p": 0.2},
    "DeltaBoost": {"one": 30, "zero": 1.5},
    "ScaledMarginalCrossEntropy": {"oneTarget": 1, "zeroTarget": 0, "oneScale": 30, "zeroScale": 2},
    "ShuffleIndices": False,
    "RELUSlope": 0.2,
    "ELUAlpha": 1.5,
    "SELULambda": 1.1,
    "Decay": 0.01,
    "ErrorFunction": "DataScaledMarginalCrossEntropy",
    "TrainingParameters": {"Optimizer": "Adam", "Alpha": 0.003, "Mu": 0.9, "Epochs": 7},
    "Layers": [
        {"Name": "in", "Kind": "Input", "N": 8, "DataSet": "gl_input", "Sparse": True},
        {"Name": "aux", "Kind": "Input", "N": [2, 3], "DataSet": "aux_input", "pDropout": 0.1},
        {
            "Name": "h1",
            "Kind": "Hidden",
            "Source": ["in", "aux"],
            "N": 6,
            "Activation": "ReLU",
            "pDropout": 0.3,
            "BatchNormalization": True,
            "Sparse": True,
            "SparsenessPenalty": {"p": 0.1, "beta": 1.5},
            "WeightInit": {"Scheme": "Gaussian", "Scale": 0.01, "Bias": -0.5},
            "WeightNorm": 2.0,
            "DeltaNorm": 3.0,
            "Slope": 0.1,
        },
        {
            "Name": "pool",
            "Kind": "Hidden",
            "Type": "Pooling",
            "Function": "Maxout",
            "Source": "h1",
            "N": 6,
            "Kernel": [2, 1],
            "KernelStride": [1, 2],
        },
        {
            "Name": "h3",
            "Kind": "Hidden",
            "Source": "pool",
            "Skip": "h1",
            "N": 6,
            "Activation": "SELU",
            "ELUAlpha": 0.7,
            "SELULambda": 1.2,
            "WeightInit": {"Scheme": "Uniform", "Scale": 0.5},
        },
        {
            "Name": "out",
            "Kind": "Output",
            "Source": "h3",
            "N": 8,
            "DataSet": "gl_output",
            "Activation": "Sigmoid",
            "SharedWeights": {
                "InputLayer": "h3",
                "SourceInputLayer": "in",
                "SourceOutputLayer": "h1",
                "Transposed": True,
            },
        },
    ],
}


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def make_network_file(training: bool = True, seed: int = 0) -> NetworkFile:
    rng = np.random.default_rng(seed)
    config = load_config(CONFIG)
    weights = [
        WeightRecord("in", "h1", _f32(rng, 8, 6), _f32(rng, 6), locked=True, norm=2.0),
        WeightRecord("aux", "h1", _f32(rng, 6, 6), _f32(rng, 6)),
        WeightRecord("pool", "h3", _f32(rng, 6, 6), _f32(rng, 6)),
        WeightRecord(
            "h3", "out", None, _f32(rng, 8), shared=True, transposed=True,
            source_input_layer="in", source_output_layer="h1",
        ),
    ]  # fmt: skip
    bn = [BatchNormRecord("h1", *(_f32(rng, 6) for _ in range(4)))]
    state = None
    if training:
        state = TrainingState(
            epoch=12,
            batches=12345678901,
            optimizer="Adam",
            optimizer_state={
                "in->h1/m": rng.standard_normal((8, 6)),  # float64
                "in->h1/v": np.array([np.nan, np.inf, -0.0, 5e-324, 1 / 3]),
                "step": np.array([2**62 + 1, -(2**63), 7], dtype=np.int64),
                "scalar": np.array(3.25),
                "mask": np.array([[True, False], [False, True]]),
                "empty": np.zeros((0, 3), dtype=np.float32),
                "h1/w32": _f32(rng, 3, 2),
            },
            optimizer_meta={"alpha": 0.003, "brake": {"steps": 3, "avg": 0.25}, "seed": 12134},
            data_widths={"gl_input": [8], "aux_input": [2, 3]},
            index_checksums={"features_input": "ab" * 32},
            metrics={"training_error": [0.5, 0.25, 1 / 3], "validation": [float("nan")]},
        )
    return NetworkFile(config, weights, bn, state, checkpoint_interval=10, checkpoint_epochs=2)


def assert_arrays_equal(a: np.ndarray | None, b: np.ndarray | None) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit-exact, NaN payloads and -0.0 included


def assert_same_arrays(x: NetworkFile, y: NetworkFile) -> None:
    assert len(x.weights) == len(y.weights)
    for a, b in zip(x.weights, y.weights, strict=True):
        for name in ("input_layer", "output_layer", "shared", "transposed", "locked", "norm"):
            assert getattr(a, name) == getattr(b, name), name
        assert (a.source_input_layer, a.source_output_layer) == (
            b.source_input_layer,
            b.source_output_layer,
        )
        assert_arrays_equal(a.weights, b.weights)
        assert_arrays_equal(a.bias, b.bias)
    assert [r.layer for r in x.batch_norm] == [r.layer for r in y.batch_norm]
    for a, b in zip(x.batch_norm, y.batch_norm, strict=True):
        for name in ("scale", "bias", "running_mean", "running_var"):
            assert_arrays_equal(getattr(a, name), getattr(b, name))


def test_round_trip_keeps_config_weights_and_training_state(tmp_path: Path) -> None:
    original = make_network_file()
    path = tmp_path / "gl.nc"
    save_network(path, original)
    loaded = load_network(path)

    assert loaded.config == original.config
    assert loaded.config.relu_slope == 0.2  # only lamina_config keeps network-level slopes
    assert loaded.config.training is not None
    assert loaded.config.training.optimizer == Optimizer.ADAM
    assert loaded.format_version == FORMAT_VERSION
    assert loaded.lamina_version == original.lamina_version
    assert (loaded.checkpoint_interval, loaded.checkpoint_epochs) == (10, 2)
    assert_same_arrays(original, loaded)

    state, back = original.training, loaded.training
    assert state is not None and back is not None
    assert (back.epoch, back.batches, back.optimizer) == (12, 12345678901, "Adam")
    assert list(back.optimizer_state) == list(state.optimizer_state)
    for name, array in state.optimizer_state.items():
        assert_arrays_equal(array, back.optimizer_state[name])
    assert back.optimizer_meta == state.optimizer_meta
    assert back.data_widths == state.data_widths
    assert back.index_checksums == state.index_checksums
    assert back.metrics["training_error"] == [0.5, 0.25, 1 / 3]
    assert np.isnan(back.metrics["validation"][0])


def test_model_file_without_training_state(tmp_path: Path) -> None:
    path = tmp_path / "model.nc"
    save_network(path, make_network_file(training=False))
    assert load_network(path).training is None


def _attr(f: h5py.File, name: str) -> object:
    value = f.attrs[name]
    return value.item() if isinstance(value, np.ndarray) else value


def test_second_reader_sees_dsstne_names_types_and_row_major_weights(tmp_path: Path) -> None:
    original = make_network_file()
    path = tmp_path / "gl.nc"
    save_network(path, original)
    with h5py.File(path, "r") as f:
        attrs = f.attrs
        uints = ["kind", "errorFunction", "bSparsenessPenalty", "bDenoising", "ShuffleIndices"]
        for name in [*uints, "layers", "weights", "layer2_kind", "layer2_activation"]:
            assert attrs[name].dtype == np.uint32, name
        for name in ["maxout_k", "LRN_n", "checkpoint_interval", "checkpoint_epochs"]:
            assert attrs[name].dtype == np.int32, name
        for name in ["version", "decay", "SMCE_oneScale", "layer2_pDropout", "weight0_norm"]:
            assert attrs[name].dtype == np.float32, name
        for name in ["weight0_width", "weight0_height", "weight0_length", "weight0_breadth"]:
            assert attrs[name].dtype == np.uint64, name
        for name in ["name", "layer0_name", "layer2_source1", "weight3_sourceInputLayer"]:
            assert isinstance(attrs[name], bytes), name  # NC_CHAR text, as DSSTNE's putAtt
        assert _attr(f, "name") == b"roundtrip"
        assert _attr(f, "version") == np.float32(0.9)
        assert (_attr(f, "layers"), _attr(f, "weights")) == (6, 4)
        assert _attr(f, "kind") == NetworkKind.AUTO_ENCODER == 1
        assert _attr(f, "errorFunction") == ErrorFunction.DATA_SCALED_MARGINAL_CROSS_ENTROPY == 4
        assert (_attr(f, "bSparsenessPenalty"), _attr(f, "bDenoising")) == (1, 1)
        assert _attr(f, "ShuffleIndices") == 0
        assert _attr(f, "decay") == np.float32(0.01)
        # layer 0: sparse input with denoising; layer 1: 2-D input; layer 2: ReLU + BN
        assert _attr(f, "layer0_attributes") == 1 | 2
        assert _attr(f, "layer0_dataSet") == b"gl_input"
        assert [_attr(f, f"layer1_N{a}") for a in "xyzw"] == [2, 3, 1, 1]
        assert _attr(f, "layer1_dimensions") == 2
        assert _attr(f, "layer2_attributes") == 1 | 4
        assert _attr(f, "layer2_activation") == Activation.RELU == 2
        assert _attr(f, "layer2_weightInit") == WeightInitScheme.GAUSSIAN == 2
        assert _attr(f, "layer2_sources") == 2
        assert _attr(f, "layer2_source1") == b"aux"
        assert _attr(f, "layer3_type") == 2
        assert _attr(f, "layer3_poolingfunction") == PoolingFunction.MAXOUT == 4
        assert [_attr(f, f"layer3_kernel{a}") for a in "XYZ"] == [2, 1, 1]
        assert _attr(f, "layer3_kernelDimensions") == 2
        assert (_attr(f, "layer4_skips"), _attr(f, "layer4_skip0")) == (1, b"h1")
        np.testing.assert_array_equal(f["layer2_scaleBN"][...], original.batch_norm[0].scale)
        # weight 0: in (8) -> h1 (6), row-major [n_in][n_out]
        assert (_attr(f, "weight0_width"), _attr(f, "weight0_height")) == (6, 8)
        assert (_attr(f, "weight0_bShared"), _attr(f, "weight0_bLocked")) == (0, 1)
        w = original.weights[0].weights
        assert w is not None
        stored = f["weight0_weights"][...]
        assert stored.dtype == np.float32 and stored.shape == (48,)
        assert stored[1 * 6 + 4] == w[1, 4]  # index i_in * n_out + j_out
        np.testing.assert_array_equal(stored, w.reshape(-1))
        np.testing.assert_array_equal(f["weight0_bias"][...], original.weights[0].bias)
        # weight 3: shared, transposed; no matrix of its own
        assert (_attr(f, "weight3_bShared"), _attr(f, "weight3_bTransposed")) == (1, 1)
        assert "weight3_weights" not in f
        assert _attr(f, "weight3_sourceOutputLayer") == b"h1"
        assert _attr(f, "lamina_format_version") == FORMAT_VERSION
        assert b'"Layers"' in _attr(f, "lamina_config")
        assert f["lamina_opt_2"].dtype == np.int64


def write_dsstne_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A model file with only the items DSSTNE's SaveNetCDF writes (MovieLens-like autoencoder)."""
    rng = np.random.default_rng(1)
    w0, w1 = _f32(rng, 128, 16), _f32(rng, 16, 128)
    u, i, f = np.uint32, np.int32, np.float32
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        glob = {
            "version": f(0.9), "name": "AE", "kind": u(0), "errorFunction": u(3),
            "maxout_k": i(2), "decay": f(0.0), "LRN_k": f(2), "LRN_n": i(5),
            "LRN_alpha": f(0.0001), "LRN_beta": f(0.75), "bSparsenessPenalty": u(1),
            "sparsenessPenalty_p": f(0.5), "sparsenessPenalty_beta": f(2.0), "bDenoising": u(1),
            "denoising_p": f(0.2), "deltaBoost_one": f(1), "deltaBoost_zero": f(1),
            "SMCE_oneScale": f(1), "SMCE_zeroScale": f(1), "SMCE_oneTarget": f(1),
            "SMCE_zeroTarget": f(0), "ShuffleIndices": u(0), "checkpoint_name": "gl.nc",
            "checkpoint_interval": i(10), "checkpoint_epochs": i(0), "layers": u(3),
            "weights": u(2),
        }  # fmt: skip
        for key, value in glob.items():
            ds.setncattr(key, value)
        layers = [
            ("Input", 0, 128, "gl_input", 3, 0, []),
            ("Hidden", 1, 16, "", 1, 0, ["Input"]),
            ("Output", 2, 128, "gl_output", 1, 0, ["Hidden"]),
        ]
        for n, (name, kind, width, dataset, bits, act, sources) in enumerate(layers):
            pre = f"layer{n}_"
            items = {
                "name": name, "kind": u(kind), "type": u(0), "poolingfunction": u(0),
                "dataSet": dataset, "Nx": u(width), "Ny": u(1), "Nz": u(1), "Nw": u(1),
                "dimensions": u(1), "kernelX": u(1), "kernelY": u(1), "kernelZ": u(1),
                "kernelDimensions": u(1), "kernelStrideX": u(1), "kernelStrideY": u(1),
                "kernelStrideZ": u(1), "kernelPaddingX": u(0), "kernelPaddingY": u(0),
                "kernelPaddingZ": u(0), "pDropout": f(0), "weightInit": u(0),
                "weightInitScale": f(1), "biasInit": f(0), "weightNorm": f(0),
                "deltaNorm": f(0), "activation": u(act), "sparsenessPenalty_p": f(0),
                "sparsenessPenalty_beta": f(0), "RELUSlope": f(1), "ELUAlpha": f(1),
                "SELULambda": f(1.050701), "attributes": u(bits), "sources": u(len(sources)),
                "skips": u(0),
            }  # fmt: skip
            items.update({f"source{j}": s for j, s in enumerate(sources)})
            for key, value in items.items():
                ds.setncattr(pre + key, value)
        for n, (src, dst, w) in enumerate([("Input", "Hidden", w0), ("Hidden", "Output", w1)]):
            pre = f"weight{n}_"
            for key, value in {
                "inputLayer": src, "outputLayer": dst, "width": np.uint64(w.shape[1]),
                "height": np.uint64(w.shape[0]), "length": np.uint64(1), "bShared": u(0),
                "bLocked": u(0), "norm": f(0),
            }.items():  # fmt: skip
                ds.setncattr(pre + key, value)
            ds.createDimension(pre + "biasDim", w.shape[1])
            ds.createVariable(pre + "bias", "f4", (pre + "biasDim",))[:] = np.full(w.shape[1], -1)
            ds.createDimension(pre + "weightDim", w.size)
            ds.createVariable(pre + "weights", "f4", (pre + "weightDim",))[:] = w.reshape(-1)
    return w0, w1


def test_plain_dsstne_file_loads_into_equivalent_config(tmp_path: Path) -> None:
    path = tmp_path / "dsstne.nc"
    w0, w1 = write_dsstne_file(path)
    loaded = load_network(path)

    expected = load_config(
        {
            "Version": 0.9,
            "Name": "AE",
            "Kind": "FeedForward",
            "SparsenessPenalty": {"p": 0.5, "beta": 2.0},
            "ShuffleIndices": False,
            "Denoising": {"p": 0.2},
            "ScaledMarginalCrossEntropy": {
                "oneTarget": 1.0, "zeroTarget": 0.0, "oneScale": 1.0, "zeroScale": 1.0,
            },
            "Layers": [
                {"Name": "Input", "Kind": "Input", "N": 128, "DataSet": "gl_input", "Sparse": True},
                {"Name": "Hidden", "Kind": "Hidden", "N": 16, "Activation": "Sigmoid",
                 "Sparse": True},
                {"Name": "Output", "Kind": "Output", "DataSet": "gl_output", "N": 128,
                 "Activation": "Sigmoid", "Sparse": True},
            ],
            "ErrorFunction": "ScaledMarginalCrossEntropy",
        }
    )  # fmt: skip
    assert loaded.config == expected
    assert loaded.config.layers[1].sources == ("Input",)
    assert loaded.config.smce == SMCE(1.0, 0.0, 1.0, 1.0)
    assert loaded.config.denoising == Denoising(0.2)
    assert loaded.config.sparseness_penalty == SparsenessPenalty(0.5, 2.0)
    assert loaded.format_version == 0 and loaded.training is None
    assert (loaded.checkpoint_name, loaded.checkpoint_interval) == ("gl.nc", 10)
    assert_arrays_equal(loaded.weights[0].weights, w0)
    assert_arrays_equal(loaded.weights[1].weights, w1)
    np.testing.assert_array_equal(loaded.weights[1].bias, np.full(128, -1, np.float32))


def test_dsstne_file_resaved_by_lamina_becomes_a_lamina_file(tmp_path: Path) -> None:
    write_dsstne_file(tmp_path / "dsstne.nc")
    loaded = load_network(tmp_path / "dsstne.nc")
    state = TrainingState(epoch=3, batches=30, optimizer="SGD")
    save_network(tmp_path / "lamina.nc", replace(loaded, training=state))
    again = load_network(tmp_path / "lamina.nc")
    assert again.format_version == FORMAT_VERSION and again.lamina_version
    assert again.config == loaded.config
    assert again.training is not None and again.training.epoch == 3
    assert_same_arrays(loaded, again)


def test_dsstne_layer_attributes_rebuild_every_field(tmp_path: Path) -> None:
    """A Lamina file read as DSSTNE would write it (lamina_* removed) keeps the layer fields."""
    original = make_network_file(training=False)
    path = tmp_path / "gl.nc"
    save_network(path, original)
    with netCDF4.Dataset(path, "a") as ds:
        for name in [a for a in ds.ncattrs() if a.startswith("lamina_")]:
            ds.delncattr(name)
    loaded = load_network(path)
    assert loaded.format_version == 0
    assert [x.name for x in loaded.config.layers] == [x.name for x in original.config.layers]
    h1 = loaded.config.layer("h1")
    assert h1 == original.config.layer("h1")
    assert h1.weight_init == WeightInit(WeightInitScheme.GAUSSIAN, 0.01, -0.5)
    assert loaded.config.layer("pool") == original.config.layer("pool")
    assert loaded.config.layer("h3") == original.config.layer("h3")
    assert loaded.config.layer("out").shared_weights == (SharedWeights("h3", "in", "h1", True),)
    assert loaded.config.layer("aux").n == (2, 3)
    c, o = loaded.config, original.config
    for name in ("kind", "lrn", "maxout", "denoising", "delta_boost", "smce", "decay"):
        assert getattr(c, name) == getattr(o, name), name
    assert (c.shuffle_indices, c.error_function) == (False, o.error_function)
    assert_same_arrays(original, loaded)


def test_hand_built_config_objects_and_non_ascii_names_round_trip(tmp_path: Path) -> None:
    config = NetworkConfig(
        version=0.8,
        layers=(
            LayerConfig("Entrée", LayerKind.INPUT, n=(5,), dataset="x"),
            LayerConfig("Output", LayerKind.OUTPUT, n=(3,), dataset="y", sources=("Entrée",)),
        ),
    )
    rng = np.random.default_rng(3)
    nf = NetworkFile(config, [WeightRecord("Entrée", "Output", _f32(rng, 5, 3), _f32(rng, 3))])
    save_network(tmp_path / "m.nc", nf)
    loaded = load_network(tmp_path / "m.nc")
    assert loaded.config.layers == config.layers
    assert_same_arrays(nf, loaded)
    with h5py.File(tmp_path / "m.nc", "r") as f:  # still NC_CHAR text, as DSSTNE reads it
        assert f.attrs["layer0_name"] == "Entrée".encode()


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    path = tmp_path / "gl.nc"
    save_network(path, make_network_file())

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_network must not unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert load_network(path).training is not None


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_truncated_file_raises_checkpoint_error(tmp_path: Path, cut: float) -> None:
    path = tmp_path / "gl.nc"
    save_network(path, make_network_file())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CheckpointError, match=str(path)):
        load_network(path)


def test_garbage_and_missing_files_raise_checkpoint_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(CheckpointError, match=r"garbage\.nc"):
        load_network(garbage)
    with pytest.raises(CheckpointError, match="no such network file"):
        load_network(tmp_path / "absent.nc")


def test_missing_or_malformed_attribute_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.nc"
    write_dsstne_file(path)
    with netCDF4.Dataset(path, "a") as ds:
        ds.delncattr("weight1_outputLayer")
    with pytest.raises(CheckpointError, match=r"d\.nc.*'weight1_outputLayer' is missing"):
        load_network(path)

    write_dsstne_file(path)
    with netCDF4.Dataset(path, "a") as ds:
        ds.setncattr("layer1_activation", np.uint32(99))
    with pytest.raises(CheckpointError, match=r"'layer1_activation' must be one of \[0 \(Sig"):
        load_network(path)

    write_dsstne_file(path)
    with netCDF4.Dataset(path, "a") as ds:
        ds.setncattr("layer1_Nx", np.uint32(17))  # weights and biases no longer fit
    with pytest.raises(CheckpointError, match="'weight0_bias' must hold 17 values"):
        load_network(path)

    write_dsstne_file(path)
    with netCDF4.Dataset(path, "a") as ds:
        ds.setncattr("layer2_source0", "Hiden")  # a config the loader rejects
    with pytest.raises(CheckpointError, match="Did you mean 'Hidden'"):
        load_network(path)


def test_malformed_lamina_items(tmp_path: Path) -> None:
    path = tmp_path / "gl.nc"
    save_network(path, make_network_file())
    with netCDF4.Dataset(path, "a") as ds:
        ds.setncattr("lamina_format_version", np.int32(FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match="lamina_format_version") as info:
        load_network(path)
    assert info.value.hint is not None and "upgrade" in info.value.hint

    save_network(path, make_network_file())
    with netCDF4.Dataset(path, "a") as ds:
        ds.setncattr("lamina_metrics", "{not json")
    with pytest.raises(CheckpointError, match="'lamina_metrics' must be valid JSON"):
        load_network(path)

    save_network(path, make_network_file())
    with netCDF4.Dataset(path, "a") as ds:
        ds.setncattr("lamina_config", '{"Layers": [{"N": 4, "Activation": "Sigmod"}]}')
    with pytest.raises(CheckpointError, match="'lamina_config' must be a valid"):
        load_network(path)


def test_inconsistent_network_file_is_refused_before_writing(tmp_path: Path) -> None:
    good = make_network_file(training=False)
    bad = NetworkFile(good.config, [*good.weights[:3]], good.batch_norm)
    rec = good.weights[0]
    wrong = WeightRecord(rec.input_layer, rec.output_layer, rec.weights.T, rec.bias)  # type: ignore[union-attr]
    with pytest.raises(ModelError, match=r"in->h1 weights must have shape \(8, 6\)"):
        save_network(tmp_path / "x.nc", NetworkFile(good.config, [wrong], good.batch_norm))
    with pytest.raises(ModelError, match="BatchNormalization but no record"):
        save_network(tmp_path / "x.nc", NetworkFile(good.config, bad.weights, []))
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_previous_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gl.nc"
    first = make_network_file(seed=1)
    save_network(path, first)
    before = path.read_bytes()

    calls = []

    def failing_write_weight(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("disk full (simulated)")
        original_write_weight(*args, **kwargs)

    original_write_weight = nf_pkg.dsstne.write_weight
    monkeypatch.setattr(nf_pkg.dsstne, "write_weight", failing_write_weight)
    with pytest.raises(RuntimeError, match="simulated"):
        save_network(path, make_network_file(seed=2))

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gl.nc"]
    assert_same_arrays(first, load_network(path))


def test_checkpoint_path_uses_dsstne_naming() -> None:
    assert checkpoint_path(Path("out/gl.nc"), 10) == Path("out/gl.nc10.nc")
    assert checkpoint_path("gl.nc", 0).name == "gl.nc0.nc"


def test_find_latest_checkpoint_skips_corrupt_newest(tmp_path: Path) -> None:
    network = tmp_path / "gl.nc"
    assert find_latest_checkpoint(network) is None
    model = tmp_path / "model.nc"
    save_network(model, make_network_file(training=False))
    for epoch in (10, 20, 30, 100):
        shutil.copy(model, checkpoint_path(network, epoch))
    checkpoint_path(network, 100).write_bytes(b"truncated")  # newest is corrupt
    (tmp_path / ".gl.nc200.nc.abc.tmp").write_bytes(model.read_bytes())  # temp file: ignored
    (tmp_path / "gl.nc300.nc.tmp").write_bytes(model.read_bytes())
    (tmp_path / "other.nc400.nc").write_bytes(model.read_bytes())

    skipped: list[Path] = []
    found = find_latest_checkpoint(network, on_corrupt=lambda p, e: skipped.append(p))
    assert found == (tmp_path / "gl.nc30.nc", 30)
    assert skipped == [tmp_path / "gl.nc100.nc"]
    with pytest.warns(RuntimeWarning, match=r"gl\.nc100\.nc"):
        assert find_latest_checkpoint(network) == (tmp_path / "gl.nc30.nc", 30)
