"""``lamina config validate|show|schema`` driven in-process, and the import-weight guarantees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lamina.cli.main import cli

IN = {"Name": "In", "Kind": "Input", "N": 8, "DataSet": "in"}
OUT = {"Name": "Out", "Kind": "Output", "N": 4, "DataSet": "out"}


def _net(*layers: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"Version": 0.8, **top, "Layers": [IN, *layers, OUT]}


def _h(name: str = "H", **keys: Any) -> dict[str, Any]:
    return {"Name": name, "Kind": "Hidden", "N": 4, **keys}


# (id, config as dict or raw text, substrings the error must contain)
MALFORMED: list[tuple[str, dict[str, Any] | str, list[str]]] = [
    ("unknown-top-key", dict(_net(), Layrs=[]), ["unknown key 'Layrs'", "Did you mean 'Layers'?"]),
    (
        "unknown-layer-key",
        _net(_h(Activaton="Tanh")),
        ["Layers[1]: unknown key 'Activaton'", "Did you mean 'Activation'?"],
    ),
    (
        "key-not-for-kind",
        {"Layers": [dict(IN, Activation="Tanh"), OUT]},
        ["Layers[0]: key 'Activation' is not allowed on Input layers"],
    ),
    (
        "source-on-input",
        {"Layers": [dict(IN, Source="Out"), OUT]},
        ["Layers[0]: key 'Source' is not allowed on Input layers"],
    ),
    ("unknown-lrn-key", _net(LRN={"kk": 1}), ["LocalResponseNormalization: unknown key 'kk'"]),
    ("unknown-maxout-key", _net(MaxOut={"n": 1}), ["MaxOut: unknown key 'n'"]),
    (
        "unknown-sparseness-key",
        _net(SparsenessPenalty={"rho": 1}),
        ["SparsenessPenalty: unknown key 'rho'"],
    ),
    (
        "unknown-layer-sparseness-key",
        _net(_h(SparsenessPenalty={"P": 0.1, "betta": 1})),
        ["Layers[1].SparsenessPenalty: unknown key 'betta'", "Did you mean 'beta'?"],
    ),
    ("unknown-denoising-key", _net(Denoising={"prob": 0.1}), ["Denoising: unknown key 'prob'"]),
    (
        "unknown-deltaboost-key",
        _net(DeltaBoost={"ones": 2}),
        ["DeltaBoost: unknown key 'ones'", "Did you mean 'one'?"],
    ),
    (
        "unknown-smce-key",
        _net(ScaledMarginalCrossEntropy={"oneTargets": 1}),
        ["ScaledMarginalCrossEntropy: unknown key 'oneTargets'", "Did you mean 'oneTarget'?"],
    ),
    (
        "unknown-dsmce-key",
        _net(DataScaledMarginalCrossEntropy={"scale": 1}),
        ["ScaledMarginalCrossEntropy: unknown key 'scale'"],
    ),
    (
        "unknown-weightinit-key",
        _net(_h(WeightInit={"Scheem": "Xavier"})),
        ["Layers[1].WeightInit: unknown key 'Scheem'", "Did you mean 'Scheme'?"],
    ),
    (
        "unknown-sharedweights-key",
        {
            "Layers": [
                IN,
                dict(
                    OUT,
                    SharedWeights={
                        "InputLayer": "In",
                        "SourceInputLayer": "In",
                        "SourceOutputLayer": "Out",
                        "Transpose": True,
                    },
                ),
            ]
        },
        ["Layers[1].SharedWeights: unknown key 'Transpose'", "Did you mean 'Transposed'?"],
    ),
    (
        "unknown-training-key",
        _net(TrainingParameters={"LearningRate": 0.1}),
        ["TrainingParameters: unknown key 'LearningRate'"],
    ),
    (
        "bad-activation",
        _net(_h(Activation="Sigmod")),
        [
            "Layers[1].Activation must be one of [Sigmoid, Tanh",
            "Got 'Sigmod'",
            "Did you mean 'Sigmoid'?",
        ],
    ),
    (
        "bad-error-function",
        _net(ErrorFunction="CrossEntrop"),
        ["ErrorFunction must be one of", "Did you mean 'CrossEntropy'?"],
    ),
    (
        "smce-spelling",
        _net(ErrorFunction="SMCE"),
        [
            "ErrorFunction must be one of",
            "Got 'SMCE'",
            "Did you mean 'ScaledMarginalCrossEntropy'?",
        ],
    ),
    ("bad-kind", _net(Kind="Recurrent"), ["Kind must be one of [FeedForward, AutoEncoder]"]),
    ("bad-layer-kind", _net(_h(Kind="Pooling")), ["Layers[1].Kind must be one of [Input, Hidden"]),
    (
        "bad-layer-type",
        _net(_h(Type="Convolution")),
        ["Layers[1].Type must be one of", "Did you mean 'Convolutional'?"],
    ),
    (
        "bad-init-scheme",
        _net(_h(WeightInit={"Scheme": "He"})),
        ["Layers[1].WeightInit.Scheme must be one of [Xavier"],
    ),
    (
        "bad-pooling-function",
        _net(_h(Type="Pooling", Function="Stochastic")),
        ["Layers[1].Function must be one of [Max"],
    ),
    (
        "bad-optimizer",
        _net(TrainingParameters={"Optimizer": "AdamW"}),
        ["TrainingParameters.Optimizer must be one of [SGD", "Did you mean 'Adam'?"],
    ),
    ("bool-as-number", _net(_h(pDropout=True)), ["Layers[1].pDropout must be a number"]),
    ("string-as-number", _net(Decay="0.1"), ["Decay must be a number. Got '0.1' (string)"]),
    ("number-as-bool", _net(ShuffleIndices=0), ["ShuffleIndices must be true or false"]),
    ("layers-not-list", {"Layers": 3}, ["Layers must be a JSON object (layer)"]),
    ("top-not-object", "[1, 2]", ["the top level must be a JSON object"]),
    (
        "n-five-dims",
        _net(_h(N=[1, 2, 3, 4, 5])),
        ["Layers[1].N must be an integer or an array of 1-4 integers. Got an array of 5"],
    ),
    ("n-zero", _net(_h(N=[3, 0])), ["Layers[1].N[1] must be an integer >= 1"]),
    ("n-other-string", _net(_h(N="big")), ["Layers[1].N must be", "or 'auto'. Got 'big'"]),
    ("n-fraction", _net(_h(N=2.5)), ["Layers[1].N must be an integer. Got 2.5"]),
    (
        "auto-on-hidden",
        _net(_h(N="auto")),
        ["Layers[1].N is 'auto', which is not allowed on a Hidden"],
    ),
    (
        "auto-without-dataset",
        {"Layers": [{"N": "auto"}, OUT]},
        ["Layers[0].N is 'auto' but Layers[0] has no DataSet"],
    ),
    (
        "unknown-source",
        _net(_h(Source="Ot")),
        ["Layers[1].Source: layer 'H' refers to unknown layer 'Ot'", "Did you mean 'Out'?"],
    ),
    (
        "unknown-skip",
        _net(_h(Skip="Nope")),
        ["Layers[1].Skip: layer 'H' refers to unknown layer 'Nope'"],
    ),
    (
        "source-cycle",
        _net(_h("A", Source="B"), _h("B", Source="A")),
        ["the Source/Skip connections form a cycle: A -> B -> A"],
    ),
    ("skip-cycle", _net(_h("A"), _h("B", Skip="C"), _h("C")), ["form a cycle: B -> C -> B"]),
    ("self-source", _net(_h("A", Source="A")), ["form a cycle: A -> A"]),
    (
        "duplicate-names",
        _net(_h("H"), _h("H")),
        ["Layers[2].Name: duplicate layer name 'H' is already used by Layers[1]"],
    ),
    (
        "duplicate-default-name",
        {"Layers": [IN, _h("Hidden2"), {"N": 3}, OUT]},
        ["Layers[2]: the default name 'Hidden2' is already used by Layers[1]"],
    ),
    ("version-too-low", _net(Version=0.6), ["Version must be at least 0.7. Got 0.6"]),
    (
        "function-on-fc",
        _net(_h(Function="Max")),
        ["Layers[1].Function is only allowed on layers with Type Pooling"],
    ),
    (
        "pooling-without-function",
        _net(_h(Type="Pooling")),
        ["Layers[1].Function is required on a Pooling layer"],
    ),
    (
        "dot-product-one-source",
        _net(_h(Type="Pooling", Function="DotProduct")),
        ["Layers[1].Source: a DotProduct layer needs 2 or more sources"],
    ),
    (
        "both-decay",
        _net(Decay=0.1, TrainingParameters={"Decay": 0.2}),
        ["Decay and TrainingParameters.Decay are both set"],
    ),
    (
        "training-alpha-zero",
        _net(TrainingParameters={"Alpha": 0}),
        ["TrainingParameters.Alpha must be a number > 0. Got 0"],
    ),
    (
        "training-mu-one",
        _net(TrainingParameters={"Mu": 1.0}),
        ["TrainingParameters.Mu must be a number in [0, 1). Got 1.0"],
    ),
    (
        "training-batch-zero",
        _net(TrainingParameters={"Batch": 0}),
        ["TrainingParameters.Batch must be an integer >= 1"],
    ),
    (
        "training-lambda-negative",
        _net(TrainingParameters={"Lambda": -1}),
        ["TrainingParameters.Lambda must be a number >= 0"],
    ),
    ("dropout-one", _net(_h(pDropout=1)), ["Layers[1].pDropout must be a number in [0, 1)"]),
    ("denoising-one", _net(Denoising={"p": 1}), ["Denoising.p must be a number in [0, 1)"]),
    (
        "case-duplicate-keys",
        '{"Layers": [{"N": 2}, {"N": 2}], "layers": []}',
        ["keys 'Layers' and 'layers' set the same field"],
    ),
    (
        "alias-duplicate-keys",
        _net(Slope=0.1, RELUSlope=0.2),
        ["keys 'Slope' and 'RELUSlope' set the same field"],
    ),
    (
        "shared-input-not-a-source",
        _net(
            _h("A"),
            _h(
                "B",
                SharedWeights={
                    "InputLayer": "In",
                    "SourceInputLayer": "In",
                    "SourceOutputLayer": "A",
                },
            ),
        ),
        ["Layers[2].SharedWeights[0].InputLayer must be one of this layer's sources ['A']"],
    ),
    (
        "shared-matrix-missing",
        _net(
            _h("A"),
            _h(
                "B",
                SharedWeights={
                    "InputLayer": "A",
                    "SourceInputLayer": "Out",
                    "SourceOutputLayer": "A",
                },
            ),
        ),
        ["Layers[2].SharedWeights[0]: there is no weight matrix 'Out' -> 'A' to share"],
    ),
    (
        "skip-size-mismatch",
        _net(_h("A", N=4), _h("B", N=5, Skip="A")),
        ["Layers[2].Skip: a skip connection adds 'A' (4 units) to 'B' (5 units)"],
    ),
    ("empty-layers", {"Layers": []}, ["Layers must contain at least one layer"]),
    ("missing-layers", {"Version": 0.8}, ["missing required key 'Layers'"]),
    (
        "bad-json",
        '{\n  "Version": 0.8,\n  "Layers": [\n    {"N": 2}\n    {"N": 2}\n  ]\n}',
        [":5:5: invalid JSON: Expecting ',' delimiter"],
    ),
    ("nan-not-json", '{"Version": NaN, "Layers": [{"N": 2}]}', ["invalid JSON: NaN is not valid"]),
]


def _write(tmp_path: Path, name: str, config: dict[str, Any] | str) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config, indent=1))
    return path


@pytest.mark.parametrize(
    ("config", "expected"), [pytest.param(c, e, id=i) for i, c, e in MALFORMED]
)
def test_validate_rejects_malformed_config_with_path_and_exit_2(
    tmp_path: Path, config: dict[str, Any] | str, expected: list[str]
) -> None:
    path = _write(tmp_path, "net", config)
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}")
    for text in expected:
        assert text in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_validate_reports_each_file(repo_root: Path, tmp_path: Path) -> None:
    good = [str(p) for p in sorted((repo_root / "examples" / "configs").glob("*.json"))]
    bad = _write(tmp_path, "bad", _net(ErrorFunction="SMCE"))
    result = CliRunner().invoke(cli, ["config", "validate", *good, str(bad)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [f"{p}: ok" for p in good]
    assert result.stderr.count("error:") == 1 and str(bad) in result.stderr


@pytest.mark.shared
def test_validate_accepts_every_dsstne_example(shared_dir: Path) -> None:
    paths = [str(p) for p in sorted((shared_dir / "dsstne-examples" / "configs").glob("*.json"))]
    result = CliRunner().invoke(cli, ["config", "validate", *paths])
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(paths) >= 10


def test_show_prints_every_default_and_resolves_auto(repo_root: Path) -> None:
    path = repo_root / "examples" / "configs" / "autoencoder.json"
    result = CliRunner().invoke(
        cli, ["config", "show", str(path), "--width", "gl_input=256", "--width", "gl_output=256"]
    )
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["ScaledMarginalCrossEntropy"]["oneTarget"] == 0.9  # a default, written out
    assert shown["ShuffleIndices"] is True
    assert [layer["N"] for layer in shown["Layers"]] == [[256], [128], [256]]
    assert shown["Layers"][1]["WeightInit"] == {"Scheme": "Xavier", "Scale": 1.0, "Bias": 0.0}
    assert shown["TrainingParameters"] == {
        "Optimizer": "Adam",
        "Alpha": 0.01,
        "Batch": 256,
        "Epochs": 10,
    }
    unresolved = CliRunner().invoke(cli, ["config", "show", str(path)])
    assert json.loads(unresolved.stdout)["Layers"][0]["N"] == "auto"


@pytest.mark.parametrize(
    ("widths", "message"),
    [
        (["gl_input=x"], "--width expects DATASET=WIDTH"),
        (["nope=3"], "no layer of"),
        (["gl_input=3"], "unable to find data set 'gl_output'"),
    ],
)
def test_show_rejects_bad_widths(repo_root: Path, widths: list[str], message: str) -> None:
    path = repo_root / "examples" / "configs" / "autoencoder.json"
    args = [a for w in widths for a in ("--width", w)]
    result = CliRunner().invoke(cli, ["config", "show", str(path), *args])
    assert result.exit_code == 2 and message in result.stderr


def test_schema_prints_the_json_schema() -> None:
    from lamina.config import json_schema

    result = CliRunner().invoke(cli, ["config", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json_schema()


_IMPORT_CHECK = """
import sys
{body}
heavy = sorted(m for m in ("torch", "ray") if m in sys.modules)
print(",".join(heavy) or "none")
"""


@pytest.mark.parametrize(
    "body",
    [
        "import lamina.config",
        "from click.testing import CliRunner\nfrom lamina.cli.main import cli\n"
        "r = CliRunner().invoke(cli, ['config', 'validate', {path!r}])\nassert r.exit_code == 0",
        "from click.testing import CliRunner\nfrom lamina.cli.main import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\nassert r.exit_code == 0",
    ],
    ids=["import", "validate", "help"],
)
def test_config_commands_import_neither_torch_nor_ray(repo_root: Path, body: str) -> None:
    path = str(repo_root / "examples" / "configs" / "kitchen_sink.json")
    code = _IMPORT_CHECK.format(body=body.format(path=path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "none"
