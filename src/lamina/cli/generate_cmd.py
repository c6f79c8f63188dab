"""``lamina generate-netcdf``: DSSTNE's ``generateNetCDF`` with the same flags, plus hashing,
bad-line skipping and a duplicate-sample policy. The work is ``lamina.data.generate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lamina.errors import UsageError

__all__ = ["generate_netcdf"]


@click.command("generate-netcdf")
@click.option(
    "-d", "dataset_name", required=True, help="Dataset name (name0); the layer's DataSet."
)
@click.option(
    "-i",
    "input_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Input text file, or a directory of them (all regular files, sorted by name).",
)
@click.option(
    "-o", "output", required=True, type=click.Path(path_type=Path), help="Output .nc file."
)
@click.option(
    "-f",
    "feature_index",
    type=click.Path(path_type=Path),
    help="Feature index file to read from / write to (not with --hash-bits).",
)
@click.option(
    "-s",
    "sample_index",
    required=True,
    type=click.Path(path_type=Path),
    help="Sample index file: loaded if it exists (keeps files aligned), written when it grows.",
)
@click.option("-c", "create", is_flag=True, help="Create a new feature index (overwrites -f).")
@click.option(
    "-m", "merge", is_flag=True, help="Add unseen features to the existing feature index."
)
@click.option(
    "-t",
    "kind",
    type=click.Choice(["indicator", "analog"]),
    default="indicator",
    show_default=True,
    help="indicator: values ignored (Boolean); analog: float values kept.",
)
@click.option(
    "--hash-bits",
    type=click.IntRange(1, 30),
    default=None,
    help="Hash feature labels into 2**B columns instead of using a feature index.",
)
@click.option("--skip-bad-lines", is_flag=True, help="Skip and count malformed lines.")
@click.option(
    "--duplicates",
    type=click.Choice(["reject", "merge", "last"]),
    default="reject",
    show_default=True,
    help="A sample on several lines: error, union of features, or last line.",
)
def generate_netcdf(
    dataset_name: str,
    input_path: Path,
    output: Path,
    feature_index: Path | None,
    sample_index: Path,
    create: bool,
    merge: bool,
    kind: str,
    hash_bits: int | None,
    skip_bad_lines: bool,
    duplicates: str,
) -> None:
    """Convert DSSTNE text data (sample<TAB>feature[,value]:...) into a netCDF-4 dataset file."""
    from tqdm import tqdm

    from lamina.data.generate import generate_netcdf as run
    from lamina.data.generate import input_files

    if create and merge:
        raise UsageError("-c (create a feature index) and -m (merge into one) exclude each other")
    files = input_files(input_path)
    total = sum(p.stat().st_size for p in files)
    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="generate-netcdf",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    )
    with bar:
        summary = run(
            files,
            output,
            dataset_name=dataset_name,
            feature_index=feature_index,
            sample_index=sample_index,
            mode="create" if create else "merge" if merge else "existing",
            kind=kind,  # type: ignore[arg-type]
            hash_bits=hash_bits,
            skip_bad_lines=skip_bad_lines,
            duplicates=duplicates,  # type: ignore[arg-type]
            progress=bar.update,
        )
    click.echo(summary.describe())
