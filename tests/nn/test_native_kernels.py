"""lamina.nn.native: the C kernels against torch/float64 references, the build cache, the fallback.

Every kernel must agree with its pure-torch twin (and with float64 math) to float32 rounding,
including edge logits (0, +-30, +-88, +-100, -104); a missing or broken compiler, or
``LAMINA_NATIVE=0``, must give the torch path without an error; concurrent builds must be safe.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lamina.data.batch import SparseBatch
from lamina.nn.native import build, ops, sigmoid_training, sparse_affine, stashed_softplus_rows

EDGES = [0.0, -0.0, 1e-3, -1e-3, 30.0, -30.0, 88.0, -88.0, 100.0, -100.0, -104.0, 20.0, -20.0]


@pytest.fixture
def torch_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LAMINA_NATIVE", "0")
    build.reset()
    yield
    build.reset()


def _logits(b: int = 7, n: int = 1000, seed: int = 0) -> torch.Tensor:
    z = 6.0 * torch.randn(b, n, generator=torch.Generator().manual_seed(seed))
    z[0, : len(EDGES)] = torch.tensor(EDGES)
    return z  # (B, N) float32, N not a multiple of 16 nor of the 256-unit block


def test_sigmoid_softplus_matches_float64(native: None) -> None:
    z = _logits()
    a, rows = ops.sigmoid_softplus(z)
    z64 = z.double()
    torch.testing.assert_close(a.double(), torch.sigmoid(z64), rtol=3e-7, atol=1e-30)
    torch.testing.assert_close(rows, F.softplus(z64, threshold=1e9).sum(1), rtol=1e-7, atol=0)
    torch.testing.assert_close(ops.sigmoid(z), a, rtol=0, atol=0)


def test_softplus_rows_masked_and_not(native: None) -> None:
    z = _logits(seed=1)
    a = torch.sigmoid(z)
    expected = F.softplus(z.double(), threshold=1e9)
    torch.testing.assert_close(ops.softplus_rows(z), expected.sum(1), rtol=1e-7, atol=0)
    masked = torch.where(a > 0.1, expected, 0.0).sum(1)
    torch.testing.assert_close(ops.softplus_rows(z, a, 0.1), masked, rtol=1e-7, atol=0)


@pytest.mark.parametrize("zero_target", [None, 0.3])
def test_scale_rows_with_listed_fixes(native: None, zero_target: float | None) -> None:
    gen = torch.Generator().manual_seed(2)
    a = torch.rand(5, 300, generator=gen)
    s = torch.randn(5, generator=gen)
    offsets = torch.tensor([0, 3, 3, 7, 8, 10])
    cols = torch.tensor([1, 17, 299, 0, 5, 6, 250, 42, 3, 3])  # row 4 lists column 3 twice
    fix = torch.randn(10, generator=gen)
    got = ops.scale_rows(a, s, zero_target, listed=(offsets, cols, fix))
    expected = a * s[:, None]
    if zero_target is not None:
        expected = torch.where(a > zero_target, expected, 0.0)
    rows = torch.repeat_interleave(torch.arange(5), offsets[1:] - offsets[:-1])
    expected.index_put_((rows, cols), fix, accumulate=True)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)
    torch.testing.assert_close(ops.scale_rows(a, s[2]), a * s[2], rtol=0, atol=0)


@pytest.mark.parametrize("with_values", [False, True])
def test_embedding_bag_backward_matches_autograd(native: None, with_values: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    indices = torch.tensor([4, 0, 9, 4, 4, 1, 7])  # repeats within and across bags
    offsets = torch.tensor([0, 3, 3, 6, 7])
    values = torch.rand(7, generator=gen) if with_values else None
    w = torch.randn(10, 6, generator=gen, requires_grad=True)
    y = F.embedding_bag(
        indices, w, offsets, mode="sum", per_sample_weights=values, include_last_offset=True
    )
    dy = torch.randn(4, 6, generator=gen)
    y.backward(dy)
    got = ops.embedding_bag_backward(indices, offsets, values, dy, 10)
    torch.testing.assert_close(got, w.grad, rtol=1e-6, atol=1e-6)


def test_sigmoid_training_grad_and_stash(native: None) -> None:
    z0 = _logits(seed=4)
    z = z0.clone().requires_grad_(True)
    a = sigmoid_training(z)
    g = torch.randn(z.shape, generator=torch.Generator().manual_seed(5))
    (a * g).sum().backward()
    zr = z0.clone().requires_grad_(True)
    (torch.sigmoid(zr) * g).sum().backward()
    # both sigmoids are within ~3 ulp of float64 (measured: C 3.3, torch 2.5); a (1 - a) near
    # a = 1 turns that into ~2e-7 absolute: compare at that scale
    torch.testing.assert_close(z.grad, zr.grad, rtol=1e-6, atol=2.5e-7 * float(g.abs().max()))
    rows = stashed_softplus_rows(z, a)
    assert rows is not None
    torch.testing.assert_close(
        rows, F.softplus(z0.double(), threshold=1e9).sum(1), rtol=1e-7, atol=0
    )
    assert stashed_softplus_rows(z.detach().clone(), a) is None  # another z: nothing
    with torch.no_grad():
        z.add_(1.0)  # z changed since: the stash no longer applies
    assert stashed_softplus_rows(z, a) is None


@pytest.mark.parametrize("with_values", [False, True])
def test_sparse_affine_matches_embedding_bag(native: None, with_values: bool) -> None:
    gen = torch.Generator().manual_seed(6)
    x = SparseBatch(
        torch.tensor([4, 0, 9, 4, 4, 1, 7]),
        torch.tensor([0, 3, 3, 6, 7]),
        torch.rand(7, generator=gen) if with_values else None,
        10,
    )
    w0, b0 = torch.randn(10, 6, generator=gen), torch.randn(6, generator=gen)
    dy = torch.randn(4, 6, generator=gen)
    grads = []
    for fused in (True, False):
        w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
        if fused:
            y = sparse_affine(x, w, b)
        else:
            y = F.embedding_bag(
                x.indices, w, x.offsets, mode="sum", per_sample_weights=x.values,
                include_last_offset=True,
            ) + b  # fmt: skip
        y.backward(dy)
        grads.append((y.detach(), w.grad, b.grad))
    for got, expected in zip(*grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_env_switch_forces_torch_path(torch_only: None) -> None:
    assert build.load() is None
    z = _logits(seed=7)
    a, rows = ops.sigmoid_softplus(z)
    torch.testing.assert_close(a, torch.sigmoid(z), rtol=0, atol=0)
    torch.testing.assert_close(rows, F.softplus(z).sum(1).double(), rtol=0, atol=0)
    assert stashed_softplus_rows(z, sigmoid_training(z.clone().requires_grad_(True))) is None


def test_missing_compiler_falls_back_with_one_debug_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LAMINA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(build, "compiler", lambda: None)
    build.reset()
    try:
        with caplog.at_level(logging.DEBUG, logger="lamina.nn.native.build"):
            assert build.load() is None
            assert build.load() is None  # decided once per process
        assert len(caplog.records) == 1 and "no C compiler" in caplog.records[0].getMessage()
        z = _logits(seed=8)
        torch.testing.assert_close(ops.softplus_rows(z), F.softplus(z).sum(1).double())
        assert list(tmp_path.iterdir()) == []
    finally:
        build.reset()


def test_failing_compiler_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAMINA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # exists, always fails
    build.reset()
    try:
        assert build.load() is None
        assert list(tmp_path.iterdir()) == []  # no half-written library left behind
    finally:
        build.reset()


_BUILD_AND_RUN = """
import torch
from lamina.nn.native import build, ops
lib = build.load()
assert lib is not None, "no library"
a, rows = ops.sigmoid_softplus(torch.zeros(2, 40))
assert torch.allclose(a, torch.full((2, 40), 0.5)), a
print("ok")
"""


def test_concurrent_builds_into_one_cache_are_safe(native: None, tmp_path: Path) -> None:
    """Two processes building into an empty cache at once (pytest-xdist workers) both succeed."""
    env = {**os.environ, "LAMINA_CACHE_DIR": str(tmp_path), "LAMINA_NATIVE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD_AND_RUN], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and all(o.strip() == "ok" for o in outs)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].startswith("lamina_kernels_") and files[0].endswith(".so")


def test_a_corrupt_cached_library_is_rebuilt(native: None, tmp_path: Path) -> None:
    env = {**os.environ, "LAMINA_CACHE_DIR": str(tmp_path), "LAMINA_NATIVE": "1"}
    first = subprocess.run([sys.executable, "-c", _BUILD_AND_RUN], env=env, capture_output=True)
    assert first.returncode == 0, first.stderr
    (lib,) = tmp_path.iterdir()
    lib.write_bytes(b"not an ELF file")  # e.g. truncated by a full disk
    again = subprocess.run(
        [sys.executable, "-c", _BUILD_AND_RUN], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0 and again.stdout.strip() == "ok", again.stderr
    assert lib.read_bytes()[:4] == b"\x7fELF"


def test_builds_of_other_versions_are_pruned_when_stale(
    native: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAMINA_CACHE_DIR", str(tmp_path))
    stale, recent = tmp_path / "lamina_kernels_old.so", tmp_path / "lamina_kernels_new.so"
    other = tmp_path / "unrelated.so"
    for path in (stale, recent, other):
        path.write_bytes(b"x")
    old = time.time() - build.STALE_AFTER_S - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    build.reset()
    try:
        assert build.load() is not None  # builds into the empty-of-this-version cache
    finally:
        build.reset()
    names = {p.name for p in tmp_path.iterdir()}
    assert "lamina_kernels_old.so" not in names
    assert {"lamina_kernels_new.so", "unrelated.so"} <= names and len(names) == 3
