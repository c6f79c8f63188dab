"""Shared helpers of the lamina.nn tests: small config builders and ``run_layer_test``, the
conformance check every layer type passes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from lamina.config.enums import LayerKind, LayerType
from lamina.config.model import LayerConfig, NetworkConfig
from lamina.data.batch import SparseBatch
from lamina.nn import Network, build_network

Inputs = Mapping[str, torch.Tensor | SparseBatch]


def inp(name: str = "Input", n: tuple[int, ...] = (6,), **kw: object) -> LayerConfig:
    """An Input layer."""
    return LayerConfig(name, LayerKind.INPUT, n=n, dataset=name.lower(), **kw)  # type: ignore[arg-type]


def hidden(
    name: str, n: int | tuple[int, ...], sources: tuple[str, ...], **kw: object
) -> LayerConfig:
    """A Hidden layer (FullyConnected unless ``type=`` says otherwise)."""
    dims = (n,) if isinstance(n, int) else n
    return LayerConfig(name, LayerKind.HIDDEN, n=dims, sources=sources, **kw)  # type: ignore[arg-type]


def output(
    name: str, n: int | tuple[int, ...], sources: tuple[str, ...], **kw: object
) -> LayerConfig:
    """An Output layer."""
    dims = (n,) if isinstance(n, int) else n
    return LayerConfig(name, LayerKind.OUTPUT, n=dims, sources=sources, **kw)  # type: ignore[arg-type]


def conv(
    name: str,
    n: int,
    source: str,
    kernel: tuple[int, ...],
    stride: tuple[int, ...] | None = None,
    **kw: object,
) -> LayerConfig:
    """A Hidden Convolutional layer with ``n`` output channels."""
    return hidden(
        name,
        n,
        (source,),
        type=LayerType.CONVOLUTIONAL,
        kernel=kernel,
        kernel_stride=stride or (1,) * len(kernel),
        **kw,
    )


def network(*layers: LayerConfig, **kw: object) -> NetworkConfig:
    """A NetworkConfig of ``layers``."""
    return NetworkConfig(version=0.8, layers=tuple(layers), **kw)  # type: ignore[arg-type]


def sparse_batch(
    rows: list[list[int]],
    width: int,
    values: list[list[float]] | None = None,
    dtype: torch.dtype = torch.float32,
) -> SparseBatch:
    """A SparseBatch from per-row index lists (and optional values)."""
    indices = torch.tensor([i for row in rows for i in row], dtype=torch.int64)
    offsets = torch.tensor(
        [0, *torch.tensor([len(r) for r in rows]).cumsum(0).tolist()], dtype=torch.int64
    )
    vals = None
    if values is not None:
        vals = torch.tensor([v for row in values for v in row], dtype=dtype)
    return SparseBatch(indices, offsets, vals, width)


def random_sparse(
    batch: int, width: int, nnz: int, *, generator: torch.Generator, valued: bool = True
) -> SparseBatch:
    """B rows with ``nnz`` distinct random columns each."""
    rows = [torch.randperm(width, generator=generator)[:nnz].tolist() for _ in range(batch)]
    values = None
    if valued:
        values = [torch.rand(nnz, generator=generator).add(0.5).tolist() for _ in rows]
    return sparse_batch(rows, width, values)


def run_layer_test(
    config: NetworkConfig,
    make_inputs: Callable[[], Inputs],
    *,
    expected_shapes: Mapping[str, tuple[int, ...]],
    widths: Mapping[str, tuple[int, ...]] | None = None,
) -> Network:
    """The conformance check every layer type passes.

    1. every non-input layer's activation and pre-activation have the expected (B, *shape);
    2. a backward pass from every output fills a finite gradient for every parameter;
    3. the state_dict loaded into a freshly built network (other seed) gives identical outputs;
    4. eval mode is deterministic (two passes agree exactly), training mode runs.

    Returns the built network (float32, eval mode).
    """
    net = build_network(config, widths, seed=1)
    inputs = make_inputs()
    out = net(inputs)
    for name, shape in expected_shapes.items():
        assert tuple(out.activations[name].shape) == shape, (name, out.activations[name].shape)
        assert tuple(out.preactivations[name].shape) == shape, name
    assert set(out.activations) == {
        lay.name for lay in config.layers if lay.kind != LayerKind.INPUT
    }

    loss = sum((out.activations[n] ** 2).mean() for n in net.output_layers)
    net.zero_grad()
    loss.backward()  # type: ignore[union-attr]
    for pname, p in net.named_parameters():
        assert p.grad is not None, f"no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), pname
        # BN's shift under a following SoftMax can have an exactly-zero gradient: accept that only.
        if "batch_norm" not in pname:
            assert p.grad.abs().sum() > 0, f"zero gradient for {pname}"

    net.eval()
    first = net(inputs)
    second = net(inputs)
    fresh = build_network(config, widths, seed=2)
    fresh.load_state_dict(net.state_dict())
    fresh.eval()
    third = fresh(inputs)
    for name in first.activations:
        torch.testing.assert_close(
            first.activations[name], second.activations[name], rtol=0, atol=0
        )
        torch.testing.assert_close(first.activations[name], third.activations[name], rtol=0, atol=0)
    return net
