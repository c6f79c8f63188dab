"""DSSTNE's divergence "brake" (spec 2.7, ``NNNetwork::Train``), as a small resumable state machine.

Per minibatch, with ``error`` the minibatch's summed training error::

    moving_average = 0.9 * moving_average + 0.1 * error        # starts at 0
    if warm-up is over (100 minibatches seen) and error > 2 * moving_average:
        brake_steps = 25                                          # "Detected network divergence"
    if brake_steps > 0: lr_scale = 0.1; brake_steps -= 1
    apply the update iff brake_steps < 24

So the detecting minibatch is not applied and the next 24 are applied at 0.1 x alpha (the spec's
prose says 23; the code's count is 24). DSSTNE restarts the warm-up (and the average) on every
``Train()`` call, i.e. every epoch under its ``train`` CLI, which leaves the first 100 minibatches
of every epoch unguarded and restarts the average from 0. Lamina keeps one brake per run (warm-up
once); call ``reset()`` to get DSSTNE's per-call behaviour.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["DIVERGENCE_MESSAGE", "BrakeDecision", "DivergenceBrake"]

DIVERGENCE_MESSAGE = "Detected network divergence, attempting recovery."
WARMUP_STEPS = 100
BRAKE_STEPS = 25


class BrakeDecision(NamedTuple):
    """What to do with the current minibatch's update."""

    skip_update: bool
    lr_scale: float


class DivergenceBrake:
    """Stateful divergence detector; prints nothing (the trainer logs ``last_event``).

    Args:
        enabled: when False, ``observe`` always returns ``(False, 1.0)`` and keeps no state.

    Attributes:
        last_event: ``DIVERGENCE_MESSAGE`` if the last ``observe`` detected divergence, else None.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.last_event: str | None = None
        self.reset()

    def reset(self) -> None:
        """Start over: average 0, 100 warm-up minibatches, no braking (DSSTNE, each Train())."""
        self.moving_average = 0.0
        self.init_steps = WARMUP_STEPS
        self.brake_steps = 0

    def observe(self, minibatch_error: float) -> BrakeDecision:
        """Feed one minibatch's error (its sum over the minibatch, as DSSTNE) before its update.

        Returns:
            ``BrakeDecision(skip_update, lr_scale)``: skip the update, or apply it with
            ``alpha * lr_scale``.
        """
        self.last_event = None
        if not self.enabled:
            return BrakeDecision(False, 1.0)
        error = float(minibatch_error)
        self.moving_average = 0.9 * self.moving_average + 0.1 * error
        if self.init_steps == 0:
            if error > 2.0 * self.moving_average:
                self.brake_steps = BRAKE_STEPS
                self.last_event = DIVERGENCE_MESSAGE
        else:
            self.init_steps -= 1
        scale = 1.0
        if self.brake_steps > 0:
            scale = 0.1
            self.brake_steps -= 1
        return BrakeDecision(self.brake_steps >= BRAKE_STEPS - 1, scale)

    def state_dict(self) -> dict[str, Any]:
        """JSON-native state for checkpoints."""
        return {
            "enabled": self.enabled,
            "moving_average": self.moving_average,
            "init_steps": self.init_steps,
            "brake_steps": self.brake_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` output."""
        self.enabled = bool(state["enabled"])
        self.moving_average = float(state["moving_average"])
        self.init_steps = int(state["init_steps"])
        self.brake_steps = int(state["brake_steps"])
