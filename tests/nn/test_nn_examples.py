"""Every DSSTNE example config in ../shared builds with reasonable widths and runs forward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lamina.config import AUTO, load_config
from lamina.config.enums import LayerKind
from lamina.data.batch import SparseBatch
from lamina.nn import build_network, render_summary, summary

WIDTHS = {"input": (256,), "output": (256,)}
CIFAR = {"input": (32, 32, 3), "output": (128,)}


def example_configs() -> list[str]:
    root = Path(__file__).resolve().parents[2] / ".." / "shared" / "dsstne-examples" / "configs"
    return sorted(p.name for p in root.glob("*.json")) if root.is_dir() else ["<absent>"]


@pytest.mark.shared
@pytest.mark.parametrize("name", example_configs())
def test_example_config_builds_and_runs(shared_dir: Path, name: str) -> None:
    config = load_config(shared_dir / "dsstne-examples" / "configs" / name)
    widths = dict(CIFAR) if name.startswith("cifar") else {}
    for layer in config.layers:
        if layer.n == AUTO:
            widths.setdefault(layer.dataset, (256,))  # type: ignore[arg-type]
    net = build_network(config, widths, seed=0).eval()
    inputs: dict[str, torch.Tensor | SparseBatch] = {}
    for layer in config.layers:
        if layer.kind == LayerKind.INPUT:
            stride = net.geometry[layer.name].stride
            if layer.sparse:
                idx = torch.tensor([0, stride - 1, 1], dtype=torch.int64)
                inputs[layer.name] = SparseBatch(idx, torch.tensor([0, 2, 3]), None, stride)
            else:
                inputs[layer.name] = torch.rand(2, stride)
    with torch.no_grad():
        out = net(inputs)
    for name_out in net.output_layers:
        assert out.activations[name_out].shape == (2, net.geometry[name_out].stride)
        assert torch.isfinite(out.activations[name_out]).all()
    table = render_summary(summary(net))
    assert "Total parameters" in table
