"""Every config round-trips through ``to_dict``/``from_dict`` and validates against
``json_schema()``.

The configs: DSSTNE's own examples (when ../shared is present), the repo's examples/configs, and
generated fixtures covering every key, alias, activation, error function, init scheme, pooling
function, optimizer, shared weights, skips, multi-source layers and TrainingParameters.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lamina.config import NetworkConfig, from_dict, json_schema, load_config, to_dict
from lamina.config.enums import (
    ACTIVATIONS,
    ERROR_FUNCTIONS,
    LAYER_TYPES,
    NETWORK_KINDS,
    OPTIMIZERS,
    POOLING_FUNCTIONS,
    WEIGHT_INITS,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_CONFIGS = (REPO / ".." / "shared" / "dsstne-examples" / "configs").resolve()

IN = {"Name": "In", "Kind": "Input", "N": 8, "DataSet": "in", "Sparse": True}


def _net(layers: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"Version": 0.8, **top, "Layers": [IN, *layers]}


def _hidden(name: str = "H", **keys: Any) -> dict[str, Any]:
    return {"Name": name, "Kind": "Hidden", "N": 6, **keys}


def _out(**keys: Any) -> dict[str, Any]:
    return {"Name": "Out", "Kind": "Output", "N": 4, "DataSet": "out", **keys}


def _generated() -> dict[str, dict[str, Any]]:
    """name -> config dict, all in canonical spellings (they must validate against the schema)."""
    cases: dict[str, dict[str, Any]] = {}
    for s in ACTIVATIONS.all_spellings():
        cases[f"activation-{s}"] = _net([_hidden(Activation=s), _out(Activation=s)])
    for s in ERROR_FUNCTIONS.all_spellings():
        cases[f"error-{s}"] = _net([_out()], ErrorFunction=s)
    for s in WEIGHT_INITS.all_spellings():
        init = {"Scheme": s, "Scale": 0.5, "Bias": -1}
        cases[f"init-{s}"] = _net([_hidden(WeightInit=init), _out(WeightInit={"Scheme": s})])
    for s in POOLING_FUNCTIONS.all_spellings():
        pool = {"Name": "P", "Kind": "Hidden", "Type": "Pooling", "Function": s}
        pool["Source"] = ["A", "B"] if s in ("DotProduct", "Cosine") else "A"
        layers = [_hidden("A"), _hidden("B", Source="In"), pool, _out(Source="A")]
        cases[f"pooling-{s}"] = _net(layers)
    for s in OPTIMIZERS.all_spellings():
        cases[f"optimizer-{s}"] = _net([_out()], TrainingParameters={"Optimizer": s})
    for s in NETWORK_KINDS.all_spellings():
        cases[f"kind-{s}"] = _net([_out()], Kind=s)
    for s in LAYER_TYPES.all_spellings():
        extra = {"Function": "Max"} if s == "Pooling" else {}
        cases[f"type-{s}"] = _net([_hidden(Type=s, Kernel=[3, 3], KernelStride=[1, 1], **extra)])
    cases["aliases-lrn-dsmce-slope"] = _net(
        [_hidden(Slope=0.3, Activation="LeakyRectifiedLinear"), _out()],
        LRN={"k": 1, "n": 3, "alpha": 0.001, "beta": 0.5},
        DataScaledMarginalCrossEntropy={"oneTarget": 1, "zeroTarget": 0},
        Slope=0.01,
        ErrorFunction="DataScaledMarginalCrossEntropy",
    )
    cases["top-level-decay"] = _net([_out()], Decay=0.01, TrainingParameters={"Alpha": 0.1})
    cases["single-layer-object"] = {"Version": 0.8, "Layers": dict(IN, N=[2, 3, 4, 5])}
    cases["multi-source-skip"] = _net(
        [
            _hidden("A"),
            _hidden("B", Source="In"),
            _hidden("C", Source=["A", "B"], Skip=["A", "B"]),
            _out(Source=["C", "A"], Skip="C", N=6),
        ]
    )
    cases["shared-weights-list"] = _net(
        [
            _hidden("Enc", N=5),
            _out(
                Source=["Enc", "In"],
                N=8,
                SharedWeights=[
                    {
                        "InputLayer": "Enc",
                        "SourceInputLayer": "In",
                        "SourceOutputLayer": "Enc",
                        "Transposed": True,
                    },
                    {"InputLayer": "In", "SourceInputLayer": "In", "SourceOutputLayer": "Enc"},
                ],
            ),
        ]
    )
    cases["target-and-dangling"] = _net(
        [_hidden("Unused"), _out(Source="In"), {"Kind": "Target", "N": 4, "Source": "Out"}]
    )
    cases["all-training-parameters"] = _net(
        [_out()],
        TrainingParameters={
            "Optimizer": "RMSProp",
            "Alpha": 0.001,
            "Lambda": 0.01,
            "Lambda1": 0.001,
            "Mu": 0.5,
            "Mu1": 0.9,
            "Batch": 32,
            "Epochs": 2,
            "Decay": 0.1,
            "CheckpointInterval": 0,
        },
    )
    return cases


GENERATED = _generated()
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def _case_variant(data: Any) -> Any:
    """Same config with every key and enum string in other letter cases (DSSTNE ignores case)."""
    if isinstance(data, dict):
        return {
            k.upper() if i % 2 else k.lower(): _case_variant(v)
            for i, (k, v) in enumerate(data.items())
        }
    if isinstance(data, list):
        return [_case_variant(v) for v in data]
    return data


def _all_sources() -> list[Any]:
    params = [pytest.param(d, id=f"generated-{n}") for n, d in GENERATED.items()]
    params.append(pytest.param(_case_variant(GENERATED["multi-source-skip"]), id="case-variant"))
    for path in sorted((REPO / "examples" / "configs").glob("*.json")):
        params.append(pytest.param(path, id=f"example-{path.name}"))
    if SHARED_CONFIGS.is_dir():
        for path in sorted(SHARED_CONFIGS.glob("*.json")):
            params.append(pytest.param(path, id=f"dsstne-{path.name}", marks=pytest.mark.shared))
    return params


@pytest.mark.parametrize("source", _all_sources())
def test_from_dict_of_to_dict_is_identity(source: Any) -> None:
    config = load_config(copy.deepcopy(source) if isinstance(source, dict) else source)
    data = to_dict(config)
    assert json.loads(json.dumps(data)) == data  # JSON-native
    assert from_dict(data) == config
    assert NetworkConfig.from_dict(config.to_dict()) == config
    VALIDATOR.validate(data)  # what Lamina writes is in the language


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_fixtures_validate_against_schema(name: str) -> None:
    VALIDATOR.validate(GENERATED[name])


def test_example_configs_validate_against_schema(repo_root: Path) -> None:
    paths = sorted((repo_root / "examples" / "configs").glob("*.json"))
    assert {p.name for p in paths} >= {"autoencoder.json", "classifier.json", "kitchen_sink.json"}
    for path in paths:
        VALIDATOR.validate(json.loads(path.read_text()))


def test_schema_is_valid_draft_2020_12_and_rejects_what_the_parser_rejects() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = GENERATED["multi-source-skip"]
    assert validator.is_valid(good)
    bad_key = dict(good, Layrs=[])
    bad_enum = _net([_out(Activation="Sigmod")])
    source_on_input = {"Version": 0.8, "Layers": [dict(IN, Source="X"), _out()]}
    smce_short = _net([_out()], ErrorFunction="SMCE")
    bad_training = _net([_out()], TrainingParameters={"Mu": 1.0})
    for bad in (bad_key, bad_enum, source_on_input, smce_short, bad_training):
        assert not validator.is_valid(bad)
        with pytest.raises(Exception, match=r"."):
            load_config(bad)


def test_schema_enums_come_from_the_registries() -> None:
    layer = json_schema()["properties"]["Layers"]["anyOf"][1]
    assert layer["properties"]["Activation"]["enum"] == ACTIVATIONS.all_spellings()
    top = json_schema()["properties"]
    assert top["ErrorFunction"]["enum"] == ERROR_FUNCTIONS.all_spellings()
    assert (
        top["TrainingParameters"]["properties"]["Optimizer"]["enum"] == OPTIMIZERS.all_spellings()
    )
    assert top["ScaledMarginalCrossEntropy"]["properties"]["oneTarget"]["default"] == 0.9
