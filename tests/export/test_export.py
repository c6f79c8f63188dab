"""``export_network``: int8 exports of trained networks, verification bounds, metadata, atomicity,
and ``predict --engine onnx`` against torch predict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from worlds import Trained, assert_first_layer_float_matmul, trained_autoencoder, trained_digits

from lamina.errors import ModelError, UsageError
from lamina.export.api import export_network, load_torch_network
from lamina.export.runtime import densify, load_onnx
from lamina.export.settings import ExportSettings
from lamina.export.verify import topk_agreement
from lamina.predict.pipeline import predict
from lamina.predict.recs import Csr
from lamina.predict.recs_file import parse_recs_line


@pytest.fixture(scope="module")
def ae(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return trained_autoencoder(tmp_path_factory.mktemp("ae"))


@pytest.fixture(scope="module")
def ae_int8(ae: Trained) -> Path:
    out = ae.dir / "gl_int8.onnx"
    export_network(ae.network, out, settings=ExportSettings(int8="dynamic"), data=[ae.input_nc])
    return out


def test_topk_agreement_hand_computed() -> None:
    ref = np.array([[5.0, 4.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    other = np.array([[5.0, 1.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    # row 0: top-2 {0, 1} vs {0, 2} -> 1/2; row 1: {3, 2} vs {3, 2} -> 1
    assert topk_agreement(ref, other, 2) == pytest.approx(0.75)
    assert topk_agreement(ref, other, 10) == 1.0  # k capped at the 4 units


def test_densify_sums_duplicates_and_defaults_to_indicators() -> None:
    rows = Csr.from_rows([[1, 1, 3], [], [0]])
    dense = densify(rows, 0, 3, 4)
    np.testing.assert_array_equal(dense, [[0, 2, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(densify(rows, 1, 3, 4), dense[1:])


def test_int8_dynamic_autoencoder_meets_default_topk_bound(ae: Trained, ae_int8: Path) -> None:
    model = load_onnx(ae_int8)
    report = model.metadata.verification
    assert report["topk_agreement"] >= 0.99 and report["failures"] == []
    assert report["size_int8"] <= 0.3 * report["size_fp32"]
    assert any(
        n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")
        for n in onnx.load_model(ae_int8).graph.node
    )
    # independent recomputation on rows the verification did not pick: agreement with torch fp32
    net, _ = load_torch_network(ae.network)
    rng = np.random.default_rng(1)
    x = (rng.random((200, model.units("Input"))) < 0.08).astype(np.float32)
    import torch

    with torch.inference_mode():
        ref = net({"Input": torch.from_numpy(x)}).activations["Output"].numpy()
    got = model.run({"Input": x}, ["Output"])["Output"]
    assert np.abs(got - ref).max() < 0.1
    assert topk_agreement(ref, got, 10) >= 0.97


def test_metadata_lets_the_model_stand_alone(ae_int8: Path) -> None:
    meta = load_onnx(ae_int8).metadata
    assert meta.lamina_version and meta.output_layer == "Output"
    port = meta.inputs["Input"]  # a Sparse Input layer: the sparse form by default
    assert (port.form, port.onnx, port.values) == ("sparse", "indices_Input", "values_Input")
    assert port.dataset == "gl_input"
    assert meta.quantization["input_form"] == "sparse"
    assert meta.outputs["Output"].units == meta.inputs["Input"].units
    assert meta.quantization["int8"] == "dynamic"
    assert meta.quantization["weight_type"] == "qint8" and meta.quantization["per_channel"]
    assert meta.config["Layers"][1]["N"] == [64] or meta.config["Layers"][1]["N"] == 64
    assert set(meta.index_checksums) <= {"features_input", "features_output"}


def test_failed_verification_writes_nothing_and_reports_numbers(ae: Trained) -> None:
    out = ae.dir / "strict.onnx"
    out.write_bytes(b"previous")  # an earlier export must survive a failed one
    settings = ExportSettings(int8="dynamic", max_topk_disagreement=0.0, topk=200)
    with pytest.raises(ModelError, match=r"top-200 agreement 0\.\d+ is below 1\.0000") as info:
        export_network(ae.network, out, settings=settings, data=[ae.input_nc])
    assert info.value.exit_code == 1
    assert out.read_bytes() == b"previous"
    assert not list(ae.dir.glob("strict.onnx?*"))  # no temp files left beside it


def test_static_per_channel_export_with_calibration(ae: Trained) -> None:
    out = ae.dir / "static.onnx"
    settings = ExportSettings(int8="static", per_channel=True)
    result = export_network(ae.network, out, settings=settings, calibration=ae.input_nc)
    assert result.report.topk_agreement >= 0.99
    ops = {n.op_type for n in onnx.load_model(out).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert load_onnx(out).metadata.quantization["per_channel"] is True
    assert_first_layer_float_matmul(onnx.load_model(out), gather_int8=False)


def test_usage_errors(ae: Trained) -> None:
    with pytest.raises(UsageError, match="needs real rows"):
        export_network(ae.network, ae.dir / "x.onnx", settings=ExportSettings(int8="dynamic"))
    with pytest.raises(UsageError, match="needs --calibration"):
        export_network(
            ae.network,
            ae.dir / "x.onnx",
            settings=ExportSettings(int8="static"),
            data=[ae.input_nc],
        )
    with pytest.raises(UsageError, match="Did you mean 'Hidden'"):
        export_network(
            ae.network, ae.dir / "x.onnx", settings=ExportSettings(output_layers=("Hiden",))
        )
    assert not (ae.dir / "x.onnx").exists()


def _predict(ae: Trained, network: Path, out: Path, **kw: object) -> Path:
    predict(
        network,
        dataset="gl",
        input_path=ae.text,
        input_index=ae.features_input,
        output_index=ae.features_output,
        output_path=out,
        k=10,
        filter_path=ae.text,
        **kw,
    )
    return out


def test_predict_onnx_fp32_is_line_for_line_torch_predict(ae: Trained) -> None:
    fp32 = ae.dir / "gl_fp32.onnx"
    export_network(ae.network, fp32, data=[ae.input_nc])
    torch_recs = _predict(ae, ae.network, ae.dir / "recs_torch.txt").read_text().splitlines()
    onnx_recs = _predict(ae, fp32, ae.dir / "recs_onnx.txt").read_text().splitlines()
    assert len(onnx_recs) == len(torch_recs) > 0
    same_items = 0
    for a, b in zip(torch_recs, onnx_recs, strict=True):
        sa, ia, va = parse_recs_line(a)
        sb, ib, vb = parse_recs_line(b)
        assert sa == sb and len(ia) == len(ib) == 10
        same_items += ia == ib
        np.testing.assert_allclose(vb, va, atol=1.1e-3)  # printed with 3 decimals
    assert same_items >= 0.95 * len(torch_recs)  # only ties at 3 decimals may swap


def test_predict_int8_recs_have_torch_format_and_agree(ae: Trained, ae_int8: Path) -> None:
    torch_recs = _predict(ae, ae.network, ae.dir / "r_torch.txt").read_text().splitlines()
    int8_recs = _predict(ae, ae_int8, ae.dir / "r_int8.txt").read_text().splitlines()
    hits = []
    for a, b in zip(torch_recs, int8_recs, strict=True):
        sa, ia, _ = parse_recs_line(a)
        sb, ib, vb = parse_recs_line(b)
        assert sa == sb and len(ib) == 10 and b.endswith(":")
        assert all(
            len(f"{v:.3f}") == len(s.split(",")[1])
            for v, s in zip(vb, b.split("\t")[1].split(":")[:-1], strict=True)
        )
        hits.append(len(set(ia) & set(ib)) / 10)
    assert np.mean(hits) >= 0.99


def test_predict_onnx_dump_and_unexported_layer(ae: Trained, ae_int8: Path) -> None:
    with pytest.raises(UsageError, match="not an output of"):
        _predict(ae, ae_int8, ae.dir / "d.txt", dump_layer="Hidden")
    with pytest.raises(UsageError, match="runs on the CPU"):
        _predict(ae, ae_int8, ae.dir / "d.txt", device="cuda")


def test_onnx_predict_path_imports_no_torch(ae: Trained, ae_int8: Path) -> None:
    code = (
        "import sys\n"
        "from lamina.predict.pipeline import predict\n"
        f"predict({str(ae_int8)!r}, dataset='gl', input_path={str(ae.text)!r}, "
        f"input_index={str(ae.features_input)!r}, output_index={str(ae.features_output)!r}, "
        f"output_path={str(ae.dir / 'notorch.txt')!r}, k=5)\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert (ae.dir / "notorch.txt").read_text().count("\n") > 0


def test_digits_classifier_loses_at_most_half_a_point(tmp_path: Path) -> None:
    net, files = trained_digits(tmp_path)
    out = tmp_path / "digits.onnx"
    result = export_network(
        net.network,
        out,
        settings=ExportSettings(int8="dynamic"),
        data=[files["test_input"], files["test_output"]],
    )
    report = result.report
    assert report.task == "classification" and report.rows == 500
    assert report.accuracy_fp32 is not None and report.accuracy_fp32 > 90.0
    assert report.accuracy_drop is not None and report.accuracy_drop <= 0.5
    # recompute int8 accuracy from the written file
    from lamina.export.samples import DataFiles

    data = DataFiles([files["test_input"], files["test_output"]])
    x = data.dense("digits_input", units=64, rows=500)
    y = data.dense("digits_output", units=10, rows=500).argmax(1)
    got = load_onnx(out).run({"Input": x}, ["Output"])["Output"].argmax(1)
    assert 100.0 * np.mean(got == y) == pytest.approx(report.accuracy_int8)


@pytest.mark.slow
def test_network_from_lamina_trainer_exports_and_predicts(tmp_path: Path) -> None:
    ae = trained_autoencoder(tmp_path, trainer=True, epochs=4)
    out = tmp_path / "gl.onnx"
    result = export_network(
        ae.network, out, settings=ExportSettings(int8="dynamic"), data=[ae.input_nc]
    )
    assert result.report.topk_agreement >= 0.99
    assert _predict(ae, out, tmp_path / "recs.txt").read_text().count("\t") > 0
