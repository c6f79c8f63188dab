"""``lamina evaluate``: ranking metrics of a network on held-out data, beside baselines.
The work is :func:`lamina.predict.pipeline.evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lamina.cli.options import EXISTING_FILE
from lamina.errors import UsageError

if TYPE_CHECKING:
    from lamina.predict.pipeline import EvaluateResult

__all__ = ["evaluate", "render_table"]

_METRICS = ("precision", "recall", "ndcg", "coverage", "pop1%")


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        ks = ()
    if not ks or min(ks) < 1:
        raise UsageError(
            f"-k must be positive integers separated by commas, e.g. 1,5,10. Got {text!r}."
        )
    return ks


@click.command("evaluate", context_settings={"max_content_width": 100})
@click.option("-n", "network", required=True, type=EXISTING_FILE, help="Trained network (.nc).")
@click.option(
    "-i",
    "train_path",
    required=True,
    type=EXISTING_FILE,
    help="Model input: netCDF file with the Input layer's dataset (rows = users).",
)
@click.option(
    "-t",
    "heldout_path",
    required=True,
    type=EXISTING_FILE,
    help="Held-out items: netCDF file, same samples in the same order.",
)
@click.option(
    "-k", "ks", default="1,5,10,20,50,100", show_default=True, help="Cut-offs, comma-separated."
)
@click.option(
    "-o",
    "output_index",
    type=EXISTING_FILE,
    help="Item feature index (gives the item count).  [default: highest item seen + 1]",
)
@click.option(
    "--baselines",
    default="",
    metavar="NAMES",
    help="Comma-separated baselines to score beside the network: popularity, ease.",
)
@click.option(
    "--ease-lambda",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="EASE's λ.  [default: chosen from 50,100,200,500,1000,2000 on a validation split "
    "of the training rows]",
)
@click.option(
    "--ease-memory",
    "ease_memory",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="GIB",
    help="Memory budget of EASE's dense matrices.  [default: half of the available RAM]",
)
@click.option(
    "-l",
    "--layer",
    "layer",
    default=None,
    help="Layer to rank.  [default: the layer named Output, else the only Output layer]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.option(
    "-b",
    "batch",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Rows per forward pass.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr.  [default: for large inputs on a terminal]",
)
def evaluate(
    network: Path,
    train_path: Path,
    heldout_path: Path,
    ks: str,
    output_index: Path | None,
    baselines: str,
    ease_lambda: float | None,
    ease_memory: float | None,
    layer: str | None,
    as_json: bool,
    batch: int,
    device: str,
    progress: bool | None,
) -> None:
    """Ranking metrics of a network on held-out data.

    For every row of -i, all real items except the row's own are ranked; precision@k, recall@k
    (hits / min(k, |held-out|)), NDCG@k, catalogue coverage and the share of recommendations
    from the 1% most popular items are averaged over rows with held-out items.

    Baselines are fitted on the rows of -i: popularity, and EASE (Steck 2019, closed form; a
    yardstick, not a Lamina model) with its λ chosen on a validation split carved from those rows.

    \b
    Example:
      lamina evaluate -n gl.nc -i train.nc -t test.nc -k 10,20 --baselines popularity
    """
    from lamina.predict.pipeline import evaluate as run

    result = run(
        network,
        train_path=train_path,
        heldout_path=heldout_path,
        ks=_ks(ks),
        baselines=[b.strip() for b in baselines.split(",") if b.strip()],
        baseline_options={"ease": _ease_options(ease_lambda, ease_memory)},
        output_index=output_index,
        layer=layer,
        batch=batch,
        device=device,
        progress=progress,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(render_table(result))


def _ease_options(lam: float | None, memory_gib: float | None) -> dict[str, float | int]:
    options: dict[str, float | int] = {}
    if lam is not None:
        options["lam"] = lam
    if memory_gib is not None:
        options["memory_budget"] = int(memory_gib * 2**30)
    return options


def render_table(result: EvaluateResult) -> str:
    """The metrics as a text table: one row per metric and k, one column per ranker."""
    names = list(result.metrics)
    header = (
        f"{result.users:,} of {result.examples:,} users have held-out items; "
        f"{result.n_items:,} items ranked (layer {result.layer!r})."
    )
    rows = [["metric", *names]]
    for k in result.ks:
        for metric in _METRICS:
            key = f"{metric}@{k}"
            if key in result.metrics[names[0]]:
                rows.append([key, *(f"{result.metrics[n][key]:.4f}" for n in names)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    notes = [
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in values.items() if not isinstance(v, dict))
        for name, values in result.baseline_details.items()
    ]
    return "\n".join([header, *lines, *notes])
