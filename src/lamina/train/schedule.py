"""DSSTNE's learning-rate decay (top-level ``"Decay"``, spec 1.2 and ``NNNetwork::Train``).

``step_alpha = alpha / (1 + decay * batches)``, where ``batches`` counts the weight updates already
applied (DSSTNE computes ``step_alpha`` before its ``_batches++``, so the first update uses
``alpha``, and minibatches skipped by the divergence brake do not count).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["AlphaSchedule", "set_learning_rate"]


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set ``lr`` in every parameter group of ``optimizer``."""
    for group in optimizer.param_groups:
        group["lr"] = lr


class AlphaSchedule:
    """Inverse-time decay of the learning rate, counted in applied updates (resumable).

    Args:
        alpha: base learning rate.
        decay: DSSTNE's ``Decay``; 0 (or less) keeps ``alpha`` constant.

    Example:
        >>> sched = AlphaSchedule(alpha=0.1, decay=0.5)
        >>> sched.alpha_now()
        0.1
        >>> sched.step(); sched.alpha_now()   # after one applied update: 0.1 / (1 + 0.5)
        0.06666666666666667

    Training loop (with the divergence brake)::

        skip, scale = brake.observe(error)
        if not skip:
            set_learning_rate(optimizer, schedule.alpha_now() * scale)
            optimizer.step()
            schedule.step()
    """

    def __init__(self, *, alpha: float, decay: float = 0.0) -> None:
        self.alpha = alpha
        self.decay = decay
        self.batches = 0  # weight updates applied so far (DSSTNE's _batches)

    def alpha_now(self) -> float:
        """The learning rate for the next update."""
        if self.decay <= 0:
            return self.alpha
        return self.alpha / (1.0 + self.decay * self.batches)

    def step(self) -> None:
        """Record one applied weight update."""
        self.batches += 1

    def state_dict(self) -> dict[str, Any]:
        """JSON-native state for checkpoints."""
        return {"alpha": self.alpha, "decay": self.decay, "batches": self.batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` output, alpha and decay included."""
        self.alpha = float(state["alpha"])
        self.decay = float(state["decay"])
        self.batches = int(state["batches"])
