"""``load_config``: DSSTNE's defaults, case-insensitivity, sources, inheritance, and the real
configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.config import AUTO, load_config
from lamina.config.enums import (
    Activation,
    ErrorFunction,
    LayerKind,
    LayerType,
    NetworkKind,
    Optimizer,
    PoolingFunction,
    WeightInitScheme,
)
from lamina.config.model import SMCE, TrainingParameters
from lamina.errors import ConfigError

MINIMAL = '{"Layers": [{"N": 8, "DataSet": "in"}, {"N": 4}, {"N": 4}, {"N": 2}]}'


def test_network_defaults_are_dsstnes() -> None:
    cfg = load_config(MINIMAL)
    assert cfg.version == 0.9  # NN_VERSION, what DSSTNE assumes without "Version"
    assert cfg.smce == SMCE(one_target=0.9, zero_target=0.1, one_scale=1.0, zero_scale=1.0)
    assert cfg.shuffle_indices is True
    assert cfg.error_function == ErrorFunction.CROSS_ENTROPY
    assert cfg.kind == NetworkKind.FEED_FORWARD
    assert (cfg.lrn.k, cfg.lrn.n, cfg.lrn.alpha, cfg.lrn.beta) == (2.0, 5, 0.0001, 0.75)
    assert cfg.maxout.k == 2 and cfg.denoising.p == 0.0 and cfg.decay == 0.0
    assert (cfg.delta_boost.one, cfg.delta_boost.zero) == (1.0, 1.0)
    assert (cfg.relu_slope, cfg.elu_alpha, cfg.selu_lambda) == (1.0, 1.0, 1.050701)
    assert cfg.training is None and cfg.weights_data is None and cfg.name == ""


def test_layer_defaults_kinds_names_and_sources_by_position() -> None:
    cfg = load_config(MINIMAL)
    assert [layer.kind for layer in cfg.layers] == [
        LayerKind.INPUT,
        LayerKind.HIDDEN,
        LayerKind.HIDDEN,
        LayerKind.OUTPUT,
    ]
    assert [layer.name for layer in cfg.layers] == ["Input0", "Hidden1", "Hidden2", "Output3"]
    assert [layer.sources for layer in cfg.layers] == [(), ("Input0",), ("Hidden1",), ("Hidden2",)]
    hidden = cfg.layers[1]
    assert hidden.activation == Activation.SIGMOID
    assert hidden.type == LayerType.FULLY_CONNECTED
    assert hidden.weight_init.scheme == WeightInitScheme.XAVIER
    assert (hidden.weight_init.scale, hidden.weight_init.bias) == (1.0, 0.0)
    assert hidden.p_dropout == 0.0 and hidden.sparse is False and hidden.n == (4,)
    assert hidden.pooling_function is None and hidden.sparseness_penalty is None


def test_default_source_is_the_previous_layer_by_final_name() -> None:
    cfg = load_config('{"Layers": [{"N": 3}, {"Name": "Enc", "N": 2}, {"N": 3}]}')
    assert cfg.layer("Output2").sources == ("Enc",)


def test_keys_and_enum_values_are_case_insensitive() -> None:
    text = (
        '{"VERSION": 0.8, "errorfunction": "cross entropy", "layers": ['
        '{"nAmE": "a", "KIND": "input", "n": 4, "dataset": "x"},'
        '{"kind": "OUTPUT", "activation": "RELU", "weightinit": {"SCHEME": "gaussian"},'
        ' "n": [2, 3]}]}'
    )
    cfg = load_config(text)
    assert cfg.error_function == ErrorFunction.CROSS_ENTROPY
    out = cfg.layers[1]
    assert out.activation == Activation.RELU
    assert out.weight_init.scheme == WeightInitScheme.GAUSSIAN
    assert out.n == (2, 3) and out.name == "Output1"


def test_layer_slopes_inherit_network_values_unless_set() -> None:
    cfg = load_config(
        '{"Slope": 0.2, "ELUAlpha": 1.5, "Layers": [{"N": 4},'
        '{"N": 3, "Activation": "LRelu", "RELUSlope": 0.5}, {"N": 2, "SELULambda": 2}]}'
    )
    assert [la.relu_slope for la in cfg.layers] == [0.2, 0.5, 0.2]
    assert [la.elu_alpha for la in cfg.layers] == [1.5, 1.5, 1.5]
    assert [la.selu_lambda for la in cfg.layers] == [1.050701, 1.050701, 2.0]


def test_layers_may_be_a_single_object_and_auto_stays_until_resolved() -> None:
    cfg = load_config('{"Layers": {"N": "Auto", "DataSet": "d"}}')
    assert cfg.layers[0].n == AUTO and cfg.has_auto
    assert cfg.resolve({"d": (128, 2)}).layers[0].n == (128, 2)


def test_dot_product_pooling_is_sized_by_its_sources_as_dsstne_does() -> None:
    cfg = load_config(
        '{"Layers": [{"N": 4}, {"Name": "A", "N": 3}, {"Name": "B", "N": 3, "Source": "Input0"},'
        '{"Name": "D", "Type": "Pooling", "Function": "DotProduct", "Source": ["A", "B"]},'
        '{"N": 2, "Source": "A"}]}'
    )
    assert cfg.layer("D").pooling_function == PoolingFunction.DOT_PRODUCT
    assert cfg.layer("D").n == (1,)


def test_training_parameters_extension() -> None:
    cfg = load_config(
        '{"Layers": [{"N": 2}, {"N": 2}], "TrainingParameters": {"optimizer": "adam", '
        '"Alpha": 1, "Lambda": 0.001, "Epochs": 3, "Decay": 0.5}}'
    )
    assert cfg.training == TrainingParameters(
        optimizer=Optimizer.ADAM, alpha=1.0, lambda_l2=0.001, epochs=3, decay=0.5
    )
    assert cfg.effective_decay == 0.5 and cfg.decay == 0.0


def test_comments_are_allowed_like_jsoncpp_and_errors_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text('{ // a comment\n "Layers": [ /* x */ {"N": 2},\n {"N": 2} ], "Nme": 1 }\n')
    with pytest.raises(ConfigError, match=r"^net.json: the top level: unknown key 'Nme'"):
        load_config(path, name="net.json")
    path.write_text('{ // a comment\n "Layers": [\n {"N": 2} {"N": 2} ] }\n')
    with pytest.raises(ConfigError, match=rf"^{path}:3:11: invalid JSON: Expecting ','"):
        load_config(path)


def test_sources_path_text_and_dict_give_the_same_config(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text(MINIMAL)
    assert load_config(path) == load_config(str(path)) == load_config(MINIMAL)
    assert load_config(json.loads(MINIMAL)) == load_config(MINIMAL)


def test_dict_errors_have_no_file_prefix_and_files_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^Layers\[1\]\.N must be"):
        load_config({"Layers": [{"N": 2}, {"N": 0}]})
    with pytest.raises(ConfigError, match=r"^cfg: Layers\[1\]\.N\[1\] must be an integer >= 1"):
        load_config({"Layers": [{"N": 2}, {"N": [2, 0]}]}, name="cfg")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.json")


@pytest.mark.shared
def test_dangling_layer_and_no_output_layer_are_legal(shared_dir: Path) -> None:
    configs = shared_dir / "dsstne-examples" / "configs"
    lrelu = load_config(configs / "test_validate_L2_LRelu_02.json")
    assert lrelu.layer("Output").sources == ("Input",)  # Hidden feeds nothing
    assert lrelu.layer("Hidden").relu_slope == 0.5
    embedding = load_config(configs / "encoder_embedding_l2hinge_v0.8.json")
    assert [la.kind for la in embedding.layers] == [LayerKind.INPUT, LayerKind.HIDDEN]
    assert embedding.layers[1].activation == Activation.TANH


@pytest.mark.shared
def test_every_dsstne_example_config_loads(shared_dir: Path) -> None:
    paths = sorted((shared_dir / "dsstne-examples" / "configs").glob("*.json"))
    assert len(paths) >= 10
    for path in paths:
        assert load_config(path).layers
    movielens = load_config(shared_dir / "dsstne-examples/configs/movielens_config_v0.7.json")
    assert movielens.smce == SMCE(one_target=1.0, zero_target=0.0)
    assert movielens.denoising.p == 0.2 and movielens.shuffle_indices is False
    cifar = load_config(shared_dir / "dsstne-examples/configs/cifar10_conv_v0.81.json")
    assert cifar.layer("P1").pooling_function == PoolingFunction.MAX
    assert cifar.layer("Hidden10").batch_normalization and cifar.layer("Hidden10").sources == (
        "P3",
    )


def test_repo_example_configs_load(repo_root: Path) -> None:
    auto = load_config(repo_root / "examples/configs/autoencoder.json")
    assert [la.dataset for la in auto.layers] == ["gl_input", None, "gl_output"]
    assert auto.layers[1].n == (128,) and auto.error_function == ErrorFunction.CROSS_ENTROPY
    assert auto.training == TrainingParameters(
        optimizer=Optimizer.ADAM, alpha=0.01, epochs=10, batch=256
    )
    clf = load_config(repo_root / "examples/configs/classifier.json")
    assert [la.activation for la in clf.layers[1:]] == [
        Activation.RELU,
        Activation.RELU,
        Activation.SOFTMAX,
    ]
    assert clf.layers[0].sparse is False and clf.layers[1].p_dropout > 0
    sink = load_config(repo_root / "examples/configs/kitchen_sink.json")
    assert sink.layer("Enc").sources == ("In", "Side")
    assert sink.layer("Dec").shared_weights[0].transposed is True
    assert sink.layer("Sim").n == (1,)
