"""``lamina data import``: MovieLens and generic tables -> DSSTNE text (and optionally netCDF).

Also holds the ``--nc`` options shared by ``lamina data synth``: the text file is always written
first, then converted with ``lamina.data.generate.generate_netcdf``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lamina.errors import UsageError

__all__ = ["check_netcdf", "import_", "netcdf_options", "write_netcdf"]

F = Callable[..., Any]


def netcdf_options(*, short_index_names: bool) -> Callable[[F], F]:
    """The ``--nc OUT.nc --dataset NAME --features F --samples S ...`` options.

    Args:
        short_index_names: also accept ``--features`` / ``--samples`` for the index files (not in
            ``synth``, whose ``--samples`` is a count).
    """
    features = ("--features", "--feature-index") if short_index_names else ("--feature-index",)
    samples = ("--samples", "--sample-index") if short_index_names else ("--sample-index",)
    options = [
        click.option(
            "--nc",
            "nc",
            type=click.Path(dir_okay=False),
            help="Also convert the text to this netCDF dataset file (generate-netcdf).",
        ),
        click.option(
            "--dataset", help="Dataset name in the netCDF file (the DataSet of the layer using it)."
        ),
        click.option(
            *features,
            "feature_index",
            type=click.Path(dir_okay=False),
            help="Feature index file [default: features_<dataset> beside --nc].",
        ),
        click.option(
            *samples,
            "sample_index",
            type=click.Path(dir_okay=False),
            help="Sample index file [default: samples_<dataset> beside --nc].",
        ),
        click.option(
            "--index-mode",
            type=click.Choice(["create", "merge", "existing"], case_sensitive=False),
            default="create",
            show_default=True,
            help="Feature index: create it, merge new features into it, or use it as is.",
        ),
        click.option(
            "--kind",
            type=click.Choice(["indicator", "analog"], case_sensitive=False),
            default="indicator",
            show_default=True,
            help="indicator: features are 1s (values dropped); analog: keep the values.",
        ),
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def check_netcdf(**opts: Any) -> None:
    """Fail before any work when the netCDF options cannot work together.

    Raises:
        UsageError: netCDF options without ``--nc``, or ``--nc`` without ``--dataset``.
    """
    if opts.get("nc") is None:
        if opts.get("dataset") or opts.get("feature_index") or opts.get("sample_index"):
            raise UsageError("--dataset and the index file options need --nc OUT.nc")
    elif not opts.get("dataset"):
        raise UsageError("--nc needs --dataset NAME (the DataSet name of the layer that reads it)")


def write_netcdf(text: Path, **opts: Any) -> None:
    """Convert ``text`` with ``generate_netcdf`` if ``--nc`` was given; echo what was written."""
    check_netcdf(**opts)
    nc, dataset = opts.get("nc"), opts["dataset"]
    if nc is None:
        return
    from lamina.data.generate import generate_netcdf

    folder = Path(nc).parent
    summary = generate_netcdf(
        [text],
        nc,
        dataset_name=dataset,
        feature_index=opts.get("feature_index") or folder / f"features_{dataset}",
        sample_index=opts.get("sample_index") or folder / f"samples_{dataset}",
        mode=opts["index_mode"].lower(),
        kind=opts["kind"].lower(),
    )
    click.echo(
        f"wrote {nc}: dataset {dataset!r} ({summary.kind}), {summary.samples} samples, "
        f"{summary.features} features (width {summary.width}), {summary.non_zeros} non-zeros"
    )


def _echo(summary: Any) -> None:
    extra = []
    if summary.filtered:
        extra.append(f"{summary.filtered} below --min-rating dropped")
    if summary.duplicates:
        extra.append(f"{summary.duplicates} repeated pairs dropped")
    click.echo(
        f"wrote {summary.output}: {summary.samples} samples, {summary.features} features, "
        f"{summary.interactions} interactions (from {summary.format}"
        + "".join(f"; {e}" for e in extra)
        + ")"
    )


@click.group("import")
def import_() -> None:
    """Convert rating and interaction tables to DSSTNE text, one line per sample."""


_DUPLICATES = click.option(
    "--duplicates",
    type=click.Choice(["first", "last", "error"], case_sensitive=False),
    default="first",
    show_default=True,
    help="A (sample, feature) pair seen again: keep the first, keep the last, or fail.",
)


@import_.command("movielens")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Text output.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(
        ["auto", "u.data", "ratings.dat", "ratings.csv", "lists"], case_sensitive=False
    ),
    default="auto",
    show_default=True,
    help="Input layout; auto detects it from the first line.",
)
@click.option("--min-rating", type=float, help="Keep ratings >= R (e.g. 4 for the 'ge4' protocol).")
@click.option(
    "--values",
    type=click.Choice(["rating", "timestamp", "none"], case_sensitive=False),
    default="none",
    show_default=True,
    help="Write item,rating / item,timestamp (DSSTNE's awk form) / bare items.",
)
@_DUPLICATES
@netcdf_options(short_index_names=True)
def movielens(
    path: str,
    output: str,
    fmt: str,
    min_rating: float | None,
    values: str,
    duplicates: str,
    **nc_opts: Any,
) -> None:
    """Convert a MovieLens ratings file (u.data, ratings.dat, ratings.csv, or 'user item item ...'
    lines) to DSSTNE text: users in ascending id order, each user's items in file order."""
    from lamina.data.importers import import_movielens

    check_netcdf(**nc_opts)
    summary = import_movielens(
        path,
        output,
        format=fmt.lower(),
        values=values.lower(),  # type: ignore[arg-type]
        min_rating=min_rating,
        duplicates=duplicates.lower(),  # type: ignore[arg-type]
    )
    _echo(summary)
    write_netcdf(Path(output), **nc_opts)


