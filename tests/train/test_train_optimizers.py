"""Every optimizer against a NumPy transcription of spec 2.6's table (DSSTNE's sign convention:
G = -gradient, weights decayed, biases not), three steps; resume through state_dict."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from lamina.config.enums import Optimizer
from lamina.errors import ConfigError
from lamina.train.optimizers import OPTIMIZER_CLASSES, make_optimizer

ALPHA, LAM, LAM1, MU, MU1 = 0.05, 0.01, 0.002, 0.8, 0.95
EPS = 1e-9


def reference(mode: Optimizer, w, b, grads_w, grads_b, t_offset: int = 0):
    """kernels.cu update rules, written in DSSTNE's variables (spec 2.6)."""
    w, b = w.copy(), b.copy()
    vw, vb = np.zeros_like(w), np.zeros_like(b)  # velocity / first moment
    sw, sb = np.zeros_like(w), np.zeros_like(b)  # second moment / gradient velocity
    for step, (gw, gb) in enumerate(zip(grads_w, grads_b, strict=True), start=1):
        G = -gw  # DSSTNE's weight "gradient" is the negative mean gradient
        g = G - LAM * w - LAM1 * np.sign(w)  # decayed, in DSSTNE's (descent) direction
        if mode == Optimizer.SGD:
            w = w + ALPHA * g
            b = b - ALPHA * gb
        elif mode == Optimizer.MOMENTUM:
            vw = MU * vw + ALPHA * g
            w = w + vw
            vb = MU * vb - ALPHA * gb
            b = b + vb
        elif mode == Optimizer.NESTEROV:
            vw_new = MU * vw + ALPHA * g
            w = w + vw_new + MU * (vw_new - vw)
            vw = vw_new
            vb_new = MU * vb - ALPHA * gb
            b = b + vb_new + MU * (vb_new - vb)
            vb = vb_new
        elif mode == Optimizer.ADAGRAD:
            vw = vw + g * g
            w = w + ALPHA * g / np.sqrt(np.maximum(EPS, vw))
            vb = vb + gb * gb
            b = b - ALPHA * gb / np.sqrt(np.maximum(EPS, vb))
        elif mode == Optimizer.RMSPROP:
            vw = MU * vw + (1 - MU) * g * g
            w = w + ALPHA * g / np.sqrt(np.maximum(EPS, vw))
            vb = MU * vb + (1 - MU) * gb * gb
            b = b - ALPHA * gb / np.sqrt(np.maximum(EPS, vb))
        elif mode == Optimizer.ADADELTA:  # v = delta velocity, s = gradient velocity
            sw = MU * sw + (1 - MU) * g * g
            dw = np.sqrt(np.maximum(EPS, vw) / np.maximum(EPS, sw)) * g
            vw = MU * vw + (1 - MU) * dw * dw
            w = w + dw
            sb = MU * sb + (1 - MU) * gb * gb
            db = np.sqrt(np.maximum(EPS, vb) / np.maximum(EPS, sb)) * gb
            vb = MU * vb + (1 - MU) * db * db
            b = b - db
        elif mode == Optimizer.ADAM:
            t = step + t_offset
            vw = MU * vw + (1 - MU) * g
            sw = MU1 * sw + (1 - MU1) * g * g
            w = w + ALPHA * (vw / (1 - MU**t)) / (np.sqrt(sw / (1 - MU1**t)) + 1e-8)
            vb = MU * vb + (1 - MU) * gb
            sb = MU1 * sb + (1 - MU1) * gb * gb
            b = b - ALPHA * (vb / (1 - MU**t)) / (np.sqrt(sb / (1 - MU1**t)) + 1e-8)
    return w, b


def problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(3, 2))
    w[0, 0] = 0.0  # sgn(0) = 0: no L1 push
    b = rng.normal(size=2)
    grads_w = [rng.normal(size=(3, 2)) for _ in range(3)]
    grads_b = [rng.normal(size=2) for _ in range(3)]
    return w, b, grads_w, grads_b


