"""``lamina predict``: DSSTNE's ``predict`` with its flags and output format, plus layer choice and
layer dumps. The work is :func:`lamina.predict.pipeline.predict`."""

from __future__ import annotations

from pathlib import Path

import click

from lamina.cli.options import EXISTING_FILE

__all__ = ["predict"]


@click.command("predict", context_settings={"max_content_width": 100})
@click.option(
    "-d",
    "dataset",
    required=True,
    help="Dataset name: the Input layer reading NAME_input (DSSTNE appends _input), else NAME.",
)
@click.option(
    "-n",
    "network",
    required=True,
    type=EXISTING_FILE,
    help="Trained network file (.nc), or a model written by 'lamina export' (.onnx).",
)
@click.option(
    "-r",
    "input_path",
    required=True,
    type=EXISTING_FILE,
    help="Input text: sample<TAB>feature[,value]:... (converted in memory).",
)
@click.option("-i", "input_index", required=True, type=EXISTING_FILE, help="Input feature index.")
@click.option(
    "-o",
    "output_index",
    type=EXISTING_FILE,
    help="Output feature index (column -> label); required for recommendations.",
)
@click.option(
    "-f",
    "filter_path",
    type=click.Path(exists=True, path_type=Path),
    help="Filter file or folder: listed items removed (no value or value > 10) or "
    "their scores multiplied (value <= 10).",
)
@click.option(
    "-s",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Recommendations file (or the dump with --dump-layer), written atomically.",
)
@click.option(
    "-b",
    "batch",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Samples per forward pass.",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Recommendations per sample (no upper limit).",
)
@click.option(
    "-p",
    "precision",
    default=None,
    help="printf format of scores.  [default: 4.3f; .7g for --dump-layer]",
)
@click.option(
    "-l",
    "--layer",
    "layer",
    default=None,
    help="Layer to rank.  [default: the layer named Output, else the only Output layer]",
)
@click.option(
    "--dump-layer",
    default=None,
    metavar="NAME",
    help="Write this layer's activations to -s instead: sample<TAB>v1,v2,... or a "
    "(samples, units) float32 .npy when -s ends with .npy.",
)
@click.option(
    "-t",
    "--input-type",
    "input_type",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "indicator", "analog"], case_sensitive=False),
    help="Read -r values (analog) or ignore them (indicator, DSSTNE); auto = analog if "
    "the network file records analog training input.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N] (torch engine).")
@click.option(
    "--engine",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "torch", "onnx"], case_sensitive=False),
    help="torch, or onnx (ONNX Runtime, no torch import); auto = onnx when -n ends with .onnx.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr.  [default: for large inputs on a terminal]",
)
def predict(
    dataset: str,
    network: Path,
    input_path: Path,
    input_index: Path,
    output_index: Path | None,
    filter_path: Path | None,
    output_path: Path,
    batch: int,
    k: int,
    precision: str | None,
    layer: str | None,
    dump_layer: str | None,
    input_type: str,
    device: str,
    engine: str,
    progress: bool | None,
) -> None:
    """Top-k recommendations from a trained network (DSSTNE's predict).

    Writes sample<TAB>feature,score:feature,score:...: lines, samples in order of first
    appearance in -r. Unlike DSSTNE, nothing is written to the current directory (DSSTNE left
    <d>_input_predict.nc there) and padding units are never recommended.

    \b
    Example:
      lamina predict -b 256 -d gl -i features_input -o features_output -k 10 \\
        -n gl.nc -f ml-20m_ratings -s recs -r ml-20m_ratings
    """
    from lamina.predict.pipeline import predict as run

    result = run(
        network,
        dataset=dataset,
        input_path=input_path,
        input_index=input_index,
        output_path=output_path,
        output_index=output_index,
        filter_path=filter_path,
        k=k,
        batch=batch,
        precision=precision,
        layer=layer,
        dump_layer=dump_layer,
        input_type=input_type.lower(),  # type: ignore[arg-type]
        device=device,
        progress=progress,
        engine=engine.lower(),  # type: ignore[arg-type]
    )
    what = "activations of" if result.dumped else "recommendations from"
    notes = []
    if result.unknown_features:
        notes.append(
            f"{result.unknown_features:,} input features ({result.unknown_labels:,} distinct) "
            f"not in {input_index} were dropped"
        )
    if result.replaced_lines:
        notes.append(f"{result.replaced_lines:,} input lines replaced by a later line")
    if result.filters is not None:
        stats = result.filters
        notes.append(
            f"filter: {stats.removed:,} items removed, {stats.multiplied:,} scores multiplied"
        )
    click.echo(
        f"Wrote {what} layer {result.layer!r} for {result.samples:,} samples to "
        f"{result.path}" + (f" ({'; '.join(notes)})." if notes else "."),
        err=True,
    )
