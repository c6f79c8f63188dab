"""``lamina train``: DSSTNE's ``train`` command line, plus resume, validation and optimizer choice.

DSSTNE's single-dash multi-letter flags (``-alpha``, ``-lambda``, ...) work as in its ``train``.
Hyper-parameter precedence: an explicit flag > the config's ``TrainingParameters`` > DSSTNE's
default.
"""

from __future__ import annotations

from pathlib import Path

import click

from lamina.cli.options import EXISTING_FILE, validation_options
from lamina.errors import UsageError
from lamina.train.options import EARLY_STOPPING_METRICS

__all__ = ["train"]


def _parse_index(values: tuple[str, ...]) -> dict[str, Path]:
    """``NAME=PATH`` pairs of ``--feature-index``."""
    out: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--feature-index must be NAME=PATH. Got {value!r}.")
        if not Path(path).is_file():
            raise UsageError(f"--feature-index {name}: file {path!r} does not exist.")
        out[name] = Path(path)
    return out


@click.command(
    "train",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("-c", "config_path", type=EXISTING_FILE, help="Network config (JSON).")
@click.option(
    "-i", "input_path", required=True, type=EXISTING_FILE, help="Input dataset(s) (netCDF)."
)
@click.option(
    "-o", "output_path", required=True, type=EXISTING_FILE, help="Target dataset(s) (netCDF)."
)
@click.option(
    "-n",
    "network_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Network file to write; must not exist unless --resume or --overwrite.",
)
@click.option("-b", "batch", type=click.IntRange(min=1), help="Minibatch size.  [default: 1024]")
@click.option("-e", "epochs", type=click.IntRange(min=0), help="Total epochs.  [default: 40]")
@click.option(
    "-alpha", "alpha", type=click.FloatRange(min=0), help="Learning rate.  [default: 0.025]"
)
@click.option(
    "-lambda", "lambda_l2", type=click.FloatRange(min=0), help="L2 weight decay.  [default: 0.0001]"
)
@click.option(
    "-lambda1", "lambda_l1", type=click.FloatRange(min=0), help="L1 weight decay.  [default: 0]"
)
@click.option(
    "-mu", "mu", type=click.FloatRange(min=0), help="Momentum / decay rate.  [default: 0.5]"
)
@click.option(
    "-mu1", "mu1", type=click.FloatRange(min=0), help="Second-moment decay (Adam).  [default: 0]"
)
@click.option(
    "--optimizer",
    type=click.Choice(
        ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"],
        case_sensitive=False,
    ),
    help="Optimizer.  [default: sgd, as DSSTNE's train]",
)
@click.option(
    "--checkpoint-interval",
    type=click.IntRange(min=0),
    help="Epochs between checkpoints <network><epoch>.nc; 0 = none.  [default: 10]",
)
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace an existing network file.")
@validation_options
@click.option(
    "--early-stopping",
    "early_stopping",
    type=click.Choice(list(EARLY_STOPPING_METRICS), case_sensitive=False),
    help="Monitor this validation metric: -n keeps the best epoch, and training stops "
    "--patience epochs after it (needs --validation or --validation-fraction).",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Epochs without improvement before --early-stopping ends training.",
)
@click.option(
    "--seed",
    type=int,
    help="Seed of initialization, shuffling, denoising, dropout.  [default: 12134, as DSSTNE; "
    "on --resume: the file's]",
)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for torch.")
@click.option(
    "--memory-limit",
    type=click.IntRange(min=0),
    default=1 << 30,
    show_default=True,
    help="Bytes of training data loaded at once; larger data are streamed from disk in chunks.",
)
@click.option(
    "--chunk-examples",
    type=click.IntRange(min=1),
    default=65536,
    show_default=True,
    help="Examples per chunk when streaming (keep unchanged across --resume).",
)
@click.option("--no-brake", is_flag=True, help="Disable DSSTNE's divergence brake.")
@click.option(
    "--feature-index",
    "feature_index",
    multiple=True,
    metavar="NAME=PATH",
    help="Index file to checksum into the network file (repeatable); NAME is the file name "
    "predict will be given (e.g. features_input): predict refuses a file of that name with "
    "other content.",
)
@click.option(
    "--logdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="TensorBoard folder.  [default: <network>.runs]",
)
@click.option("--no-tensorboard", is_flag=True, help="Write no TensorBoard events.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def train(
    config_path: Path | None,
    input_path: Path,
    output_path: Path,
    network_path: Path,
    batch: int | None,
    epochs: int | None,
    alpha: float | None,
    lambda_l2: float | None,
    lambda_l1: float | None,
    mu: float | None,
    mu1: float | None,
    optimizer: str | None,
    checkpoint_interval: int | None,
    resume: bool,
    overwrite: bool,
    validation: tuple[Path, ...],
    validation_fraction: float | None,
    early_stopping: str | None,
    patience: int,
    seed: int | None,
    device: str,
    threads: int | None,
    memory_limit: int,
    chunk_examples: int,
    no_brake: bool,
    feature_index: tuple[str, ...],
    logdir: Path | None,
    no_tensorboard: bool,
    no_progress: bool,
) -> None:
    """Train a network (DSSTNE's train).

    \b
    Example:
      lamina train -c config.json -i gl_input.nc -o gl_output.nc -n gl.nc -b 256 -e 50

    Hyper-parameter flags left out take the config's TrainingParameters, else the
    DSSTNE default shown. Ctrl-C saves the current state to -n (exit 130); --resume
    continues from it or from the newest checkpoint. Unlike DSSTNE, no
    initial_network.nc is written to the current directory.
    """
    from lamina.train.options import TrainOptions
    from lamina.train.trainer import train as run

    if config_path is None and not resume:
        raise UsageError("missing option -c <config.json> (only --resume can do without it).")
    options = TrainOptions(
        batch=batch,
        epochs=epochs,
        alpha=alpha,
        lambda_l2=lambda_l2,
        lambda_l1=lambda_l1,
        mu=mu,
        mu1=mu1,
        optimizer=optimizer,
        checkpoint_interval=checkpoint_interval,
        resume=resume,
        overwrite=overwrite,
        seed=seed,
        device=device,
        threads=threads,
        memory_limit=memory_limit,
        chunk_examples=chunk_examples,
        brake=not no_brake,
        validation=validation,
        validation_fraction=validation_fraction,
        early_stopping=early_stopping,
        patience=patience,
        feature_indices=_parse_index(feature_index),
        logdir=logdir,
        tensorboard=not no_tensorboard,
        progress=not no_progress,
        log=click.echo,
    )
    result = run(
        config_path,
        inputs=input_path,
        outputs=output_path,
        network_path=network_path,
        options=options,
    )
    kept = "" if result.best_epoch is None else f" (it holds epoch {result.best_epoch}, the best)"
    click.echo(
        f"Saved {result.network_path} after {result.epochs_completed} epochs{kept}.", err=True
    )
