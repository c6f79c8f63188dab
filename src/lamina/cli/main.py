"""``lamina``: the console script. The one place where exceptions become messages and exit codes.

Exit statuses: 0 success; 2 bad input (config, data, usage: ``ConfigError``, ``DataError``,
``UsageError``); 1 a failure while doing valid work; 3 a missing optional dependency;
130 interrupted.
Tracebacks are printed only with ``--debug``.
"""

from __future__ import annotations

import sys

import click

from lamina import __version__
from lamina.cli.lazy import LazyGroup
from lamina.errors import LaminaError

__all__ = ["cli", "main"]

# name -> ("module:command", short help shown by --help without importing the module)
COMMANDS = {
    "config": ("lamina.cli.config_cmd:config", "Validate, show and describe network configs."),
    "model": ("lamina.cli.model_cmd:model", "Build a network from a config and summarize it."),
    "generate-netcdf": (
        "lamina.cli.generate_cmd:generate_netcdf",
        "Convert DSSTNE text data to a netCDF-4 dataset file.",
    ),
    "data": ("lamina.cli.data_cmd:data", "Import, split, synthesize and inspect data."),
    "predict": (
        "lamina.cli.predict_cmd:predict",
        "Top-k recommendations from a trained network (DSSTNE's predict).",
    ),
    "evaluate": (
        "lamina.cli.evaluate_cmd:evaluate",
        "Ranking metrics of a network on held-out data.",
    ),
    "train": ("lamina.cli.train_cmd:train", "Train a network (DSSTNE's train)."),
    "export": (
        "lamina.cli.export_cmd:export",
        "Export a network to ONNX, optionally int8, verified against fp32.",
    ),
    "search": (
        "lamina.cli.search_cmd:search",
        "Bayesian hyperparameter search over a config, trials in parallel on Ray.",
    ),
}


class _Cli(LazyGroup):
    """Runs the command and turns every ``LaminaError`` into ``error: ...`` on stderr."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LaminaError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        return None


@click.group(cls=_Cli, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lamina")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
def cli(debug: bool) -> None:
    """Lamina: DSSTNE's network language and tools for sparse, wide data, on PyTorch."""


def main() -> None:
    """Entry point of the ``lamina`` console script and ``python -m lamina``."""
    sys.exit(cli.main(prog_name="lamina", standalone_mode=True))
