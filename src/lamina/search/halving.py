"""Early stopping of unpromising trials: asynchronous successive halving (ASHA).

Rungs sit at epochs ``min_epochs * reduction_factor**k`` (1, 3, 9, 27, ... by default) below the
trial's last epoch. When a trial finishes a rung's epoch, its metric there joins every value
recorded at that rung so far (by any trial, finished or running, including earlier drivers of the
same study). With ``n`` values at the rung the trial continues only if it ranks among the best
``max(1, n // reduction_factor)``; while fewer than ``reduction_factor`` values exist it always
continues (there is nothing to compare with yet). This is Li et al.'s ASHA promotion rule, applied
as a stop rule, as in Optuna's ``SuccessiveHalvingPruner`` (which has no such grace period).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lamina.errors import UsageError

__all__ = ["Halving", "RungRecords"]


@dataclass(frozen=True)
class Halving:
    """The early-stopping rule.

    Attributes:
        min_epochs: the first rung's epoch.
        reduction_factor: keep the best ``1 / reduction_factor`` at each rung; rungs are this
            factor apart.

    Raises:
        UsageError: ``min_epochs < 1`` or ``reduction_factor < 2``.
    """

    min_epochs: int = 1
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.min_epochs, int) or self.min_epochs < 1:
            raise UsageError(f"min_epochs must be an integer >= 1. Got {self.min_epochs!r}.")
        if not isinstance(self.reduction_factor, int) or self.reduction_factor < 2:
            raise UsageError(
                f"reduction_factor must be an integer >= 2. Got {self.reduction_factor!r}."
            )

    def rungs(self, max_epochs: int) -> list[int]:
        """Epochs at which a trial of ``max_epochs`` epochs is judged (the last one never is)."""
        out, epoch = [], self.min_epochs
        while epoch < max_epochs:
            out.append(epoch)
            epoch *= self.reduction_factor
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rule": "successive_halving",
            "min_epochs": self.min_epochs,
            "reduction_factor": self.reduction_factor,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Halving:
        """Inverse of :meth:`to_dict`."""
        return cls(int(data["min_epochs"]), int(data["reduction_factor"]))


@dataclass
class RungRecords:
    """The values recorded at each rung, and the stop decisions.

    Attributes:
        rule: the halving rule.
        maximize: whether larger metric values are better.
        values: rung epoch -> ``{trial id: value}``.
    """

    rule: Halving
    maximize: bool
    values: dict[int, dict[str, float]] = field(default_factory=dict)

    def record(self, trial_id: str, epoch: int, value: float, *, max_epochs: int) -> bool:
        """Record a trial's metric after ``epoch``; return True if it should stop now.

        Args:
            trial_id: the trial.
            epoch: the epoch just finished (1-based).
            value: its metric (NaN counts as the worst value).
            max_epochs: the trial's planned epochs (no rung at or beyond it).
        """
        if epoch not in self.rule.rungs(max_epochs):
            return False
        rung = self.values.setdefault(epoch, {})
        rung[trial_id] = value
        n = len(rung)
        if n < self.rule.reduction_factor:
            return False
        keep = max(1, n // self.rule.reduction_factor)
        ranked = sorted(rung.items(), key=lambda kv: self._key(kv[1]))
        return trial_id not in {tid for tid, _ in ranked[:keep]}

    def _key(self, value: float) -> float:
        if value != value:  # NaN: worst
            return float("inf")
        return -value if self.maximize else value
