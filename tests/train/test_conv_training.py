"""Convolutional networks through ``lamina.train.trainer.train``: train, save, resume, reload and
predict.

The network is DSSTNE's CIFAR-10 sample config (``../shared``) on 8x8x3 images when present, else
an equivalent small config (conv -> pool -> conv -> FC -> SoftMax). Data are tiny dense files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lamina.train.trainer as trainer_module
from lamina.config import load_config
from lamina.data.nc_write import DatasetArrays, write_datasets
from lamina.data.schema import DatasetAttributes as A
from lamina.data.schema import DataType
from lamina.nn import Network, build_network
from lamina.train.network_file import load_network
from lamina.train.options import TrainOptions
from lamina.train.trainer import train
from lamina.train.weights import load_records

SHARED_CIFAR = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "dsstne-examples"
    / "configs"
    / "cifar10_conv_v0.81.json"
)
N_EXAMPLES, CLASSES = 16, 10

SMALL_CONV: dict[str, Any] = {
    "Version": 0.81,
    "Name": "small-conv",
    "ShuffleIndices": True,
    "ErrorFunction": "CrossEntropy",
    "Layers": [
        {"Name": "Input", "Kind": "Input", "Type": "Convolutional", "N": "auto",
         "DataSet": "input"},
        {"Name": "C1", "Kind": "Hidden", "Type": "Convolutional", "N": 6, "Kernel": [3, 3],
         "KernelStride": [1, 1], "Activation": "Relu", "BatchNormalization": True,
         "WeightInit": {"Scheme": "Gaussian", "Scale": 0.1}},
        {"Name": "P1", "Kind": "Hidden", "Type": "Pooling", "Function": "Max", "Kernel": [2, 2],
         "KernelStride": [2, 2]},
        {"Name": "C2", "Kind": "Hidden", "Type": "Convolutional", "N": 5, "Kernel": [3, 3],
         "KernelStride": [1, 1], "Activation": "Tanh",
         "WeightInit": {"Scheme": "Xavier", "Scale": 1.0}},
        {"Name": "F", "Kind": "Hidden", "Type": "FullyConnected", "N": 12, "Activation": "Relu",
         "BatchNormalization": True, "pDropout": 0.25},
        {"Name": "Output", "Kind": "Output", "Type": "FullyConnected", "N": "auto",
         "DataSet": "output", "Activation": "SoftMax"},
    ],
}  # fmt: skip


def write_image_data(tmp_path: Path, seed: int = 0) -> tuple[Path, Path]:
    """16 dense 8x8x3 examples and Dense Boolean targets (one class index per example)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(N_EXAMPLES) % CLASSES
    images = rng.uniform(0.0, 0.2, (N_EXAMPLES, 8 * 8 * 3)).astype(np.float32)
    images[np.arange(N_EXAMPLES), labels * 19] += 1.0  # one bright pixel per class
    inputs, outputs = tmp_path / "images.nc", tmp_path / "labels.nc"
    write_datasets(
        inputs,
        [DatasetArrays("input", A.NONE, DataType.FLOAT, 8, 8, 3, data=images.ravel())],
    )
    write_datasets(
        outputs,
        [DatasetArrays("output", A.BOOLEAN, DataType.UINT, CLASSES, data=labels.astype(np.uint32))],
    )
    return inputs, outputs


def conv_config() -> Any:
    return SHARED_CIFAR if SHARED_CIFAR.is_file() else SMALL_CONV


def options(**kwargs: Any) -> TrainOptions:
    base: dict[str, Any] = {"batch": 8, "alpha": 0.01, "tensorboard": False, "threads": 1}
    base.update(kwargs)
    return TrainOptions(**base)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Network]:
    """The networks ``train`` builds, kept to compare with what the saved file reloads into."""
    networks: list[Network] = []

    def build(*args: Any, **kwargs: Any) -> Network:
        network = build_network(*args, **kwargs)
        networks.append(network)
        return network

    monkeypatch.setattr(trainer_module, "build_network", build)
    return networks


