"""``lamina data``: dataset tools. ``info`` lives here; ``import``, ``split`` and ``synth`` are
imported lazily from their own modules."""

from __future__ import annotations

from pathlib import Path

import click

from lamina.cli.lazy import LazyGroup

__all__ = ["data", "info"]


@click.group(
    cls=LazyGroup,
    lazy={
        "import": (
            "lamina.cli.data_import_cmd:import_",
            "Convert rating and interaction tables to DSSTNE text, one line per sample.",
        ),
        "split": (
            "lamina.cli.data_split_cmd:split",
            "Split a DSSTNE text file into aligned train and test files.",
        ),
        "synth": (
            "lamina.cli.data_synth_cmd:synth",
            "Generate clustered, Zipf-popular interaction data with known structure.",
        ),
    },
)
def data() -> None:
    """Inspect, import, split and synthesise DSSTNE dataset files."""


@data.command("info")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def info(files: tuple[Path, ...]) -> None:
    """Summarize the datasets of netCDF dataset FILES.

    For each dataset: kind, examples, width, non-zeros, density, value range and empty rows.
    """
    from lamina.data.info import dataset_stats
    from lamina.data.nc_read import open_datasets

    for path in files:
        datasets = open_datasets(path)
        click.echo(f"{path}: {len(datasets)} dataset{'s' if len(datasets) != 1 else ''}")
        for ds in datasets:
            s = dataset_stats(ds)
            value_range = "-" if s.value_min is None else f"{s.value_min:g} .. {s.value_max:g}"
            click.echo(
                f"  [{ds.number}] {s.name!r}: {s.kind} {s.data_type}\n"
                f"      examples {s.examples:,}  width {s.width:,}  non-zeros {s.non_zeros:,}  "
                f"density {s.density:.6f}\n"
                f"      values {value_range}  rows with no entries {s.empty_rows:,}"
            )
            ds.close()
