"""A per-layer summary of a built network, and its text table (``lamina model summary``)."""

from __future__ import annotations

from dataclasses import dataclass

from lamina.config.enums import LayerKind, LayerType, label
from lamina.nn.activations import label_or_name
from lamina.nn.network import Network, layer_type_name

__all__ = ["LayerRow", "render_summary", "summary"]


@dataclass(frozen=True)
class LayerRow:
    """One line of the summary.

    Attributes:
        parameters: trainable values this layer owns: its weights (shared ones are counted only at
        the
            layer that owns them), biases and batch-norm scale/shift.
    """

    name: str
    kind: str
    type: str
    output_shape: tuple[int, ...]
    sources: tuple[str, ...]
    skips: tuple[str, ...]
    activation: str
    parameters: int


def summary(network: Network) -> list[LayerRow]:
    """One :class:`LayerRow` per layer, in config order.

    The sum of ``parameters`` over rows equals ``sum(p.numel() for p in network.parameters())``.
    """
    rows = []
    seen: set[int] = set()
    for lay in network.config.layers:
        count = 0
        activation = "-"
        if lay.kind != LayerKind.INPUT:
            module = network.layer(lay.name)
            for p in module.parameters():  # parameters() yields each object once per module
                if id(p) not in seen:
                    seen.add(id(p))
                    count += p.numel()
            if lay.type != LayerType.POOLING:
                activation = label_or_name(lay.activation)
        rows.append(
            LayerRow(
                name=lay.name,
                kind=label(lay.kind),
                type=layer_type_name(lay),
                output_shape=network.geometry[lay.name].tensor_shape,
                sources=lay.sources,
                skips=lay.skips,
                activation=activation,
                parameters=count,
            )
        )
    return rows


def render_summary(rows: list[LayerRow], *, title: str = "") -> str:
    """A fixed-width text table of ``rows`` with a total-parameters line.

    Output shapes omit the batch axis: ``(N,)`` for FullyConnected layers, ``(C, H, W)`` for 2-D
    Convolutional/Pooling layers.
    """
    header = ("Layer", "Kind", "Type", "Output shape", "Sources", "Activation", "Parameters")
    body = [
        (
            r.name,
            r.kind,
            r.type,
            "("
            + ", ".join(str(d) for d in r.output_shape)
            + ("," if len(r.output_shape) == 1 else "")
            + ")",
            ", ".join([*r.sources, *(f"skip {s}" for s in r.skips)]) or "-",
            r.activation,
            f"{r.parameters:,}",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if i == len(line) - 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(header))
    lines = [title] if title else []
    lines += [fmt(header), rule, *(fmt(line) for line in body), rule]
    lines.append(f"Total parameters: {sum(r.parameters for r in rows):,}")
    return "\n".join(lines)
