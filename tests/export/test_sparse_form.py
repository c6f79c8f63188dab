"""The sparse input form (``indices_<layer>``/``values_<layer>``, padded): the graph matches
torch's ``embedding_bag`` path and the dense form, the runtime pads CSR rows, and exports,
int8 verification and ``predict --engine onnx`` work with either form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from test_onnx_graph import TOL, B, _to_sparse, inp, layer, net_of
from worlds import Trained, assert_first_layer_float_matmul, trained_autoencoder

from lamina.config.model import SharedWeights
from lamina.errors import UsageError
from lamina.export.api import export_network
from lamina.export.metadata import ExportMetadata, LayerPort
from lamina.export.onnx_graph import build_onnx, input_name
from lamina.export.quantize import activation_matmuls
from lamina.export.runtime import load_onnx, pad_dense, pad_rows
from lamina.export.settings import ExportSettings
from lamina.export.verify import onnx_feeds
from lamina.nn import Network
from lamina.predict.pipeline import predict
from lamina.predict.recs import Csr


def _rows(net: Network, seed: int = 4) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name in net.input_layers:
        units = net.geometry[name].stride
        mask = torch.rand(B, units, generator=gen) < 0.3
        out[name] = mask.float() * (torch.rand(B, units, generator=gen) + 0.5)
    out[net.input_layers[0]][2] = 0.0  # an empty row: L >= 1 of padding only
    return out


def check_sparse(net: Network, outputs: tuple[str, ...] = ("Output",)) -> None:
    """ORT on the sparse-form graph == torch fed SparseBatch rows (sparse layers) == ORT on the
    dense-form graph, for every exported layer."""
    dense = _rows(net)
    sparse = [n for n in net.input_layers if net.layer_config(n).sparse]
    feed = {k: (_to_sparse(v) if k in sparse else v) for k, v in dense.items()}
    with torch.inference_mode():
        ref = net(feed).activations
    model = build_onnx(net, outputs=outputs, input_form="sparse")
    names = {i.name for i in model.graph.input}
    assert names == {f"indices_{n}" for n in sparse} | {f"values_{n}" for n in sparse} | {
        input_name(n) for n in net.input_layers if n not in sparse
    }
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = s.run(list(outputs), onnx_feeds({k: v.numpy() for k, v in dense.items()}, sparse))
    d = build_onnx(net, outputs=outputs, input_form="dense")
    s_dense = ort.InferenceSession(d.SerializeToString(), providers=["CPUExecutionProvider"])
    got_dense = s_dense.run(list(outputs), {input_name(k): v.numpy() for k, v in dense.items()})
    for name, value, value_dense in zip(outputs, got, got_dense, strict=True):
        want = ref[name].reshape(B, -1).numpy()
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(value, want, rtol=0, atol=TOL * scale, err_msg=name)
        np.testing.assert_allclose(value, value_dense, rtol=0, atol=TOL * scale, err_msg=name)


def test_fully_connected_sparse_form_is_a_gather_and_matches_embedding_bag() -> None:
    net = net_of(inp(n=(40,), sparse=True), layer("H", 5, ("Input",)), layer("Output", 40, ("H",)))
    check_sparse(net, ("H", "Output"))
    ops = [n.op_type for n in build_onnx(net, outputs=["Output"], input_form="sparse").graph.node]
    # values (B, 1, L) @ gathered rows (B, L, 5), then the dense Output layer's MatMul
    assert ops[:4] == ["Gather", "Unsqueeze", "MatMul", "Squeeze"] and ops.count("MatMul") == 2


def test_activation_matmuls_are_the_sparse_gathers_only() -> None:
    net = net_of(inp(n=(40,), sparse=True), layer("H", 5, ("Input",)), layer("Output", 40, ("H",)))
    model = build_onnx(net, outputs=["Output"], input_form="sparse")
    (name,) = activation_matmuls(model)
    node = next(n for n in model.graph.node if n.name == name)
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    assert producers[node.input[1]] == "Gather"
    assert activation_matmuls(build_onnx(net, outputs=["Output"], input_form="dense")) == []


def test_multi_source_sparse_and_dense_inputs() -> None:
    net = net_of(
        inp("A", n=(12,), sparse=True),
        inp("Bs", n=(9,), sparse=True),
        inp("C", n=(3,)),
        layer("H1", 4, ("A", "Bs", "C")),
        layer("Output", 2, ("H1", "A")),
    )
    check_sparse(net, ("H1", "Output"))


def test_sparse_input_as_skip_and_shared_transposed_weights() -> None:
    tied = (SharedWeights("Input", "Input", "H", transposed=False),)
    net = net_of(
        inp(n=(6,), sparse=True),
        layer("H", 6, ("Input",), skips=("Input",)),  # skip: densified by ScatterElements
        layer("H2", 6, ("Input",), shared_weights=tied),
        layer("Output", 6, ("H", "H2")),
    )
    check_sparse(net, ("H", "H2", "Output"))


def test_repeated_columns_add_up_as_in_the_dense_form() -> None:
    net = net_of(inp(n=(5,), sparse=True), layer("Output", 3, ("Input",)))
    model = build_onnx(net, outputs=["Output"], input_form="sparse")
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    indices, values = pad_rows(Csr.from_rows([[1, 1, 3], [], [4]]), 0, 3)
    got = s.run(["Output"], {"indices_Input": indices, "values_Input": values})[0]
    dense = torch.tensor([[0, 2, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.float32)
    with torch.inference_mode():
        want = net({"Input": dense}).activations["Output"].numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_pad_rows_and_pad_dense_hand_computed() -> None:
    rows = Csr.from_rows([[4, 1], [], [0, 2, 3]])
    indices, values = pad_rows(rows, 0, 3)
    np.testing.assert_array_equal(indices, [[4, 1, 0], [0, 0, 0], [0, 2, 3]])
    np.testing.assert_array_equal(values, [[1, 1, 0], [0, 0, 0], [1, 1, 1]])
    assert indices.dtype == np.int64 and values.dtype == np.float32
    indices, values = pad_rows(rows, 1, 2)  # an all-empty batch: L = 1 of padding
    assert indices.shape == values.shape == (1, 1) and values[0, 0] == 0.0
    dense = np.array([[0, 2.5, 0, 1], [0, 0, 0, 0]], np.float32)
    indices, values = pad_dense(dense)
    np.testing.assert_array_equal(indices, [[1, 3], [0, 0]])
    np.testing.assert_array_equal(values, [[2.5, 1], [0, 0]])


def test_metadata_records_the_form_and_old_files_read_as_dense() -> None:
    port = LayerPort("indices_In", 9, "d", form="sparse", values="values_In")
    meta = ExportMetadata("0", {}, {"In": port}, {"Out": LayerPort("Out", 3)}, "Out")
    assert ExportMetadata.from_props(meta.to_props()).inputs["In"] == port
    props = meta.to_props()
    props["lamina.inputs"] = '{"In": {"onnx": "dense_In", "units": 9, "dataset": "d"}}'
    assert ExportMetadata.from_props(props).inputs["In"].form == "dense"
    with pytest.raises(UsageError, match="input_form must be one of"):
        ExportSettings(input_form="csr")


@pytest.fixture(scope="module")
def ae(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return trained_autoencoder(tmp_path_factory.mktemp("ae_sparse"))


def test_int8_sparse_autoencoder_keeps_top10_and_equals_dense_fp32(ae: Trained) -> None:
    sparse8 = export_network(
        ae.network, ae.dir / "s8.onnx", settings=ExportSettings(int8="dynamic"), data=[ae.input_nc]
    )
    assert sparse8.metadata.inputs["Input"].form == "sparse"
    assert sparse8.report.topk_agreement >= 0.99 and sparse8.report.passed
    assert sparse8.report.size_int8 is not None
    assert sparse8.report.size_int8 <= 0.3 * sparse8.report.size_fp32
    model8 = onnx.load_model(sparse8.path)
    ops = {n.op_type for n in model8.graph.node}
    assert "Gather" in ops and {"MatMulInteger", "DynamicQuantizeMatMul"} & ops
    assert_first_layer_float_matmul(model8, gather_int8=True)
    dense32 = export_network(
        ae.network,
        ae.dir / "d32.onnx",
        settings=ExportSettings(input_form="dense"),
        data=[ae.input_nc],
    )
    sparse32 = export_network(ae.network, ae.dir / "s32.onnx", data=[ae.input_nc])
    assert dense32.metadata.inputs["Input"].form == "dense"
    assert dense32.metadata.inputs["Input"].onnx == "dense_Input"
    rows = Csr.from_rows([[0, 5, 5, 9], [], [1, 2, 3, 4, 60]])
    width = load_onnx(dense32.path).units("Input")
    outs = [
        np.concatenate(
            [
                b.activations["Output"]
                for b in load_onnx(p).run_layers(
                    rows, input_layer="Input", layers=["Output"], batch=2
                )
            ]
        )
        for p in (dense32.path, sparse32.path)
    ]
    assert outs[0].shape == (3, width)
    np.testing.assert_allclose(outs[1], outs[0], rtol=0, atol=1e-6)


def _predict(ae: Trained, network: Path, out: Path) -> list[str]:
    predict(
        network,
        dataset="gl",
        input_path=ae.text,
        input_index=ae.features_input,
        output_index=ae.features_output,
        output_path=out,
        k=10,
        filter_path=ae.text,
    )
    return out.read_text().splitlines()


def test_predict_sparse_form_model_prints_what_the_dense_form_prints(ae: Trained) -> None:
    dense = ae.dir / "pd.onnx"
    export_network(ae.network, dense, settings=ExportSettings(input_form="dense"))
    sparse = ae.dir / "ps.onnx"
    export_network(ae.network, sparse)
    assert load_onnx(sparse).metadata.inputs["Input"].form == "sparse"
    lines_dense = _predict(ae, dense, ae.dir / "rd.txt")
    lines_sparse = _predict(ae, sparse, ae.dir / "rs.txt")
    assert len(lines_sparse) == len(lines_dense) > 0
    assert lines_sparse == lines_dense
