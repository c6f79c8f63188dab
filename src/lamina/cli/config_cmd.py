"""``lamina config``: validate DSSTNE network configs, show them with every default, print the
schema.

Imports only :mod:`lamina.config` and :mod:`lamina.search.annotated` (no torch), so these commands
start instantly. Configs may contain ``$search`` annotations (hyperparameter search spaces).
"""

from __future__ import annotations

import json

import click

from lamina.config import json_schema, to_dict
from lamina.errors import ConfigError, UsageError
from lamina.search.annotated import load_annotated, set_path

__all__ = ["config"]


def _parse_width(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=N[,H,L]`` -> (dataset name, dims)."""
    name, sep, dims = text.partition("=")
    try:
        values = tuple(int(v) for v in dims.split(","))
    except ValueError:
        values = ()
    if not sep or not name or not 1 <= len(values) <= 3 or min(values) < 1:
        raise UsageError(
            f"--width expects DATASET=WIDTH[,HEIGHT,LENGTH] with positive integers. Got {text!r}."
        )
    return name, values


def dumps(value: object, indent: int = 0) -> str:
    """Indented JSON that keeps arrays of numbers and strings on one line (``"N": [28, 28]``)."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [f"{inner}{dumps(v, indent + 2)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value)


@click.group("config")
def config() -> None:
    """Check and inspect DSSTNE network definition files (JSON)."""


@config.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Validate each FILE; print 'FILE: ok' or the first problem in it.

    $search annotations are validated too (their ranges, and every value they allow); a valid
    annotated file prints 'FILE: ok (N searched values)'. Exit status 0 when every file is valid,
    2 otherwise.
    """
    failed = 0
    for path in files:
        try:
            annotated = load_annotated(path)
        except ConfigError as exc:
            failed += 1
            click.echo(f"error: {exc}", err=True)
        else:
            n = len(annotated.space)
            click.echo(f"{path}: ok" + (f" ({n} searched value{'s' * (n != 1)})" if n else ""))
    if failed:
        ctx.exit(ConfigError.exit_code)


@config.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--width",
    "widths",
    multiple=True,
    metavar="DATASET=N[,H,L]",
    help='Size of a dataset, to resolve "N": "auto" (repeatable).',
)
def show(file: str, widths: tuple[str, ...]) -> None:
    """Print FILE's network with every default filled in, as indented JSON.

    $search annotations are printed in their full JSON form at their places.
    """
    annotated = load_annotated(file)
    cfg = annotated.materialize(annotated.representative())
    if widths:
        sizes = dict(_parse_width(w) for w in widths)
        used = {layer.dataset for layer in cfg.layers}
        unknown = sorted(set(sizes) - used)
        if unknown:
            raise UsageError(
                f"--width: no layer of {file} uses dataset {unknown[0]!r}. "
                f"Datasets: [{', '.join(sorted(d for d in used if d))}]."
            )
        try:
            cfg = cfg.resolve(sizes)
        except KeyError as exc:
            raise UsageError(f"{file}: {exc.args[0]}", hint="add --width DATASET=N") from None
    doc = to_dict(cfg)
    for path, dist in annotated.space.items():
        set_path(doc, path, dist.to_dict())
    click.echo(dumps(doc))


@config.command("schema")
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the network language, with Lamina's extension."""
    click.echo(json.dumps(json_schema(), indent=2))
