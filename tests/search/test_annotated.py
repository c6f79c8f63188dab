"""Configs with $search annotations: paths, validation messages, materialization."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from lamina.config import load_config, to_dict
from lamina.errors import ConfigError
from lamina.search.annotated import load_annotated, materialize
from lamina.search.space import ChoiceDist, FloatDist, IntDist


def S(kind: str, **fields: Any) -> dict[str, Any]:
    return {"$search": kind, **fields}


def net(hidden: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    h = {"Name": "H", "Kind": "Hidden", "N": 16, **(hidden or {})}
    return {
        "Version": 0.8,
        **top,
        "Layers": [
            {"Name": "In", "Kind": "Input", "N": 8, "DataSet": "in"},
            h,
            {"Name": "Out", "Kind": "Output", "N": 4, "DataSet": "out"},
        ],
    }


FULL = net(
    {
        "N": S("int", low=64, high=1024, log=True),
        "pdropout": S("float", low=0.0, high=0.5),  # any case, as DSSTNE keys
        "Activation": S("choice", values=["Sigmoid", "ReLU", "Tanh"]),
        "WeightInit": {"Scheme": "Gaussian", "Scale": S("float", low=0.01, high=1, log=True)},
    },
    Denoising={"p": S("float", low=0.0, high=0.3)},
    TrainingParameters={"Alpha": S("float", low=1e-4, high=1, log=True), "Optimizer": "Adam"},
)


def test_extracts_every_annotation_with_its_canonical_path() -> None:
    cfg = load_annotated(FULL)
    assert list(cfg.space) == [
        "Denoising.p",
        "TrainingParameters.Alpha",
        "Layers[1].N",
        "Layers[1].pDropout",
        "Layers[1].Activation",
        "Layers[1].WeightInit.Scale",
    ]
    assert cfg.space["Layers[1].N"] == IntDist(64, 1024, log=True)
    assert cfg.space["Layers[1].Activation"] == ChoiceDist(("Sigmoid", "ReLU", "Tanh"))
    assert cfg.space["Denoising.p"] == FloatDist(0.0, 0.3)


def test_annotation_inside_an_n_array() -> None:
    data = net()
    data["Layers"][0]["N"] = [8, S("int", low=1, high=4)]
    cfg = load_annotated(data)
    assert list(cfg.space) == ["Layers[0].N[1]"]
    assert cfg.materialize({"Layers[0].N[1]": 3}).layers[0].n == (8, 3)


def _has_annotation(node: Any) -> bool:
    if isinstance(node, dict):
        return "$search" in node or any(_has_annotation(v) for v in node.values())
    return isinstance(node, list) and any(_has_annotation(v) for v in node)


def test_materialize_gives_a_plain_config_that_load_config_accepts() -> None:
    cfg = load_annotated(FULL)
    assignment = {
        "Denoising.p": 0.1,
        "Layers[1].N": 128,
        "Layers[1].pDropout": 0.25,
        "Layers[1].Activation": "Tanh",
        "Layers[1].WeightInit.Scale": 0.5,
        "TrainingParameters.Alpha": 0.003,
    }
    plain = cfg.materialize_dict(assignment)
    assert not _has_annotation(plain)
    assert plain["Layers"][1]["pdropout"] == 0.25  # the key as written
    network = load_config(json.loads(json.dumps(plain)))
    assert network == cfg.materialize(assignment) == materialize(cfg, assignment)
    hidden = network.layers[1]
    assert (hidden.n, hidden.p_dropout, hidden.weight_init.scale) == ((128,), 0.25, 0.5)
    assert hidden.activation.name == "TANH"
    assert network.denoising.p == 0.1 and network.training.alpha == 0.003


def test_materialize_rejects_values_outside_the_space() -> None:
    cfg = load_annotated(net({"N": S("int", low=64, high=1024)}))
    with pytest.raises(ConfigError, match=r"Layers\[1\].N: 2000 is outside"):
        cfg.materialize({"Layers[1].N": 2000})
    with pytest.raises(ConfigError, match="Missing"):
        cfg.materialize({})


def test_template_json_round_trip_and_plain_configs() -> None:
    cfg = load_annotated(FULL)
    again = load_annotated(json.loads(json.dumps(cfg.to_dict())))
    assert again.space == cfg.space
    plain = load_annotated(net())
    assert len(plain.space) == 0 and plain.materialize({}) == load_config(net())


BAD: list[tuple[str, dict[str, Any], str]] = [
    (
        "bad-range",
        net({"pDropout": S("float", low=0.5, high=0.1)}),
        "Layers[1].pDropout: low must be less than high. Got low=0.5, high=0.1.",
    ),
    (
        "range-outside-key-rule",
        net({"pDropout": S("float", low=0.0, high=1.5)}),
        "Layers[1].pDropout: the $search range allows 1.5, which this key rejects: "
        "Layers[1].pDropout must be a number in [0, 1). Got 1.5.",
    ),
    (
        "float-at-integer",
        net({"N": S("float", low=8, high=64)}),
        'Layers[1].N: takes integers; use {"$search": "int", ...}',
    ),
    (
        "int-at-enum",
        net({"Activation": S("int", low=0, high=3)}),
        "Layers[1].Activation: takes a name or a boolean",
    ),
    (
        "at-a-name",
        net({"Name": S("choice", values=["A", "B"])}),
        "Layers[1].Name: a $search annotation may replace only a number or an enumerated value",
    ),
    (
        "bad-choice-name",
        net({"Activation": S("choice", values=["ReLU", "Sigmod"])}),
        "Did you mean 'Sigmoid'?",
    ),
    (
        "unknown-key-elsewhere",
        net({"N": S("int", low=8, high=64), "Activaton": "Tanh"}),
        "Layers[1]: unknown key 'Activaton'",
    ),
    (
        "nested-annotation",
        net({"N": S("choice", values=[8, S("int", low=1, high=4)])}),
        "Layers[1].N: values[1] is a nested $search annotation: conditional search spaces",
    ),
    (
        "conditional-slope",
        net(
            {
                "Activation": S("choice", values=["ReLU", "LReLU"]),
                "RELUSlope": S("float", low=0.01, high=0.3),
            }
        ),
        "Layers[1].RELUSlope: matters only when Layers[1].Activation is one of "
        "[LeakyRectifiedLinear], and "
        "Layers[1].Activation is itself searched over [ReLU, LReLU]: conditional search spaces",
    ),
    (
        "slope-without-effect",
        net({"Activation": "Sigmoid", "RELUSlope": S("float", low=0.01, high=0.3)}),
        "Layers[1].RELUSlope: a $search here has no effect",
    ),
    (
        "conditional-mu1",
        net(
            TrainingParameters={
                "Optimizer": S("choice", values=["SGD", "Adam"]),
                "Mu1": S("float", low=0.9, high=0.999),
            }
        ),
        "TrainingParameters.Mu1: matters only when TrainingParameters.Optimizer is one of [Adam]",
    ),
]


@pytest.mark.parametrize(("data", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_errors_name_the_json_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_annotated(data)
    assert message in str(info.value)


def test_error_names_the_file(tmp_path: Any) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(net({"N": S("int", low=9, high=3)})))
    with pytest.raises(ConfigError, match=f"^{path}: Layers\\[1\\].N: low must be less"):
        load_annotated(path)


def test_consistent_conditional_choice_is_accepted() -> None:
    cfg = load_annotated(
        net(
            {
                "Activation": S("choice", values=["ELU", "SELU"]),
                "ELUAlpha": S("float", low=0.5, high=2.0),
            }
        )
    )
    assert len(cfg.space) == 2
    assert to_dict(cfg.materialize({"Layers[1].Activation": "SELU", "Layers[1].ELUAlpha": 1.5}))


def test_annotated_loading_imports_no_torch() -> None:
    code = (
        "import sys, lamina.search.annotated, lamina.search.strategy;"
        "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
