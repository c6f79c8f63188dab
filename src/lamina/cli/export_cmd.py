"""``lamina export``: a trained network to ONNX, optionally int8, verified against fp32. The work
is :func:`lamina.export.api.export_network`."""

from __future__ import annotations

from pathlib import Path

import click

from lamina.cli.options import EXISTING_FILE

__all__ = ["export"]


@click.command("export", context_settings={"max_content_width": 100})
@click.option("-n", "network", required=True, type=EXISTING_FILE, help="Trained network (.nc).")
@click.option(
    "-o",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="ONNX model to write (only when verification passes, atomically).",
)
@click.option(
    "--int8",
    "int8",
    type=click.Choice(["dynamic", "static"], case_sensitive=False),
    default=None,
    help="Quantize with ONNX Runtime: dynamic, or static (QDQ, needs --calibration).",
)
@click.option(
    "--calibration",
    type=EXISTING_FILE,
    default=None,
    help="Dataset file (.nc) of the network's input: activation ranges for --int8 static.",
)
@click.option(
    "--per-channel/--per-tensor",
    default=True,
    show_default=True,
    help="One int8 scale per output unit / channel, or one per weight tensor.",
)
@click.option(
    "--weight-type",
    type=click.Choice(["qint8", "quint8"], case_sensitive=False),
    default="qint8",
    show_default=True,
    help="int8 weight encoding for --int8 dynamic (quint8: slower, for CPUs without VNNI).",
)
@click.option(
    "--data",
    "data",
    type=EXISTING_FILE,
    multiple=True,
    help="Dataset file(s) (.nc) with real rows to verify on (repeatable; labels for "
    "classification). [default: --calibration]",
)
@click.option(
    "--layer",
    "layers",
    multiple=True,
    help="Layer to export as an output (repeatable).  [default: the Output layers]",
)
@click.option(
    "--task",
    type=click.Choice(["auto", "ranking", "classification"], case_sensitive=False),
    default="auto",
    show_default=True,
    help="What verification bounds: top-k agreement (ranking) or accuracy (classification); "
    "auto = classification for a SoftMax output.",
)
@click.option(
    "-k",
    "topk",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="k of the top-k agreement.",
)
@click.option(
    "--max-topk-disagreement",
    type=click.FloatRange(0.0, 1.0),
    default=0.01,
    show_default=True,
    help="Fail when 1 - top-k agreement of int8 with fp32 exceeds this.",
)
@click.option(
    "--max-accuracy-drop",
    type=click.FloatRange(0.0, 100.0),
    default=0.5,
    show_default=True,
    help="Fail when int8 accuracy is more than this many points below fp32.",
)
@click.option(
    "--verify-rows",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Rows of --data used for verification (the first ones).",
)
@click.option(
    "--input-form",
    type=click.Choice(["sparse", "dense"], case_sensitive=False),
    default="sparse",
    show_default=True,
    help="sparse: Sparse Input layers take indices_<layer>/values_<layer> (B, L), padded; "
    "dense: every Input layer takes dense_<layer> (B, units).",
)
def export(
    network: Path,
    output: Path,
    int8: str | None,
    calibration: Path | None,
    per_channel: bool,
    weight_type: str,
    data: tuple[Path, ...],
    layers: tuple[str, ...],
    task: str,
    topk: int,
    max_topk_disagreement: float,
    max_accuracy_drop: float,
    verify_rows: int,
    input_form: str,
) -> None:
    """Export a trained network to ONNX, optionally int8, verified against fp32.

    The model takes indices_/values_<Input layer> (B, L) padded rows for Sparse Input layers
    (--input-form sparse, the default) or dense_<Input layer> (B, units) float32 rows, and
    returns each exported layer's (B, units) activations; its metadata (config, feature index
    checksums, quantization, input form, verification) lets 'lamina predict --engine onnx' serve
    it alone. Exits 1 without writing -o when the int8 model is worse than the bounds allow.

    \b
    Example:
      lamina export -n gl.nc -o gl.onnx --int8 dynamic --data gl_input.nc
      lamina predict -n gl.onnx -d gl -i features_input -o features_output -r ratings -s recs
    """
    from lamina.export.api import export_network
    from lamina.export.settings import ExportSettings

    settings = ExportSettings(
        int8=(int8 or "none").lower(),
        weight_type=weight_type.lower(),
        per_channel=per_channel,
        task=task.lower(),
        topk=topk,
        max_topk_disagreement=max_topk_disagreement,
        max_accuracy_drop=max_accuracy_drop,
        verify_rows=verify_rows,
        output_layers=layers,
        input_form=input_form.lower(),
    )
    result = export_network(network, output, settings=settings, data=data, calibration=calibration)
    click.echo(result.report.table(), err=True)
    kind = f"int8 ({settings.int8})" if settings.quantized else "fp32"
    click.echo(f"Wrote {kind} ONNX model to {result.path}.", err=True)
