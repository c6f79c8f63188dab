"""Weight-init distributions (bounds, means, standard deviations) with DSSTNE's bugs fixed."""

from __future__ import annotations

import math

import pytest
import torch
from conformance import hidden, inp, network, output

from lamina.config.enums import WeightInitScheme as S
from lamina.config.model import WeightInit
from lamina.nn import build_network
from lamina.nn.init import init_weight

N_IN, N_OUT = 300, 200


def draw(scheme: S, scale: float = 1.0) -> torch.Tensor:
    w = torch.empty(N_IN, N_OUT)
    init_weight(
        w,
        WeightInit(scheme, scale),
        fan_in=N_IN,
        fan_out=N_OUT,
        generator=torch.Generator().manual_seed(0),
    )
    return w


def uniform_std(lo: float, hi: float) -> float:
    return (hi - lo) / math.sqrt(12)


@pytest.mark.parametrize(
    ("scheme", "scale", "lo", "hi"),
    [
        (S.XAVIER, 2.0, -2.0 * math.sqrt(6 / (N_IN + N_OUT)), 2.0 * math.sqrt(6 / (N_IN + N_OUT))),
        (S.CAFFE_XAVIER, 0.5, -0.5 * math.sqrt(3 / N_OUT), 0.5 * math.sqrt(3 / N_OUT)),
        (S.UNIFORM, 0.3, -0.3, 0.3),
        (S.UNIT_BALL, 0.7, 0.0, 0.7),
    ],
)
def test_uniform_schemes_fill_their_whole_interval(
    scheme: S, scale: float, lo: float, hi: float
) -> None:
    w = draw(scheme, scale)
    width = hi - lo
    assert w.min() >= lo and w.max() <= hi
    assert w.min() < lo + 0.01 * width and w.max() > hi - 0.01 * width  # full width, not half
    assert w.mean().item() == pytest.approx((lo + hi) / 2, abs=0.01 * width)
    assert w.std().item() == pytest.approx(uniform_std(lo, hi), rel=0.02)


@pytest.mark.parametrize(
    ("scheme", "scale", "std"), [(S.GAUSSIAN, 0.05, 0.05), (S.SELU, 2.0, 2.0 * math.sqrt(1 / N_IN))]
)
def test_normal_schemes(scheme: S, scale: float, std: float) -> None:
    w = draw(scheme, scale)
    assert w.mean().item() == pytest.approx(0.0, abs=0.02 * std)
    assert w.std().item() == pytest.approx(std, rel=0.02)


def test_constant_is_plus_scale_and_biases_are_bias() -> None:
    init = WeightInit(S.CONSTANT, 0.25, bias=-10.2)
    net = build_network(
        network(inp(n=(3,)), output("Output", 4, ("Input",), weight_init=init)), seed=0
    )
    assert torch.all(net.layer("Output").weights["Input"] == 0.25)
    assert torch.allclose(net.layer("Output").biases["Input"], torch.tensor(-10.2))


def test_seed_makes_init_reproducible_and_fans_are_layer_strides() -> None:
    cfg = network(inp(n=(50,)), hidden("H", 30, ("Input",)), output("Output", 10, ("H",)))
    a, b, c = (build_network(cfg, seed=s) for s in (7, 7, 8))
    for (_, p), (_, q), (_, r) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters(), strict=True
    ):
        assert torch.equal(p, q)
        assert p.numel() == 1 or not torch.equal(p, r) or p.abs().sum() == 0
    bound = math.sqrt(6 / (50 + 30))  # Xavier default on the 50 -> 30 connection
    w = a.layer("H").weights["Input"]
    assert w.shape == (50, 30) and w.abs().max() <= bound and w.abs().max() > 0.9 * bound
