"""TensorBoard scalars for a training run, or nothing at all when switched off.

One event folder per network (default ``<network path>.runs``). On resume the writer purges events
logged after the resumed step, so curves continue without a doubled tail.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.train.options import EpochReport

__all__ = ["ScalarLog", "default_logdir"]


def default_logdir(network_path: Path) -> Path:
    """``<network path>.runs`` beside the network file."""
    return network_path.with_name(network_path.name + ".runs")


class ScalarLog:
    """A thin wrapper of ``torch.utils.tensorboard.SummaryWriter`` (no-op when ``logdir`` is None).

    Args:
        logdir: event folder, or ``None`` to log nothing.
        purge_step: global step (minibatches) from which old events are dropped (resume).
    """

    def __init__(self, logdir: Path | None, *, purge_step: int | None = None) -> None:
        self._writer: Any = None
        if logdir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(logdir), purge_step=purge_step)

    def batch(self, step: int, *, loss: float, learning_rate: float) -> None:
        """Log one minibatch: its mean training loss per example and its step size."""
        if self._writer is not None:
            self._writer.add_scalar("batch/loss", loss, step)
            self._writer.add_scalar("batch/learning_rate", learning_rate, step)

    def epoch(self, report: EpochReport, *, step: int) -> None:
        """Log an epoch's errors, learning rate and validation metrics at global ``step``
        (minibatches so far, the x axis of every scalar, so a resume's purge covers them all)."""
        if self._writer is None:
            return
        self._writer.add_scalar("epoch/epoch", report.epoch, step)
        self._writer.add_scalar("epoch/average_error", report.average_error, step)
        self._writer.add_scalar("epoch/training_error", report.training_error, step)
        self._writer.add_scalar("epoch/regularization_error", report.regularization_error, step)
        self._writer.add_scalar("epoch/learning_rate", report.learning_rate, step)
        if report.validation_error is not None:
            self._writer.add_scalar("validation/error", report.validation_error, step)
        for name, value in report.metrics.items():
            self._writer.add_scalar(f"validation/{name}", value, step)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
