"""``lamina data synth``: clustered Zipf implicit-feedback data as DSSTNE text (and netCDF)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lamina.cli.data_import_cmd import check_netcdf, netcdf_options, write_netcdf

__all__ = ["synth"]


@click.command("synth")
@click.option("--samples", required=True, type=int, help="Number of samples (users).")
@click.option("--features", required=True, type=int, help="Number of features (items).")
@click.option("--nnz", required=True, type=float, help="Mean non-zeros per sample.")
@click.option("--zipf", type=float, default=1.0, show_default=True, help="Zipf exponent.")
@click.option("--clusters", type=int, default=8, show_default=True, help="Latent user clusters.")
@click.option(
    "--noise",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of draws from global popularity instead of the user's cluster.",
)
@click.option("--fixed-nnz", is_flag=True, help="Exactly --nnz per sample instead of Poisson.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Text output.")
@netcdf_options(short_index_names=False)
def synth(
    samples: int,
    features: int,
    nnz: float,
    zipf: float,
    clusters: int,
    noise: float,
    fixed_nnz: bool,
    seed: int,
    output: str,
    **nc_opts: Any,
) -> None:
    """Generate users in latent clusters, each preferring its cluster's items (Zipf), plus global
    popularity noise: structure a model can learn and a popularity ranking cannot."""
    from lamina.data.synth import synthesize, write_synthetic

    check_netcdf(**nc_opts)
    data = synthesize(
        samples=samples,
        features=features,
        nnz=nnz,
        zipf=zipf,
        clusters=clusters,
        noise=noise,
        fixed_nnz=fixed_nnz,
        seed=seed,
    )
    rows, elements = write_synthetic(data, output)
    click.echo(f"wrote {output}: {rows} samples, {features} features, {elements} non-zeros")
    write_netcdf(Path(output), **nc_opts)
