"""Search distributions: validation in constructors, JSON round trip, unit-cube encoding."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from lamina.errors import ConfigError
from lamina.search.space import (
    ChoiceDist,
    Distribution,
    FloatDist,
    IntDist,
    SearchSpace,
    distribution_from_dict,
)

EVERY_DISTRIBUTION: list[Distribution] = [
    FloatDist(0.0, 1.0),
    FloatDist(1e-4, 1.0, log=True),
    IntDist(64, 1024, log=True),
    IntDist(0, 10, step=2),
    IntDist(-3, 3),
    ChoiceDist(("Sigmoid", "ReLU", "Tanh")),
    ChoiceDist((1, 2.5, True, "x")),
]


@pytest.mark.parametrize("dist", EVERY_DISTRIBUTION, ids=repr)
def test_json_round_trip(dist: Distribution) -> None:
    data = json.loads(json.dumps(dist.to_dict()))
    assert data["$search"] == dist.kind
    assert distribution_from_dict(data) == dist


BAD: list[tuple[dict[str, Any], str]] = [
    ({"$search": "float", "low": 1, "high": 1}, "low must be less than high. Got low=1, high=1."),
    ({"$search": "float", "low": 2, "high": 1}, "low must be less than high"),
    ({"$search": "float", "low": 0, "high": 1, "log": True}, "low must be > 0 when log is true"),
    ({"$search": "float", "low": "a", "high": 1}, "low must be a finite number. Got 'a'."),
    ({"$search": "float", "low": 0, "high": True}, "high must be a finite number"),
    ({"$search": "float", "low": 0, "high": 1, "log": 1}, "log must be true or false"),
    ({"$search": "int", "low": 0.5, "high": 4}, "low must be an integer. Got 0.5."),
    ({"$search": "int", "low": 4, "high": 4}, "low must be less than high"),
    ({"$search": "int", "low": 0, "high": 5, "step": 2}, "high - low must be a multiple of step"),
    ({"$search": "int", "low": 0, "high": 4, "step": 0}, "step must be an integer >= 1"),
    ({"$search": "int", "low": 0, "high": 4, "log": True}, "low must be >= 1 when log is true"),
    ({"$search": "int", "low": 1, "high": 5, "log": True, "step": 2}, "step must be 1 when log"),
    ({"$search": "choice", "values": []}, "values must be a non-empty array. Got []."),
    ({"$search": "choice", "values": "ReLU"}, "values must be a non-empty array"),
    ({"$search": "choice", "values": ["a", "a"]}, "values must be distinct. Got 'a' twice."),
    ({"$search": "choice", "values": [None]}, "values[0] must be a string, a number or a boolean"),
    ({"$search": "choice", "values": [[1, 2]]}, "values[0] must be a string, a number or"),
    (
        {"$search": "choice", "values": [1, {"$search": "int", "low": 1, "high": 2}]},
        "values[1] is a nested $search annotation: conditional search spaces are not supported",
    ),
    ({"$search": "flaot", "low": 0, "high": 1}, "Did you mean 'float'?"),
    ({"$search": "float", "low": 0, "hihg": 1}, "unknown key 'hihg'"),
    ({"$search": "float", "low": 0}, "$search 'float' needs the key 'high'"),
    ({"$search": "choice"}, "needs the key 'values'"),
]


@pytest.mark.parametrize(("data", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_distributions_name_the_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        distribution_from_dict(data, "Layers[1].N")
    assert info.value.message.startswith("Layers[1].N: ")
    assert message in info.value.message


def test_choice_values_distinguish_json_types() -> None:
    # 1 == True in Python, but they are different JSON values.
    assert ChoiceDist((1, True)).values == (1, True)
    assert not ChoiceDist((1,)).contains(True)


def test_keys_and_kind_match_case_insensitively() -> None:
    assert distribution_from_dict({"$Search": "Int", "LOW": 1, "High": 3}) == IntDist(1, 3)


def test_hand_computed_encodings() -> None:
    assert FloatDist(0.0, 10.0).encode(2.5) == pytest.approx([0.25])
    assert FloatDist(1e-4, 1.0, log=True).encode(1e-2) == pytest.approx([0.5])
    # int 0..3 spans [-0.5, 3.5]: 0 sits at the middle of the first quarter.
    assert IntDist(0, 3).encode(0) == pytest.approx([0.125])
    assert IntDist(0, 3).encode(3) == pytest.approx([0.875])
    assert IntDist(0, 4, step=2).encode(2) == pytest.approx([0.5])
    assert list(ChoiceDist(("a", "b", "c")).encode("b")) == [0.0, 1.0, 0.0]
    lo, hi = math.log(63.5), math.log(1024.5)
    assert IntDist(64, 1024, log=True).encode(64) == pytest.approx(
        [(math.log(64) - lo) / (hi - lo)]
    )


def test_int_slices_are_equal() -> None:
    dist = IntDist(1, 4)
    got = [dist.decode(np.array([u])) for u in np.linspace(0.001, 0.999, 400)]
    assert [got.count(v) for v in (1, 2, 3, 4)] == [100, 100, 100, 100]


@pytest.mark.parametrize("dist", EVERY_DISTRIBUTION, ids=repr)
def test_decode_inverts_encode_and_stays_inside(dist: Distribution) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        value = dist.decode(rng.random(dist.dims) * 1.4 - 0.2)  # also outside the cube
        assert dist.contains(value)
        again = dist.decode(dist.encode(value))
        assert (
            again == pytest.approx(value, rel=1e-12) if isinstance(value, float) else again == value
        )
    for value in dist.bounds():
        assert dist.decode(dist.encode(value)) == pytest.approx(value)


def test_search_space_encoding() -> None:
    space = SearchSpace(
        {
            "TrainingParameters.Alpha": FloatDist(1e-4, 1.0, log=True),
            "Layers[1].Activation": ChoiceDist(("Sigmoid", "ReLU", "Tanh")),
            "Layers[1].N": IntDist(8, 64, step=8),
        }
    )
    assert space.dim == 5
    a = {"TrainingParameters.Alpha": 0.01, "Layers[1].Activation": "Tanh", "Layers[1].N": 24}
    u = space.encode(a)
    assert u == pytest.approx([0.5, 0, 0, 1, (24 - 4) / 64])
    back = space.decode(u)
    assert back["Layers[1].Activation"] == "Tanh" and back["Layers[1].N"] == 24
    assert back["TrainingParameters.Alpha"] == pytest.approx(0.01)
    w = np.random.default_rng(1).random(5)
    assert space.project(space.project(w)) == pytest.approx(space.project(w))
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space


def test_search_space_checks_assignments() -> None:
    space = SearchSpace({"Layers[1].N": IntDist(8, 64, step=8)})
    with pytest.raises(ConfigError, match=r"Layers\[1\].N: 12 is outside"):
        space.encode({"Layers[1].N": 12})
    with pytest.raises(ConfigError, match=r"Missing: \['Layers\[1\].N'\]"):
        space.encode({})
    with pytest.raises(ConfigError, match=r"Layers\[2\].N: low must be less than high"):
        SearchSpace.from_dict({"Layers[2].N": {"$search": "int", "low": 3, "high": 1}})
