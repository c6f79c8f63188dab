"""What ``train`` is asked to do (:class:`TrainOptions`), what it reports (:class:`EpochReport`,
:class:`TrainResult`) and how hyper-parameters are resolved (:func:`resolve_hyperparameters`).

Precedence of every hyper-parameter: an explicit option (a command-line flag) > the value stored in
the checkpoint being resumed > the config's ``TrainingParameters`` block > DSSTNE's ``train``
default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lamina.config.enums import OPTIMIZERS, Optimizer, label
from lamina.config.model import NetworkConfig
from lamina.errors import UsageError

__all__ = [
    "DSSTNE_SEED",
    "EARLY_STOPPING_METRICS",
    "EpochReport",
    "Hyperparameters",
    "TrainOptions",
    "TrainResult",
    "resolve_hyperparameters",
]

DSSTNE_SEED = 12134  # DSSTNE's FIXED_SEED (Utils.h): its train CLI always used it

# (mu, mu1) when neither the command line, the config nor a resumed file sets them. DSSTNE's train
# defaults (-mu 0.5, -mu1 0) were meant for its hard-coded SGD; as Adam's beta1/beta2 they diverge
# (beta2 = 0 means no second-moment averaging), so each optimizer gets its customary values.
OPTIMIZER_MU_DEFAULTS: dict[Optimizer, tuple[float, float]] = {
    Optimizer.SGD: (0.5, 0.0),
    Optimizer.MOMENTUM: (0.5, 0.0),
    Optimizer.NESTEROV: (0.5, 0.0),
    Optimizer.ADAGRAD: (0.5, 0.0),  # uses neither
    Optimizer.RMSPROP: (0.9, 0.0),
    Optimizer.ADADELTA: (0.95, 0.0),
    Optimizer.ADAM: (0.9, 0.999),
}


@dataclass(frozen=True)
class Hyperparameters:
    """The resolved values a run trains with (stored in every checkpoint, reused on resume).

    Defaults are DSSTNE's ``train`` CLI defaults (Train.cpp), which hard-codes SGD.
    """

    optimizer: Optimizer = Optimizer.SGD
    alpha: float = 0.025  # learning rate, -alpha
    lambda_l2: float = 0.0001  # -lambda: L2 weight decay (biases excluded)
    lambda_l1: float = 0.0  # -lambda1: L1 weight decay (biases excluded)
    mu: float = 0.5  # -mu: momentum / first-moment decay (unused by SGD)
    mu1: float = 0.0  # -mu1: second-moment decay (Adam)
    batch: int = 1024  # -b
    epochs: int = 40  # -e: total epochs of the run, counted from the first epoch
    decay: float = 0.0  # lr = alpha / (1 + decay * minibatches); config "Decay"
    checkpoint_interval: int = 10  # DSSTNE's train: SetCheckpoint(networkFileName, 10)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form (the optimizer as its label, e.g. ``"SGD"``)."""
        data = asdict(self)
        data["optimizer"] = label(self.optimizer)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hyperparameters:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (files from newer versions)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "optimizer" in values:
            values["optimizer"] = Optimizer(OPTIMIZERS.get(str(values["optimizer"])))
        return cls(**values)


