"""``lamina data split``: train/test files for evaluation.

Protocols: per-sample holdout, held-out samples (strong generalization), by time.
"""

from __future__ import annotations

import click

from lamina.errors import UsageError

__all__ = ["split"]


def _count_or_fraction(text: str | None) -> int | float | None:
    """``"600"`` -> 600 samples, ``"0.1"`` -> a tenth of them."""
    if text is None:
        return None
    try:
        return int(text) if text.strip().isdigit() else float(text)
    except ValueError:
        raise UsageError(
            f"--holdout-samples must be a count (e.g. 600) or a fraction (e.g. 0.1). Got {text!r}."
        ) from None


@click.command("split")
@click.argument("input", type=click.Path(dir_okay=False))
@click.option("--train", required=True, type=click.Path(dir_okay=False), help="Train output.")
@click.option("--test", required=True, type=click.Path(dir_okay=False), help="Test output.")
@click.option(
    "--holdout-fraction",
    type=float,
    help="Share of each sample's features held out for test [default: 0.2].",
)
@click.option(
    "--holdout-samples",
    metavar="N|F",
    help="Strong generalization: hold out N samples (or a fraction F) entirely.",
)
@click.option(
    "--fold-in-fraction",
    type=float,
    help="With --holdout-samples: share of a held-out sample's features given as fold-in input.",
)
@click.option(
    "--fold-in",
    type=click.Path(dir_okay=False),
    help="Where the fold-in parts go [default: into --train].",
)
@click.option(
    "--by-time", is_flag=True, help="Hold out each sample's latest features (values = timestamps)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random choices.")
@click.option(
    "--min-items",
    type=int,
    default=2,
    show_default=True,
    help="Samples with fewer features are not split (they go wholly to train).",
)
def split(
    input: str,
    train: str,
    test: str,
    holdout_fraction: float | None,
    holdout_samples: str | None,
    fold_in_fraction: float | None,
    fold_in: str | None,
    by_time: bool,
    seed: int,
    min_items: int,
) -> None:
    """Split a DSSTNE text file into aligned train and test files.

    Every split sample gives round(fraction x n) of its n features to test (at least 1, at most
    n - 1) and keeps the rest in train, so each test sample is also in train under the same label.
    """
    from lamina.data.split import split_text

    samples = _count_or_fraction(holdout_samples)
    if samples is not None and holdout_fraction is not None:
        raise UsageError("--holdout-fraction and --holdout-samples cannot be combined")
    summary = split_text(
        input,
        train=train,
        test=test,
        holdout_fraction=0.2 if holdout_fraction is None else holdout_fraction,
        holdout_samples=samples,
        fold_in_fraction=fold_in_fraction,
        fold_in=fold_in,
        by_time=by_time,
        seed=seed,
        min_items=min_items,
    )
    click.echo(
        f"read {summary.samples} samples; wrote {train}: {summary.train_samples} samples, "
        f"{summary.train_elements} features; {test}: {summary.test_samples} samples, "
        f"{summary.test_elements} features"
        + (
            f"; {fold_in}: {summary.fold_in_samples} samples, {summary.fold_in_elements} features"
            if fold_in
            else ""
        )
        + (f" ({summary.heldout_samples} samples held out)" if summary.heldout_samples else "")
        + (f" ({summary.unsplit_samples} too small to split)" if summary.unsplit_samples else "")
    )