@import_.command("csv")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Text output.")
@click.option("--sample-col", required=True, help="Sample column: header name or 0-based index.")
@click.option("--feature-col", required=True, help="Feature column: header name or 0-based index.")
@click.option("--value-col", help="Optional numeric value column, written as feature,value.")
@click.option(
    "--delimiter", default=",", show_default=True, help="One character, 'tab', 'space' or '::'."
)
@click.option("--no-header", is_flag=True, help="The first line is data, not column names.")
@_DUPLICATES
@netcdf_options(short_index_names=True)
def csv(
    path: str,
    output: str,
    sample_col: str,
    feature_col: str,
    value_col: str | None,
    delimiter: str,
    no_header: bool,
    duplicates: str,
    **nc_opts: Any,
) -> None:
    """Convert a delimited table with one (sample, feature[, value]) record per line to DSSTNE
    text: samples in order of first appearance, features in file order."""
    from lamina.data.importers import import_csv

    check_netcdf(**nc_opts)
    summary = import_csv(
        path,
        output,
        sample_col=sample_col,
        feature_col=feature_col,
        value_col=value_col,
        delimiter=delimiter,
        header=not no_header,
        duplicates=duplicates.lower(),  # type: ignore[arg-type]
    )
    _echo(summary)
    write_netcdf(Path(output), **nc_opts)


@import_.command("libsvm")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Features.")
@click.option(
    "--targets", type=click.Path(dir_okay=False), help="Also write each sample's label(s) here."
)
@click.option(
    "--values/--no-values",
    default=True,
    show_default=True,
    help="Write index,value (analog input) or bare indices.",
)
@click.option("--sample-prefix", default="", help="Prefix of the sample labels (record numbers).")
@netcdf_options(short_index_names=True)
def libsvm(
    path: str,
    output: str,
    targets: str | None,
    values: bool,
    sample_prefix: str,
    **nc_opts: Any,
) -> None:
    """Convert a LibSVM file (.gz/.bz2 allowed) to DSSTNE text: sample r (the r-th record) gets
    its index:value pairs; --targets gets its label(s), e.g. for an indicator output dataset."""
    from lamina.data.importers import import_libsvm

    check_netcdf(**nc_opts)
    summary = import_libsvm(
        path, output, targets=targets, values=values, sample_prefix=sample_prefix
    )
    _echo(summary)
    if targets:
        click.echo(f"wrote {targets}: the label(s) of every sample")
    write_netcdf(Path(output), **nc_opts)