def build(mode: Optimizer, w: np.ndarray, b: np.ndarray, t_offset: int = 0):
    pw = torch.nn.Parameter(torch.tensor(w))
    pb = torch.nn.Parameter(torch.tensor(b))
    opt = make_optimizer(
        mode,
        [pw],
        [pb],
        alpha=ALPHA,
        lambda_l2=LAM,
        lambda_l1=LAM1,
        mu=MU,
        mu1=MU1,
        adam_t_offset=t_offset,
    )
    return pw, pb, opt


def run(opt, pw, pb, grads_w, grads_b) -> None:
    for gw, gb in zip(grads_w, grads_b, strict=True):
        pw.grad, pb.grad = torch.tensor(gw), torch.tensor(gb)
        opt.step()


@pytest.mark.parametrize("mode", list(Optimizer), ids=lambda m: m.name)
def test_three_steps_match_spec_table(mode: Optimizer) -> None:
    w, b, gws, gbs = problem()
    pw, pb, opt = build(mode, w, b)
    assert type(opt) is OPTIMIZER_CLASSES[mode]
    run(opt, pw, pb, gws, gbs)
    ref_w, ref_b = reference(mode, w, b, gws, gbs)
    np.testing.assert_allclose(pw.detach().numpy(), ref_w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pb.detach().numpy(), ref_b, rtol=1e-10, atol=1e-12)
    assert not np.allclose(ref_w, w)  # the step did something


def test_adam_t_offset_reproduces_dsstne_first_step_t2() -> None:
    w, b, gws, gbs = problem(1)
    pw, pb, opt = build(Optimizer.ADAM, w, b, t_offset=1)
    run(opt, pw, pb, gws, gbs)
    ref_w, _ = reference(Optimizer.ADAM, w, b, gws, gbs, t_offset=1)
    np.testing.assert_allclose(pw.detach().numpy(), ref_w, rtol=1e-10)
    std_w, _ = reference(Optimizer.ADAM, w, b, gws, gbs, t_offset=0)
    assert not np.allclose(ref_w, std_w)


@pytest.mark.parametrize("mode", list(Optimizer), ids=lambda m: m.name)
def test_resume_through_state_dict(mode: Optimizer) -> None:
    w, b, gws, gbs = problem(2)
    pw, pb, opt = build(mode, w, b)
    run(opt, pw, pb, gws[:2], gbs[:2])
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "w": pw.detach(), "b": pb.detach()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    run(opt, pw, pb, gws[2:], gbs[2:])  # uninterrupted third step

    pw2, pb2, opt2 = build(mode, saved["w"].numpy(), saved["b"].numpy())
    opt2.load_state_dict(saved["opt"])
    run(opt2, pw2, pb2, gws[2:], gbs[2:])
    torch.testing.assert_close(pw2.detach(), pw.detach(), rtol=0, atol=0)
    torch.testing.assert_close(pb2.detach(), pb.detach(), rtol=0, atol=0)


def test_make_optimizer_names_groups_and_errors() -> None:
    pw, pb = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = make_optimizer("rmsprop", [pw], [pb], alpha=0.1, lambda_l2=0.5)
    assert type(opt) is OPTIMIZER_CLASSES[Optimizer.RMSPROP]
    assert [g["lambda_l2"] for g in opt.param_groups] == [0.5, 0.0]
    with pytest.raises(ConfigError, match="Did you mean 'Adam'"):
        make_optimizer("adma", [pw], [pb], alpha=0.1)


def test_sparse_gradient_equals_dense() -> None:
    dense = torch.zeros(4, 2)
    dense[1] = torch.tensor([1.0, -2.0])
    pa = torch.nn.Parameter(torch.ones(4, 2))
    pb = torch.nn.Parameter(torch.ones(4, 2))
    oa = make_optimizer("sgd", [pa], [], alpha=0.1, lambda_l2=0.1)
    ob = make_optimizer("sgd", [pb], [], alpha=0.1, lambda_l2=0.1)
    pa.grad, pb.grad = dense.clone(), dense.to_sparse()
    oa.step()
    ob.step()
    torch.testing.assert_close(pa.detach(), pb.detach())
    assert copy.deepcopy(oa.state_dict())["param_groups"][0]["name"] == "weights"
