"""Early stopping on a validation metric, keeping the best epoch (``lamina train
--early-stopping METRIC --patience N``).

The trainer asks :meth:`EarlyStopping.after_epoch` after every epoch: ``"best"`` (write the
network file now: it then always holds the best epoch's complete, resumable state), ``"stop"``
(``patience`` epochs have passed since the best one) or ``"continue"``. A resumed run primes the
tracker with the per-epoch history stored in the network file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lamina.errors import UsageError
from lamina.train.options import EARLY_STOPPING_METRICS

__all__ = ["EarlyStopping"]

Verdict = Literal["best", "continue", "stop"]


@dataclass
class EarlyStopping:
    """The best value of the monitored metric so far, and its epoch.

    Attributes:
        metric: the monitored name as epochs report it (``ndcg@10``, ``recall@20``,
            ``validation_error``).
        larger_is_better: direction of improvement.
        epoch: the best epoch (None before the first value).
        value: its value.
    """

    metric: str
    larger_is_better: bool
    epoch: int | None = None
    value: float | None = None

    @classmethod
    def of(cls, history: dict[str, list[float]], metric: str | None) -> EarlyStopping | None:
        """The tracker for ``metric`` (None: no early stopping), primed with ``history`` (metric
        name -> one value per completed epoch)."""
        if metric is None:
            return None
        tracker = cls(metric, EARLY_STOPPING_METRICS[metric])
        for epoch, value in enumerate(history.get(metric, []), start=1):
            tracker.update(epoch, value)
        return tracker

    def update(self, epoch: int, value: float) -> bool:
        """Record ``epoch``'s value; True when it is a new best (NaN never is; ties are not)."""
        if math.isnan(value):
            return False
        if self.value is not None and (
            value <= self.value if self.larger_is_better else value >= self.value
        ):
            return False
        self.epoch, self.value = epoch, value
        return True

    def after_epoch(self, epoch: int, history: dict[str, list[float]], patience: int) -> Verdict:
        """What to do after ``epoch``, whose values are the last of ``history``.

        Raises:
            UsageError: the network reports no such metric.
        """
        values = history.get(self.metric)
        if not values:
            raise self.missing(history)
        if self.update(epoch, values[-1]):
            return "best"
        assert self.epoch is not None
        return "stop" if epoch - self.epoch >= patience else "continue"

    def missing(self, reported: Iterable[str]) -> UsageError:
        """The error for a network that does not report the monitored metric."""
        names = sorted(k for k in reported if k not in ("training_error", "regularization_error"))
        return UsageError(
            f"early stopping on {self.metric!r}: the network reports no such validation metric "
            f"(it reports {names}).",
            hint="ndcg@10 and recall@20 need one sparse Input and one sparse Output layer of the "
            "same width; validation_error is always reported",
        )

    def stop_line(self, epoch: int, network: Path) -> str:
        """The log line of an early stop after ``epoch``."""
        return (
            f"Early stopping: {self.metric} has not improved on {self.value:.6g} (epoch "
            f"{self.epoch}) for {epoch - (self.epoch or 0)} epochs; {network} holds epoch "
            f"{self.epoch}."
        )
