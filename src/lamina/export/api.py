"""``export_network``: network file -> verified ONNX model (fp32 or int8), written atomically.

Steps: load the network file and build the torch network -> write the fp32 ONNX graph -> read
verification (and calibration) rows -> quantize -> verify against torch fp32 -> attach the
metadata and write ``-o`` only when every bound holds (nothing is left at ``-o`` on failure).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from lamina import __version__
from lamina.atomic import atomic_path
from lamina.config.enums import Activation, LayerKind
from lamina.config.serialize import to_dict
from lamina.errors import CheckpointError, ModelError, UsageError, did_you_mean
from lamina.export.metadata import ExportMetadata, LayerPort
from lamina.export.onnx_graph import build_onnx, input_names, sparse_inputs
from lamina.export.quantize import quantize
from lamina.export.samples import DataFiles
from lamina.export.settings import ExportSettings
from lamina.export.verify import VerifyReport, onnx_feeds, verify
from lamina.nn import Network, build_network

__all__ = ["ExportResult", "export_network", "load_torch_network"]

RANDOM_ROWS = 64  # rows of random input for an fp32 export without --data


@dataclass(frozen=True)
class ExportResult:
    """What ``export_network`` wrote.

    Attributes:
        path: the ``.onnx`` file.
        report: the verification report (also stored in the file's metadata).
        metadata: the file's ``lamina.*`` metadata.
    """

    path: Path
    report: VerifyReport
    metadata: ExportMetadata


def load_torch_network(path: str | os.PathLike[str]) -> tuple[Network, object]:
    """Build the network of a network file with its stored weights, in eval mode.

    Returns:
        ``(network, network_file)``.

    Raises:
        CheckpointError: missing/corrupt file or weights that do not fit the config.
    """
    from lamina.train.network_file import load_network
    from lamina.train.weights import load_records

    nf = load_network(path)
    network = build_network(nf.config, seed=0)
    try:
        load_records(network, nf)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc.message}", hint=exc.hint) from None
    return network.eval(), nf


def export_network(
    network_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    settings: ExportSettings | None = None,
    data: Sequence[str | os.PathLike[str]] = (),
    calibration: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Export a trained network to ONNX, optionally int8, verified against the fp32 network.

    Args:
        network_path: the trained network file (``.nc``).
        output_path: the ``.onnx`` file to write (atomically, only when verification passes).
        settings: quantization and verification settings (default: fp32 export).
        data: dataset files holding the Input layers' datasets (and, for classification
            accuracy, the scored layer's dataset); the first ``verify_rows`` rows are used.
            Required for int8; default for int8: the calibration file.
        calibration: dataset file for static quantization (``calibration_rows`` rows).

    Returns:
        An :class:`ExportResult`.

    Raises:
        UsageError: unknown output layers, int8 without data, static without calibration.
        ModelError: verification failed (the message carries the numbers); nothing is written.
        CheckpointError: an unreadable network file.

    Example:
        >>> export_network("gl.nc", "gl.onnx", settings=ExportSettings(int8="dynamic"),
        ...                data=["gl_input.nc"])  # doctest: +SKIP
    """
    settings = settings or ExportSettings()
    network, nf = load_torch_network(network_path)
    outputs = _output_layers(network, settings.output_layers)
    layer = "Output" if "Output" in outputs else outputs[0]
    task = settings.task
    if task == "auto":
        softmax = network.layer_config(layer).activation == Activation.SOFTMAX
        task = "classification" if softmax else "ranking"
    if settings.int8 == "static" and calibration is None:
        raise UsageError("--int8 static needs --calibration FILE.nc (rows of the network's input)")
    if settings.quantized and not data:
        if calibration is None:
            raise UsageError(
                "int8 export needs real rows to verify against: give --data FILE.nc "
                "(or --calibration)"
            )
        data = [calibration]
    inputs, labels = _verification_rows(network, layer, data, settings.verify_rows, task)
    sparse = sparse_inputs(network, settings.input_form)
    fp32 = build_onnx(
        network,
        outputs=outputs,
        graph_name=network.config.name or "lamina",
        input_form=settings.input_form,
    )
    int8 = None
    if settings.quantized:
        calib = None
        if calibration is not None:
            rows, _ = _verification_rows(network, layer, [calibration], settings.calibration_rows)
            calib = onnx_feeds(rows, sparse)
        int8 = quantize(fp32, settings, calibration=calib)
    report = verify(
        network,
        layer=layer,
        inputs=inputs,
        fp32=fp32.SerializeToString(),
        int8=None if int8 is None else int8.SerializeToString(),
        task=task,
        topk=settings.topk,
        labels=labels,
        max_topk_disagreement=settings.max_topk_disagreement,
        max_accuracy_drop=settings.max_accuracy_drop,
        sparse=sparse,
    )
    if not report.passed:
        raise ModelError(
            f"export verification failed, {output_path} not written: "
            + "; ".join(report.failures)
            + "\n"
            + report.table(),
            hint="try --weight-type quint8, --per-channel, or relax the bound",
        )
    metadata = _metadata(network, nf, outputs, layer, settings, report, sparse)
    model = int8 if int8 is not None else fp32
    del model.metadata_props[:]
    for key, value in metadata.to_props().items():
        model.metadata_props.add(key=key, value=value)
    output_path = Path(output_path)
    with atomic_path(output_path) as tmp:
        onnx.save_model(model, tmp)
    return ExportResult(path=output_path, report=report, metadata=metadata)


def _output_layers(network: Network, wanted: Sequence[str]) -> list[str]:
    names = [n for n in network.order if network.layer_config(n).kind != LayerKind.INPUT]
    for name in wanted:
        if name not in names:
            raise UsageError(
                f"--layer must name a non-input layer of the network {names}. Got {name!r}."
                + did_you_mean(name, names)
            )
    outputs = list(dict.fromkeys(wanted)) or list(network.output_layers)
    if not outputs:
        raise UsageError("the network has no Output layer: choose layers with --layer")
    return outputs


def _verification_rows(
    network: Network,
    layer: str,
    data: Sequence[str | os.PathLike[str]],
    rows: int,
    task: str = "ranking",
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Input layer -> (R, units) rows, and the scored layer's labels for classification."""
    if not data:  # fp32 export without data: random sparse-looking rows check the graph
        rng = np.random.default_rng(0)
        inputs = {}
        for name in network.input_layers:
            units = network.geometry[name].stride
            inputs[name] = (rng.random((RANDOM_ROWS, units)) < 0.1).astype(np.float32)
        return inputs, None
    files = DataFiles(data)
    inputs = {}
    for name in network.input_layers:
        dataset = network.layer_config(name).dataset or name
        units = network.geometry[name].stride
        inputs[name] = files.dense(dataset, units=units, rows=rows)
    n = min(len(v) for v in inputs.values())
    if n == 0:
        raise UsageError(f"--data {[str(p) for p in data]}: the input datasets have no rows")
    inputs = {k: v[:n] for k, v in inputs.items()}
    labels = None
    target = network.layer_config(layer).dataset
    if task == "classification":
        if not target or target not in files:
            raise UsageError(
                f"classification verification needs the labels of layer {layer!r}: give a "
                f"--data file holding dataset {target!r}"
            )
        labels = files.dense(target, units=network.geometry[layer].stride, rows=n)
        if len(labels) < n:
            raise UsageError(f"dataset {target!r} has fewer rows ({len(labels)}) than the inputs")
    return inputs, labels


def _metadata(
    network: Network,
    nf: object,
    outputs: Sequence[str],
    layer: str,
    settings: ExportSettings,
    report: VerifyReport,
    sparse: Sequence[str],
) -> ExportMetadata:
    training = getattr(nf, "training", None)
    bits = {}
    checksums = {}
    if training is not None:
        checksums = dict(training.index_checksums)
        raw = getattr(training, "data_attributes", None) or training.optimizer_meta.get(
            "data_attributes"
        )
        if isinstance(raw, dict):
            bits = {str(k): int(v) for k, v in raw.items()}
    return ExportMetadata(
        lamina_version=__version__,
        config=to_dict(network.config),
        inputs={name: _port(network, name, sparse) for name in network.input_layers},
        outputs={name: LayerPort(name, network.geometry[name].stride) for name in outputs},
        output_layer=layer,
        index_checksums=checksums,
        data_attributes=bits,
        quantization=settings.to_dict(),
        verification=report.to_dict(),
    )


def _port(network: Network, name: str, sparse: Sequence[str]) -> LayerPort:
    form = "sparse" if name in sparse else "dense"
    names = input_names(name, form)
    return LayerPort(
        names[0],
        network.geometry[name].stride,
        network.layer_config(name).dataset or "",
        form=form,
        values=names[1] if form == "sparse" else "",
    )
