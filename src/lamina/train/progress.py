"""A run's progress and its round trip through network files (the resume state).

Saved in ``TrainingState``: epochs done, examples into the current epoch (non-zero only for a
Ctrl-C save), minibatch count, the epoch's running sums (mid-epoch only), per-epoch metrics, the
resolved hyper-parameters and seed, the optimizer/brake/schedule state (and torch's RNG state for a
mid-epoch save), dataset dims and index checksums.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lamina.config import NetworkConfig, to_dict
from lamina.config.enums import label
from lamina.errors import DataError
from lamina.nn import Network
from lamina.train.loop import Stepper
from lamina.train.network_file import NetworkFile, TrainingState
from lamina.train.options import Hyperparameters
from lamina.train.resume import ResumePoint
from lamina.train.weights import load_records, to_records

__all__ = ["Progress", "check_resume_data", "make_network_file", "restore", "same_network"]


def _zero_totals() -> dict[str, float]:
    return {"error": 0.0, "regularization": 0.0, "elapsed": 0.0}


@dataclass
class Progress:
    """Where a run is.

    Attributes:
        epoch: epochs completed.
        position: examples of epoch ``epoch + 1`` already trained.
        step: minibatches processed since the first epoch (TensorBoard's x axis).
        totals: running sums of the current epoch: summed error, regularization x examples,
            seconds.
        metrics: metric name -> one value per completed epoch.
    """

    epoch: int = 0
    position: int = 0
    step: int = 0
    totals: dict[str, float] = field(default_factory=_zero_totals)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def finish_epoch(self, values: dict[str, float]) -> None:
        """Record an epoch's metrics and move to the start of the next epoch."""
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(value)
        self.epoch += 1
        self.position = 0
        self.totals = _zero_totals()


def same_network(a: NetworkConfig, b: NetworkConfig) -> bool:
    """Equal configs apart from ``TrainingParameters`` (which a resume may change)."""
    return to_dict(replace(a, training=None)) == to_dict(replace(b, training=None))


def check_resume_data(
    point: ResumePoint, widths: dict[str, tuple[int, ...]], checksums: dict[str, str]
) -> None:
    """Raise DataError if the data dims or index files differ from those of ``point``."""
    state = point.network.training
    if state is None:
        return
    for name, dims in state.data_widths.items():
        if name in widths and list(widths[name]) != list(dims):
            raise DataError(
                f"dataset {name!r} has dims {list(widths[name])} but {point.path} was trained on "
                f"{list(dims)}.",
                hint="resume with the same data files, or start afresh with --overwrite",
            )
    for name, digest in checksums.items():
        if name in state.index_checksums and state.index_checksums[name] != digest:
            raise DataError(
                f"index file {name!r} differs from the one {point.path} was trained with "
                "(SHA-256 mismatch).",
                hint="resume with the same index files, or start afresh with --overwrite",
            )


def make_network_file(
    *,
    network: Network,
    stepper: Stepper,
    hyper: Hyperparameters,
    progress: Progress,
    seed: int,
    widths: dict[str, tuple[int, ...]],
    checksums: dict[str, str],
    network_path: Path,
    mid_epoch: bool,
) -> NetworkFile:
    """The network file of the current state (weights plus everything a resume needs)."""
    arrays, meta = stepper.state_arrays(with_rng=mid_epoch)
    meta.update(
        hyperparameters=hyper.to_dict(),
        seed=seed,
        position=progress.position if mid_epoch else 0,
        step=progress.step,
        epoch_totals=dict(progress.totals) if mid_epoch else {},
    )
    weights, batch_norm = to_records(network)
    interval = hyper.checkpoint_interval
    state = TrainingState(
        epoch=progress.epoch,
        batches=stepper.schedule.batches,
        optimizer=label(hyper.optimizer),
        optimizer_state=arrays,
        optimizer_meta=meta,
        data_widths={k: list(v) for k, v in widths.items()},
        index_checksums=dict(checksums),
        metrics={k: list(v) for k, v in progress.metrics.items()},
    )
    return NetworkFile(
        config=network.config,
        weights=weights,
        batch_norm=batch_norm,
        training=state,
        checkpoint_name=str(network_path),  # DSSTNE's train: SetCheckpoint(networkFileName, 10)
        checkpoint_interval=interval,
        checkpoint_epochs=progress.epoch % interval if interval else 0,
    )


def restore(point: ResumePoint, *, network: Network, stepper: Stepper) -> tuple[Progress, bool]:
    """Load ``point``'s weights and training state into ``network`` and ``stepper``.

    Returns:
        ``(progress, rng_restored)``: where to continue, and whether torch's RNG state was restored
        (a mid-epoch save), in which case the epoch must not re-seed it.
    """
    load_records(network, point.network)
    state = point.network.training
    if state is None:  # a plain model file: its weights, fresh optimizer, epoch 0
        return Progress(), False
    meta = state.optimizer_meta
    arrays = state.optimizer_state
    if state.optimizer.lower() != label(stepper.hyper.optimizer).lower():
        arrays = {k: v for k, v in arrays.items() if not k.startswith("opt.")}  # fresh moments
    rng_restored = stepper.load_state_arrays(arrays, meta)
    progress = Progress(
        epoch=state.epoch,
        position=point.position,
        step=int(meta.get("step", 0)),
        metrics={k: list(v) for k, v in state.metrics.items()},
    )
    if point.position:
        progress.totals.update(meta.get("epoch_totals", {}))
    return progress, rng_restored
