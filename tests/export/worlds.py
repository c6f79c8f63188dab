"""Trained networks for the export tests: a recommender autoencoder and a digits classifier.

Data files are written by Lamina's data tools, as a user would. ``fit`` trains a network with a few
lines of torch on top of ``build_network`` and saves it with ``save_network`` (about a second);
``trained_autoencoder(..., trainer=True)`` uses ``lamina.train.trainer.train`` instead (slow tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from lamina.config import load_config
from lamina.data.generate import generate_netcdf
from lamina.data.nc_write import DatasetArrays, write_datasets
from lamina.data.schema import DatasetAttributes, DataType
from lamina.data.synth import synthesize, write_synthetic
from lamina.export.samples import DataFiles
from lamina.nn import build_network
from lamina.train.network_file import NetworkFile, save_network
from lamina.train.options import TrainOptions
from lamina.train.trainer import train
from lamina.train.weights import to_records


def fit(
    config: dict[str, object],
    *,
    inputs: Path,
    outputs: Path,
    network: Path,
    loss: str,
    steps: int = 300,
    lr: float = 0.01,
    batch: int = 128,
) -> None:
    """Train with Adam on the dense rows of the two files and save the network file.

    ``loss``: ``bce`` (sigmoid output) or ``ce`` (softmax output, one-hot targets).
    """
    cfg = load_config(config)
    layers = {lay.dataset: lay.name for lay in cfg.layers if lay.dataset}
    files = DataFiles([inputs, outputs])
    ds_in = next(d for d, n in layers.items() if n == "Input")
    ds_out = next(d for d, n in layers.items() if n == "Output")
    widths = {d: (files._datasets[d].stride,) for d in (ds_in, ds_out)}
    net = build_network(cfg, widths, seed=0)
    x = torch.from_numpy(files.dense(ds_in, units=widths[ds_in][0], rows=10**9))
    y = torch.from_numpy(files.dense(ds_out, units=widths[ds_out][0], rows=10**9))
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only contend on a shared machine
    try:
        _steps(net, opt, x, y, gen, steps=steps, batch=batch, loss=loss)
    finally:
        torch.set_num_threads(threads)
    weights, bns = to_records(net.eval())
    save_network(network, NetworkFile(net.config, weights, bns))


def _steps(net, opt, x, y, gen, *, steps: int, batch: int, loss: str) -> None:
    in_name, out_name = "Input", "Output"
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        z = net({in_name: x[idx]}).preactivations[out_name]
        if loss == "bce":
            err = F.binary_cross_entropy_with_logits(z, y[idx])
        else:
            err = F.cross_entropy(z, y[idx].argmax(1))
        opt.zero_grad()
        err.backward()
        opt.step()


@dataclass(frozen=True)
class Trained:
    """Paths of a trained network and its data."""

    dir: Path
    network: Path
    input_nc: Path
    output_nc: Path
    text: Path | None = None
    features_input: Path | None = None
    features_output: Path | None = None


def autoencoder_config(hidden: int) -> dict[str, object]:
    """DSSTNE's MovieLens autoencoder shape: sparse input -> ``hidden`` sigmoid -> output."""
    return {
        "Version": 0.8,
        "Name": "AE",
        "Kind": "FeedForward",
        "Layers": [
            {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": True},
            {
                "Name": "Hidden",
                "Kind": "Hidden",
                "Type": "FullyConnected",
                "N": hidden,
                "Activation": "Sigmoid",
                "Sparse": True,
            },
            {
                "Name": "Output",
                "Kind": "Output",
                "Type": "FullyConnected",
                "DataSet": "gl_output",
                "N": "auto",
                "Activation": "Sigmoid",
                "Sparse": True,
            },
        ],
        "ErrorFunction": "ScaledMarginalCrossEntropy",
    }


def trained_autoencoder(
    tmp: Path,
    *,
    samples: int = 1000,
    items: int = 256,
    hidden: int = 64,
    epochs: int = 6,
    trainer: bool = False,
) -> Trained:
    """Clustered implicit-feedback data (``lamina.data.synth``) and an autoencoder trained on it
    (with ``fit``, or with Lamina's trainer for ``epochs`` epochs when ``trainer``)."""
    data = synthesize(samples=samples, features=items, nnz=20, clusters=8, noise=0.2, seed=5)
    text = tmp / "ratings.txt"
    write_synthetic(data, text)
    fin, fout, samp = tmp / "features_input", tmp / "features_output", tmp / "samples"
    for name, index in (("gl_input", fin), ("gl_output", fout)):
        generate_netcdf(
            text,
            tmp / f"{name}.nc",
            dataset_name=name,
            feature_index=index,
            sample_index=samp,
            mode="create",
        )
    network = tmp / "gl.nc"
    if not trainer:
        fit(
            autoencoder_config(hidden),
            inputs=tmp / "gl_input.nc",
            outputs=tmp / "gl_output.nc",
            network=network,
            loss="bce",
        )
        return Trained(tmp, network, tmp / "gl_input.nc", tmp / "gl_output.nc", text, fin, fout)
    options = TrainOptions(
        epochs=epochs,
        batch=128,
        alpha=1.0,
        seed=1,
        checkpoint_interval=0,
        optimizer="SGD",
        tensorboard=False,
    )
    train(
        autoencoder_config(hidden),
        inputs=tmp / "gl_input.nc",
        outputs=tmp / "gl_output.nc",
        network_path=network,
        options=options,
    )
    return Trained(tmp, network, tmp / "gl_input.nc", tmp / "gl_output.nc", text, fin, fout)


DIGITS_CONFIG = {
    "Version": 0.8,
    "Name": "digits",
    "Layers": [
        {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "digits_input"},
        {
            "Name": "Hidden",
            "Kind": "Hidden",
            "Type": "FullyConnected",
            "N": 64,
            "Activation": "Relu",
        },
        {
            "Name": "Output",
            "Kind": "Output",
            "Type": "FullyConnected",
            "DataSet": "digits_output",
            "N": "auto",
            "Activation": "SoftMax",
        },
    ],
    "ErrorFunction": "CrossEntropy",
}


def digits_files(tmp: Path, *, train_rows: int = 1297) -> dict[str, Path]:
    """scikit-learn's bundled 8x8 digits as dense dataset files (pixels / 16, one-hot labels):
    ``train_input``/``train_output`` (first ``train_rows``) and ``test_input``/``test_output``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # (1797, 64)
    y = np.eye(10, dtype=np.float32)[digits.target]  # (1797, 10)
    paths = {}
    for part, rows in (("train", slice(0, train_rows)), ("test", slice(train_rows, None))):
        for side, name, values in (("input", "digits_input", x), ("output", "digits_output", y)):
            path = paths[f"{part}_{side}"] = tmp / f"digits_{part}_{side}.nc"
            array = values[rows]
            write_datasets(
                path,
                [
                    DatasetArrays(
                        name=name,
                        attributes=DatasetAttributes.NONE,
                        data_type=DataType.FLOAT,
                        width=array.shape[1],
                        data=array.reshape(-1),
                    )
                ],
            )
    return paths


def trained_digits(tmp: Path) -> tuple[Trained, dict[str, Path]]:
    """A 64-64-10 SoftMax classifier trained (``fit``: Adam, cross-entropy) on the first 1297
    digits; returns it and the data files (the last 500 digits are held out)."""
    files = digits_files(tmp)
    network = tmp / "digits.nc"
    fit(
        DIGITS_CONFIG,
        inputs=files["train_input"],
        outputs=files["train_output"],
        network=network,
        loss="ce",
        steps=400,
    )
    return Trained(tmp, network, files["train_input"], files["train_output"]), files


def assert_first_layer_float_matmul(model: onnx.ModelProto, *, gather_int8: bool) -> None:
    """The sparse first layer of an int8 export: a float ``MatMul`` of the unquantized values
    (``Unsqueeze(values_Input)``) with the gathered rows, which are int8 weight rows dequantized
    when ``gather_int8`` (dynamic), float rows otherwise (static quantizes MatMul/Conv only)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {t.name: t for t in model.graph.initializer}
    (mm,) = [
        n
        for n in model.graph.node
        if n.op_type == "MatMul"
        and n.input[0] in producer
        and producer[n.input[0]].input[0] == "values_Input"
    ]
    vals, rows = producer[mm.input[0]], producer[mm.input[1]]
    assert vals.op_type == "Unsqueeze"  # the values reach the MatMul unquantized
    if gather_int8:
        assert rows.op_type == "DequantizeLinear"
        gather = producer[rows.input[0]]
        assert inits[gather.input[0]].data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    else:
        gather = rows
        assert inits[gather.input[0]].data_type == onnx.TensorProto.FLOAT
    assert gather.op_type == "Gather" and gather.input[1] == "indices_Input"