def reload(path: Path) -> Network:
    nf = load_network(path)
    network = build_network(nf.config, seed=99)  # other random weights, replaced by the file's
    load_records(network, nf)
    return network.eval()


def predict(network: Network, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return network({"Input": x}).activations["Output"]


def test_conv_network_trains_saves_resumes_and_predicts_the_same(
    tmp_path: Path, captured: list[Network]
) -> None:
    inputs, outputs = write_image_data(tmp_path)
    config = conv_config()

    one = train(config, inputs=inputs, outputs=outputs, network_path=tmp_path / "one.nc",
                options=options(epochs=1))  # fmt: skip
    assert one.epochs_completed == 1 and np.isfinite(one.history[0].training_error)
    trained = captured[-1].eval()
    x = torch.from_numpy(np.random.default_rng(5).uniform(0, 1, (6, 192)).astype(np.float32))
    loaded = reload(tmp_path / "one.nc")
    assert torch.equal(predict(loaded, x), predict(trained, x))
    nf = load_network(tmp_path / "one.nc")
    conv = [r for r in nf.weights if r.weights is not None and r.weights.ndim == 4]
    assert conv and all(r.bias.shape == (r.weights.shape[0],) for r in conv)  # type: ignore[union-attr]
    bn = {r.layer: r for r in nf.batch_norm}
    for name, record in bn.items():
        module = trained.layer(name).batch_norm
        assert module is not None
        np.testing.assert_array_equal(record.running_mean, module.running_mean.numpy())

    resumed = train(None, inputs=inputs, outputs=outputs, network_path=tmp_path / "one.nc",
                    options=options(epochs=2, resume=True))  # fmt: skip
    assert resumed.epochs_completed == 2 and resumed.resumed_from is not None
    resumed_net = captured[-1].eval()
    straight = train(config, inputs=inputs, outputs=outputs, network_path=tmp_path / "two.nc",
                     options=options(epochs=2))  # fmt: skip
    assert resumed.history[0].training_error == pytest.approx(straight.history[1].training_error)
    a, b = load_network(tmp_path / "one.nc"), load_network(tmp_path / "two.nc")
    for ra, rb in zip(a.weights, b.weights, strict=True):
        assert ra.weights is not None and rb.weights is not None
        np.testing.assert_array_equal(ra.weights, rb.weights)  # resume is exact
        np.testing.assert_array_equal(ra.bias, rb.bias)
    assert torch.equal(predict(reload(tmp_path / "one.nc"), x), predict(resumed_net, x))
    assert not torch.equal(predict(resumed_net, x), predict(trained, x))  # it did train on


def test_small_conv_config_with_conv_batch_norm_round_trips(
    tmp_path: Path, captured: list[Network]
) -> None:
    """Per-channel batch norm of a convolution is saved and restored (running stats included)."""
    inputs, outputs = write_image_data(tmp_path, seed=1)
    train(SMALL_CONV, inputs=inputs, outputs=outputs, network_path=tmp_path / "s.nc",
          options=options(epochs=1, optimizer="Adam"))  # fmt: skip
    trained = captured[-1].eval()
    bn = trained.layer("C1").batch_norm
    assert bn is not None and bn.running_mean.shape == (6,)
    assert not torch.equal(bn.running_mean, torch.zeros(6))  # statistics were accumulated
    nf = load_network(tmp_path / "s.nc")
    record = {r.layer: r for r in nf.batch_norm}["C1"]
    np.testing.assert_array_equal(record.running_var, bn.running_var.numpy())
    np.testing.assert_array_equal(record.scale, bn.weight.detach().numpy())
    assert nf.training is not None and nf.training.optimizer == "Adam"
    loaded = reload(tmp_path / "s.nc")
    x = torch.from_numpy(np.random.default_rng(2).uniform(0, 1, (5, 192)).astype(np.float32))
    assert torch.equal(predict(loaded, x), predict(trained, x))
    from lamina.predict.loading import load_model  # the predict CLI's loader

    assert torch.equal(predict(load_model(tmp_path / "s.nc").network, x), predict(trained, x))
    assert load_config(SMALL_CONV).layer("C1").batch_normalization
