"""``lamina model``: build the torch network of a DSSTNE config and describe it.

``lamina model summary net.json --width gl_input=26752 --width gl_output=26752`` prints one row per
layer (kind, type, output shape, sources, activation, parameters) and the total parameter count.
"""

from __future__ import annotations

import click

from lamina.config import AUTO, load_config
from lamina.errors import UsageError

__all__ = ["model", "parse_width"]


def parse_width(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=N`` or ``NAME=N,H,L`` -> ``(NAME, (N,))`` or ``(NAME, (N, H, L))``.

    Raises:
        UsageError: not of that form, or a size below 1.
    """
    name, sep, dims = text.partition("=")
    try:
        values = tuple(int(v) for v in dims.split(","))
    except ValueError:
        values = ()
    if not sep or not name.strip() or not 1 <= len(values) <= 3 or min(values) < 1:
        raise UsageError(
            f"--width must look like NAME=N or NAME=N,H,L with positive integers. Got {text!r}."
        )
    return name.strip(), values


@click.group("model")
def model() -> None:
    """Build networks from DSSTNE configs and inspect them."""


@model.command("summary")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--width",
    "width_args",
    multiple=True,
    metavar="NAME=N[,H,L]",
    help='Dimensions of data set NAME, for layers with "N": "auto" (repeatable).',
)
def summary_cmd(file: str, width_args: tuple[str, ...]) -> None:
    """Print a per-layer table of the network defined in FILE."""
    config = load_config(file)
    widths = dict(parse_width(arg) for arg in width_args)
    for index, layer in enumerate(config.layers):
        if layer.n == AUTO and layer.dataset not in widths:
            raise UsageError(
                f'{file}: Layers[{index}] ({layer.name!r}) has "N": "auto" but no width was given '
                f"for its data set {layer.dataset!r}",
                hint=f"add --width {layer.dataset}=N (or {layer.dataset}=N,H,L for images)",
            )
    from lamina.nn import build_network, render_summary, summary  # torch: only when needed

    network = build_network(config, widths, seed=0)
    title = f"{config.name or file}" + (f" (widths: {', '.join(width_args)})" if width_args else "")
    click.echo(render_summary(summary(network), title=title))
