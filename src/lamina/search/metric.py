"""The metric a search optimizes: user spellings -> the key an :class:`EpochReport` provides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamina.errors import UsageError, did_you_mean

__all__ = ["METRICS", "Metric", "epoch_values", "resolve_metric"]


@dataclass(frozen=True)
class Metric:
    """A searchable metric.

    Attributes:
        key: the key in :func:`epoch_values` (``"ndcg@10"``, ``"validation_error"``, ...).
        label: how tables and plots name it.
        direction: the natural direction, ``"maximize"`` or ``"minimize"``.
        needs_validation: True when only validation data yields it.
    """

    key: str
    label: str
    direction: str
    needs_validation: bool = True


_NDCG = Metric("ndcg@10", "NDCG@10", "maximize")
_RECALL = Metric("recall@20", "Recall@20", "maximize")
_LOSS = Metric("validation_error", "loss", "minimize")
_TRAIN = Metric("training_error", "training_loss", "minimize", needs_validation=False)
# every accepted spelling (lower case) -> metric; the first spelling of each is the one listed
METRICS: dict[str, Metric] = {
    "ndcg@10": _NDCG,
    "recall@20": _RECALL,
    "loss": _LOSS,
    "validation_loss": _LOSS,
    "validation_error": _LOSS,
    "training_loss": _TRAIN,
    "training_error": _TRAIN,
}
_LISTED = ("NDCG@10", "Recall@20", "loss", "training_loss")


def resolve_metric(name: str) -> Metric:
    """Resolve a metric name (any case; ``loss`` is the validation loss).

    Raises:
        UsageError: an unknown name, listing the available ones.
    """
    metric = METRICS.get(name.strip().lower())
    if metric is None:
        raise UsageError(
            f"--metric must be one of [{', '.join(_LISTED)}]. Got {name!r}."
            f"{did_you_mean(name, _LISTED)}",
            hint="NDCG@10 and Recall@20 are reported for autoencoder-style networks (sparse input "
            "and target of the same width) with validation data",
        )
    return metric


def epoch_values(report: Any) -> dict[str, Any]:
    """One :class:`~lamina.train.options.EpochReport` as the flat dict stored per epoch:
    ``{"epoch", "training_error", "validation_error" (if any), "ndcg@10", ...}``."""
    values: dict[str, Any] = {"epoch": report.epoch, "training_error": report.training_error}
    if report.validation_error is not None:
        values["validation_error"] = report.validation_error
    values.update(report.metrics)
    return values