@dataclass(frozen=True)
class EpochReport:
    """What one finished epoch reports to ``on_epoch_end``, the log and TensorBoard.

    Attributes:
        epoch: 1-based number of the epoch that just finished.
        epochs: total epochs of the run.
        training_error: DSSTNE's "average training error": summed loss / examples.
        regularization_error: DSSTNE's "average regularization error" (½λ‖W‖² + λ1‖W‖₁).
        average_error: training_error + regularization_error.
        learning_rate: the step size of the epoch's last update (after decay, before the brake).
        elapsed: seconds the epoch took.
        batches: minibatch updates since the start of training.
        validation_error: summed validation loss / validation examples, or ``None``.
        metrics: further validation metrics, e.g. ``{"recall@20": 0.31}``.
    """

    epoch: int
    epochs: int
    training_error: float
    regularization_error: float
    average_error: float
    learning_rate: float
    elapsed: float
    batches: int
    validation_error: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def summary_line(self) -> str:
        """DSSTNE's epoch line (``NNNetwork::Train``), without its class prefix."""
        return (
            f"Epoch {self.epoch}, average error {self.average_error:f}, average training error "
            f"{self.training_error:f}, average regularization error {self.regularization_error:f}, "
            f"elapsed time {self.elapsed:f}s"
        )

    def validation_line(self) -> str | None:
        """``Epoch N, validation error X, recall@20 Y, ...`` or ``None`` without validation data."""
        if self.validation_error is None:
            return None
        parts = [f"validation error {self.validation_error:f}"]
        parts += [f"{name} {value:f}" for name, value in self.metrics.items()]
        return f"Epoch {self.epoch}, " + ", ".join(parts)


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`lamina.train.trainer.train`.

    Attributes:
        network_path: the final network file.
        epochs_completed: epochs done in total (including those before a resume).
        hyperparameters: the values the run trained with.
        history: one report per epoch run in this call.
        checkpoints: checkpoint files written in this call.
        resumed_from: the file training continued from, or ``None``.
        stopped_early: ``on_epoch_end`` or early stopping ended the run before ``epochs``.
        best_epoch: with ``early_stopping``, the epoch whose state the network file holds.
    """

    network_path: Path
    epochs_completed: int
    hyperparameters: Hyperparameters
    history: list[EpochReport]
    checkpoints: list[Path]
    resumed_from: Path | None = None
    stopped_early: bool = False
    best_epoch: int | None = None


PathLike = str | os.PathLike[str]
# monitored metric -> True when larger is better (names as the epoch reports them)
EARLY_STOPPING_METRICS = {"ndcg@10": True, "recall@20": True, "validation_error": False}


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """How to run training. Hyper-parameters left ``None`` come from the config's
    ``TrainingParameters`` (or the checkpoint on resume), else DSSTNE's defaults.

    Attributes:
        batch, epochs, alpha, lambda_l2, lambda_l1, mu, mu1, optimizer, checkpoint_interval:
            explicit hyper-parameters (``-b -e -alpha -lambda -lambda1 -mu -mu1 --optimizer
            --checkpoint-interval``); ``checkpoint_interval=0`` writes no checkpoints.
        resume: continue from the newest loadable checkpoint (or interrupted network file).
        overwrite: replace an existing network file and start afresh.
        seed: seed of initialization, shuffling, denoising and dropout; ``None``: the resumed
            file's seed, else DSSTNE's fixed 12134.
        device: ``"cpu"`` or ``"cuda"``.
        threads: torch intra-op threads (``None``: torch's default).
        brake: DSSTNE's divergence brake (on by default).
        validation: netCDF files holding the validation datasets (same names as training's).
        validation_fraction: hold out this fraction of the training examples instead.
        feature_indices: index name -> index file, checksummed into the network file.
        logdir: TensorBoard folder (default ``<network path>.runs``).
        tensorboard: write TensorBoard scalars.
        progress: show a tqdm bar per epoch on stderr.
        memory_limit: bytes of training data under which everything is loaded once (a full
            shuffle per epoch); larger data are streamed from disk in chunks (block shuffle).
        chunk_examples: examples per chunk when streaming.
        log: receives DSSTNE's epoch lines (the CLI prints them to stdout); ``None``: silent.
        on_epoch_end: called after every epoch; returning ``True`` stops training early.
        early_stopping: a validation metric to monitor (``ndcg@10``, ``recall@20`` (maximized)
            or ``validation_error`` (minimized)); the network file then holds the best epoch's
            state, and training stops ``patience`` epochs after the best one. Needs validation.
        patience: epochs without improvement before early stopping ends the run.
    """

    batch: int | None = None
    epochs: int | None = None
    alpha: float | None = None
    lambda_l2: float | None = None
    lambda_l1: float | None = None
    mu: float | None = None
    mu1: float | None = None
    optimizer: Optimizer | str | None = None
    checkpoint_interval: int | None = None
    resume: bool = False
    overwrite: bool = False
    seed: int | None = None
    device: str = "cpu"
    threads: int | None = None
    brake: bool = True
    validation: tuple[PathLike, ...] = ()
    validation_fraction: float | None = None
    feature_indices: Mapping[str, PathLike] = field(default_factory=dict)
    logdir: PathLike | None = None
    tensorboard: bool = True
    progress: bool = False
    memory_limit: int = 1 << 30  # DSSTNE held all data on the GPU; past 1 GB we stream instead
    chunk_examples: int = 65536
    log: Callable[[str], None] | None = None
    on_epoch_end: Callable[[EpochReport], bool | None] | None = None
    early_stopping: str | None = None
    patience: int = 5

    def __post_init__(self) -> None:
        for name in ("batch", "epochs", "checkpoint_interval", "threads", "chunk_examples"):
            value = getattr(self, name)
            low = 1 if name in ("batch", "threads", "chunk_examples") else 0
            if value is not None and (not isinstance(value, int) or value < low):
                raise UsageError(f"{name} must be an integer >= {low}. Got {value!r}.")
        for name in ("alpha", "lambda_l2", "lambda_l1", "mu", "mu1"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise UsageError(f"{name} must be a finite number >= 0. Got {value!r}.")
        if isinstance(self.optimizer, str):
            object.__setattr__(self, "optimizer", Optimizer(OPTIMIZERS.get(self.optimizer)))
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite exclude each other: choose one.")
        if self.validation and self.validation_fraction is not None:
            raise UsageError("give either --validation or --validation-fraction, not both.")
        if self.validation_fraction is not None and not 0.0 < self.validation_fraction < 1.0:
            raise UsageError(
                f"validation_fraction must be in (0, 1). Got {self.validation_fraction!r}."
            )
        if not isinstance(self.patience, int) or self.patience < 1:
            raise UsageError(f"patience must be an integer >= 1. Got {self.patience!r}.")
        if self.early_stopping is not None:
            metric = self.early_stopping.strip().lower()
            if metric not in EARLY_STOPPING_METRICS:
                raise UsageError(
                    f"early_stopping must be one of {list(EARLY_STOPPING_METRICS)}. "
                    f"Got {self.early_stopping!r}."
                )
            if not self.validation and self.validation_fraction is None:
                raise UsageError(
                    "early stopping monitors validation data: pass --validation FILE or "
                    "--validation-fraction F as well."
                )
            object.__setattr__(self, "early_stopping", metric)
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise UsageError(f"device must be one of [cpu, cuda, cuda:N]. Got {self.device!r}.")


_EXPLICIT = (
    "optimizer",
    "alpha",
    "lambda_l2",
    "lambda_l1",
    "mu",
    "mu1",
    "batch",
    "epochs",
    "checkpoint_interval",
)


def resolve_hyperparameters(
    options: TrainOptions,
    config: NetworkConfig,
    *,
    stored: Hyperparameters | None = None,
) -> Hyperparameters:
    """Apply the precedence: explicit option > ``stored`` (resume) > TrainingParameters > default.

    Args:
        options: the run's options; ``None`` fields are "not given".
        config: the network config (its ``TrainingParameters`` and ``Decay``).
        stored: the hyper-parameters of the checkpoint being resumed.

    Returns:
        The resolved hyper-parameters.
    """
    values: dict[str, Any] = asdict(Hyperparameters())
    given: set[str] = set()  # names set by the config, a resumed file or the command line
    block = config.training
    if block is not None:
        for name in (*_EXPLICIT, "decay"):
            value = getattr(block, name, None)
            if value is not None:
                values[name] = value
                given.add(name)
    if (block is None or block.decay is None) and config.decay:
        values["decay"] = config.decay
    if stored is not None:
        values.update(asdict(stored))
        given.update(("mu", "mu1"))
    for name in _EXPLICIT:
        value = getattr(options, name)
        if value is not None:
            values[name] = value
            given.add(name)
    values["optimizer"] = Optimizer(values["optimizer"])
    mu, mu1 = OPTIMIZER_MU_DEFAULTS[values["optimizer"]]
    if "mu" not in given:
        values["mu"] = mu
    if "mu1" not in given:
        values["mu1"] = mu1
    return Hyperparameters(**values)
