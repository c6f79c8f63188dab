"""``lamina.*`` ONNX metadata: round trip, and a clear error for models Lamina did not export."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from lamina.errors import CheckpointError
from lamina.export.metadata import ExportMetadata, LayerPort
from lamina.export.runtime import load_onnx


def sample() -> ExportMetadata:
    return ExportMetadata(
        lamina_version="0.1.0",
        config={"Layers": [{"Name": "Input"}]},
        inputs={"Input": LayerPort("dense_Input", 128, "gl_input")},
        outputs={"Output": LayerPort("Output", 128)},
        output_layer="Output",
        index_checksums={"features_input": "ab" * 32},
        data_attributes={"gl_input": 3},
        quantization={"int8": "dynamic"},
        verification={"topk_agreement": 0.995},
    )


def test_round_trip_through_metadata_props() -> None:
    meta = sample()
    props = meta.to_props()
    assert all(key.startswith("lamina.") for key in props)
    assert ExportMetadata.from_props(props) == meta


def test_missing_and_bad_keys_are_checkpoint_errors() -> None:
    props = sample().to_props()
    del props["lamina.outputs"]
    with pytest.raises(CheckpointError, match=r"expected ONNX metadata 'lamina\.outputs'"):
        ExportMetadata.from_props(props, where="m.onnx")
    props = sample().to_props() | {"lamina.format": "2"}
    with pytest.raises(CheckpointError, match=r"expected lamina\.format 1, found 2"):
        ExportMetadata.from_props(props)
    props = sample().to_props() | {"lamina.config": "{nope"}
    with pytest.raises(CheckpointError, match="must be JSON"):
        ExportMetadata.from_props(props)


def test_foreign_onnx_model_is_rejected_by_the_runtime(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "foreign.onnx"
    onnx.save_model(helper.make_model(graph), path)
    with pytest.raises(CheckpointError, match="a model exported by 'lamina export'"):
        load_onnx(path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_onnx(tmp_path / "missing.onnx")
