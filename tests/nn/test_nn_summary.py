"""``summary`` rows and the text table: shapes, sources, activations, parameter counts."""

from __future__ import annotations

import torch
from conformance import hidden, inp, network, output

from lamina.config.enums import Activation, LayerType, PoolingFunction
from lamina.config.model import SharedWeights
from lamina.nn import build_network, render_summary, summary


def test_rows_count_shared_weights_once_and_match_parameters() -> None:
    cfg = network(
        inp(n=(6,)),
        hidden("H", 4, ("Input",), batch_normalization=True, activation=Activation.RELU),
        output(
            "Output",
            6,
            ("H",),
            skips=("Input",),
            shared_weights=(SharedWeights("H", "Input", "H", transposed=True),),
        ),
    )
    net = build_network(cfg, seed=0)
    rows = {r.name: r for r in summary(net)}
    assert rows["Input"].parameters == 0 and rows["Input"].activation == "-"
    assert rows["H"].parameters == 6 * 4 + 4 + 2 * 4  # W, b, BN scale and shift
    assert rows["Output"].parameters == 6  # only its own bias: the weight is H's
    assert rows["Output"].skips == ("Input",) and rows["Output"].sources == ("H",)
    assert rows["H"].output_shape == (4,) and rows["H"].activation == "RectifiedLinear"
    total = sum(p.numel() for p in net.parameters())
    assert sum(r.parameters for r in rows.values()) == total
    table = render_summary(list(rows.values()), title="demo")
    assert table.splitlines()[0] == "demo"
    assert f"Total parameters: {total:,}" in table
    assert "H, skip Input" in table


def test_pooling_rows_show_function_and_no_activation() -> None:
    cfg = network(
        inp(n=(4, 4, 2), type=LayerType.CONVOLUTIONAL),
        hidden(
            "P",
            1,
            ("Input",),
            type=LayerType.POOLING,
            pooling_function=PoolingFunction.MAX,
            kernel=(2, 2),
            kernel_stride=(2, 2),
        ),
        output("Output", 3, ("P",)),
    )
    rows = summary(build_network(cfg, seed=0))
    assert rows[1].type == "Pooling(Max)" and rows[1].activation == "-"
    assert rows[1].output_shape == (2, 2, 2) and rows[1].parameters == 0
    assert rows[2].parameters == 8 * 3 + 3
    assert torch.Size(rows[0].output_shape) == torch.Size([2, 4, 4])
