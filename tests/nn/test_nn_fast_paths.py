"""The bias-folded dense FullyConnected path (lamina.nn.affine) against float64 references."""

from __future__ import annotations

import pytest
import torch
from conformance import hidden, inp, network, output

from lamina.config.enums import Activation
from lamina.nn import affine, build_network
from lamina.nn.affine import _grad_input, affine_parameters, dense_affine, fused_buffer
from lamina.nn.layers import FullyConnected


def _reference(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dz: torch.Tensor) -> tuple:
    """float64 Z = X W + b and the gradients of sum(Z * dZ) w.r.t. X, W, b."""
    x64, w64, b64 = (t.detach().double().requires_grad_() for t in (x, w, b))
    z = x64 @ w64 + b64
    z.backward(dz.double())
    return z, x64.grad, w64.grad, b64.grad


def _close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    actual, expected = actual.detach().double(), expected.detach()
    assert float((actual - expected).abs().max()) <= 2e-6 * float(expected.abs().max())


def _params(n_in: int, n_out: int, seed: int) -> tuple[torch.nn.Parameter, torch.nn.Parameter]:
    w, b = affine_parameters(n_in, n_out)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w.copy_(torch.randn(n_in, n_out, generator=gen))
        b.copy_(torch.randn(n_out, generator=gen))
    return w, b


def test_affine_parameters_share_one_buffer() -> None:
    w, b = affine_parameters(4, 3)
    assert w.shape == (4, 3) and b.shape == (3,) and w.is_leaf and b.is_leaf
    wb = fused_buffer(w, b)
    assert wb is not None and wb.shape == (5, 3)
    with torch.no_grad():
        w.fill_(1.0)
        b.fill_(2.0)
    assert torch.equal(wb, torch.cat([torch.ones(4, 3), torch.full((1, 3), 2.0)]))
    assert fused_buffer(w.detach().clone(), b) is None  # separate storages: no fusion
    assert fused_buffer(w.detach().t(), b) is None


@pytest.mark.parametrize("fused", [True, False])
def test_dense_affine_matches_float64(fused: bool) -> None:
    w, b = _params(37, 301, seed=0)
    if not fused:  # the addmm fallback, same parameters in separate storages
        w, b = (torch.nn.Parameter(t.detach().clone()) for t in (w, b))
    assert (fused_buffer(w, b) is not None) == fused
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(9, 37, generator=gen).requires_grad_()
    dz = torch.randn(9, 301, generator=gen)
    z = dense_affine(x, w, b)
    z.backward(dz)
    z_ref, gx, gw, gb = _reference(x, w, b, dz)
    for actual, expected in ((z, z_ref), (x.grad, gx), (w.grad, gw), (b.grad, gb)):
        _close(actual, expected)


def test_grad_input_onednn_equals_mkl_path(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(2)
    dz, w = torch.randn(16, 500, generator=gen), torch.randn(24, 500, generator=gen)
    expected = dz.double() @ w.double().t()
    monkeypatch.setattr(affine, "_ONEDNN_MIN_MACS", 0)  # oneDNN even for this small product
    _close(_grad_input(dz, w), expected)
    monkeypatch.setattr(affine, "_onednn_enabled", lambda: False)  # the torch.mm path
    _close(_grad_input(dz, w), expected)


def test_gradients_accumulate_and_only_needed_ones_are_computed() -> None:
    w, b = _params(5, 7, seed=3)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(4))  # no grad for the data
    dz = torch.ones(4, 7)
    for _ in range(2):
        dense_affine(x, w, b).backward(dz)
    _, _, gw, gb = _reference(x, w, b, dz)
    _close(w.grad, 2 * gw)
    _close(b.grad, 2 * gb)


def test_fully_connected_uses_fused_buffers_and_survives_load_state_dict() -> None:
    sig = {"activation": Activation.SIGMOID}
    cfg = network(
        inp(n=(6,)), hidden("H", 5, ("Input",), **sig), output("Output", 4, ("H",), **sig)
    )
    net, other = build_network(cfg, seed=5), build_network(cfg, seed=6)
    other.load_state_dict(net.state_dict())
    hid, out = (m for m in other.modules() if isinstance(m, FullyConnected))
    for layer, key in ((hid, "Input"), (out, "H")):
        assert fused_buffer(layer.weights[key], layer.biases[key]) is not None
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(7))
    a = other({"Input": x}).activations["Output"]
    assert torch.equal(a, net({"Input": x}).activations["Output"])
    w1, b1 = (t.detach().double() for t in (hid.weights["Input"], hid.biases["Input"]))
    w2, b2 = (t.detach().double() for t in (out.weights["H"], out.biases["H"]))
    _close(a, torch.sigmoid(torch.sigmoid(x.double() @ w1 + b1) @ w2 + b2))


def test_adam_step_on_fused_parameters_equals_separate_parameters() -> None:
    w, b = _params(8, 6, seed=8)
    w2, b2 = (torch.nn.Parameter(t.detach().clone()) for t in (w, b))
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(9))
    opts = [torch.optim.Adam(ps, lr=1e-2, fused=True) for ps in ([w, b], [w2, b2])]
    for _ in range(3):
        for opt, (pw, pb) in zip(opts, ((w, b), (w2, b2)), strict=True):
            opt.zero_grad(set_to_none=True)
            dense_affine(x, pw, pb).square().sum().backward()
            opt.step()
    assert fused_buffer(w, b) is not None and fused_buffer(w2, b2) is None
    assert torch.allclose(w, w2, atol=1e-6) and torch.allclose(b, b2, atol=1e-6)
