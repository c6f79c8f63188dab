"""``lamina search``: Bayesian (or random, grid) hyperparameter search over a config's ``$search``
annotations, trials in parallel on Ray, resumable from its study directory."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lamina.cli.options import EXISTING_FILE, validation_options

__all__ = ["search"]


@click.command(
    "search",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "-c", "config_path", required=True, type=EXISTING_FILE, help="Config with $search annotations."
)
@click.option(
    "-i", "inputs", required=True, multiple=True, type=EXISTING_FILE, help="Input dataset(s)."
)
@click.option(
    "-o", "outputs", required=True, multiple=True, type=EXISTING_FILE, help="Target dataset(s)."
)
@validation_options
@click.option(
    "--metric",
    default="NDCG@10",
    show_default=True,
    help="NDCG@10, Recall@20, loss (validation) or training_loss.",
)
@click.option(
    "--direction",
    type=click.Choice(["maximize", "minimize"], case_sensitive=False),
    help="[default: maximize for NDCG/Recall, minimize for losses]",
)
@click.option(
    "--objective",
    default="best",
    show_default=True,
    type=click.Choice(["best", "last"], case_sensitive=False),
    help="A trial's value: its best epoch's metric (the best config then trains that many "
    "epochs) or its last epoch's.",
)
@click.option("--trials", default=64, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--parallel", default=4, show_default=True, type=click.IntRange(min=1), help="Trials at once."
)
@click.option(
    "--strategy",
    default="bayes",
    show_default=True,
    type=click.Choice(["bayes", "random", "grid"], case_sensitive=False),
)
@click.option(
    "--address",
    help="Ray cluster: HOST:PORT (GCS, on a cluster node), ray://HOST:PORT (Ray Client) or auto."
    "  [default: $RAY_ADDRESS, else a local Ray]",
)
@click.option(
    "--study",
    "study_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Study directory; the same command again resumes it.",
)
@click.option("-e", "epochs", type=click.IntRange(min=1), help="Epochs of every trial.")
@click.option("--seed", default=12134, show_default=True, type=int, help="Search and train seed.")
@click.option("--no-early-stop", is_flag=True, help="Run every trial to its last epoch.")
@click.option(
    "--min-epochs",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="First successive-halving rung.",
)
@click.option(
    "--reduction-factor",
    default=3,
    show_default=True,
    type=click.IntRange(min=2),
    help="Keep the best 1/F of the trials at each rung; rungs F times apart.",
)
@click.option(
    "--max-new-trials",
    type=click.IntRange(min=0),
    help="Start at most this many new trials in this run, then stop (resumable).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def search(
    config_path: Path,
    inputs: tuple[Path, ...],
    outputs: tuple[Path, ...],
    validation: tuple[Path, ...],
    validation_fraction: float | None,
    metric: str,
    direction: str | None,
    objective: str,
    trials: int,
    parallel: int,
    strategy: str,
    address: str | None,
    study_dir: Path,
    epochs: int | None,
    seed: int,
    no_early_stop: bool,
    min_epochs: int,
    reduction_factor: int,
    max_new_trials: int | None,
    no_progress: bool,
) -> None:
    """Search hyperparameters: each trial trains the config with sampled values.

    \b
    Example:
      lamina search -c search.json -i in.nc -o out.nc --validation-fraction 0.1 \\
          --metric NDCG@10 --trials 30 --parallel 2 --study study/

    Mark the values to search in the config, e.g. "Alpha": {"$search": "float",
    "low": 1e-4, "high": 0.03, "log": true}. Everything lives in --study: kill the
    search and run the same command again to resume it. At the end: a table of
    trials, STUDY/best_config.json (a plain config), best_so_far.png and
    params_vs_metric.png.
    """
    from lamina.search.halving import Halving
    from lamina.search.runner import SearchOptions, run_search

    options = SearchOptions(
        metric=metric,
        direction=direction.lower() if direction else None,
        objective=objective.lower(),
        trials=trials,
        parallel=parallel,
        strategy=strategy.lower(),
        address=address,
        seed=seed,
        early_stop=None if no_early_stop else Halving(min_epochs, reduction_factor),
        epochs=epochs,
        validation=validation,
        validation_fraction=validation_fraction,
        max_new_trials=max_new_trials,
        progress=not no_progress,
        command=tuple(["lamina", *sys.argv[1:]]),
        log=lambda line: click.echo(line, err=True),
    )
    result = run_search(
        config_path, inputs=inputs, outputs=outputs, study_dir=study_dir, options=options
    )
    click.echo(result.table, nl=False)
    if result.best is not None:
        click.echo(f"best: trial {result.best.id}, {metric} {result.best.value:.6g}")
        for name in ("best_config", "best_network", "best_so_far", "params_vs_metric"):
            if name in result.files:
                click.echo(f"{name}: {result.files[name]}")
    if not result.complete:
        click.echo("the study is not complete: run the same command again to continue.", err=True)
