"""``train``: DSSTNE's training loop (``NNNetwork::Train`` driven by its ``train`` CLI), resumable.

Per epoch: a seeded example order (``ShuffleIndices``), minibatch updates (:class:`Stepper`),
DSSTNE's epoch line, optional validation, TensorBoard scalars, and a checkpoint
``<network><epoch>.nc`` every ``checkpoint_interval`` epochs. Every network file holds the resume
state, so ``resume=True`` continues from the newest one (DSSTNE could not: its issue 43).

Determinism: the example order, the denoising masks and torch's RNG (dropout) are re-seeded from
``(seed, epoch)`` at the start of every epoch, so resuming at an epoch boundary replays exactly what
an uninterrupted run does. Ctrl-C (SIGINT) finishes the current minibatch, writes the current state
(including the position inside the epoch and torch's RNG state) to the network file and raises
``KeyboardInterrupt``; resuming from it continues mid-epoch. A second Ctrl-C aborts at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.config import NetworkConfig, load_config, to_dict
from lamina.config.enums import LayerKind, label
from lamina.errors import ConfigError, DataError, UsageError
from lamina.nn import build_network
from lamina.train.data import TrainingData, epoch_order, load_training_data, minibatches
from lamina.train.loop import Stepper
from lamina.train.network_file import NetworkFile, TrainingState, checkpoint_path, save_network
from lamina.train.options import (
    EpochReport,
    Hyperparameters,
    PathLike,
    TrainOptions,
    TrainResult,
    resolve_hyperparameters,
)
from lamina.train.resume import (
    ResumePoint,
    find_resume_point,
    index_checksums,
    remove_stale_temp_files,
)
from lamina.train.tensorboard import ScalarLog, default_logdir
from lamina.train.weights import load_records, to_records

__all__ = ["train"]

ConfigSource = NetworkConfig | PathLike | dict[str, Any] | None


def train(
    config: ConfigSource,
    *,
    inputs: PathLike | Sequence[PathLike],
    outputs: PathLike | Sequence[PathLike],
    network_path: PathLike,
    options: TrainOptions | None = None,
) -> TrainResult:
    """Train a DSSTNE network and write it (with its resume state) to ``network_path``.

    Args:
        config: a ``NetworkConfig``, a JSON file path, JSON text or dict; may be None only when
            resuming (the checkpoint holds the config).
        inputs: netCDF file(s) with the input datasets (DSSTNE's ``-i``).
        outputs: netCDF file(s) with the target datasets (``-o``; may be the same file).
        network_path: the network file to write (``-n``).
        options: run options; hyper-parameters not set there come from the config's
            ``TrainingParameters`` (or the resumed checkpoint), else DSSTNE's defaults.

    Returns:
        What was trained, with one :class:`EpochReport` per epoch run.

    Raises:
        UsageError: ``network_path`` exists without ``resume``/``overwrite``; bad options.
        ConfigError, DataError: invalid config or data files; a changed config on resume.
        CheckpointError: a resumed file is unusable.
        KeyboardInterrupt: after Ctrl-C, once the current state is saved.

    Example:
        >>> result = train("config.json", inputs="in.nc", outputs="out.nc",  # doctest: +SKIP
        ...                network_path="gl.nc", options=TrainOptions(epochs=5, batch=256))
        >>> result.history[-1].training_error  # doctest: +SKIP
    """
    options = options or TrainOptions()
    run = _Run(Path(network_path), options)
    run.setup(config, [*_paths(inputs), *_paths(outputs)])
    return run.fit()


def _paths(value: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        return [Path(value)]  # type: ignore[arg-type]
    return [Path(v) for v in value]  # type: ignore[union-attr]


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 0x44524F50]).generate_state(1)[0])


def _same_network(a: NetworkConfig, b: NetworkConfig) -> bool:
    return to_dict(replace(a, training=None)) == to_dict(replace(b, training=None))


class _Interrupt:
    """SIGINT -> a flag the loop polls after each minibatch (main thread only)."""

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, frame: object) -> None:
            if self.requested:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.requested = True

        previous = signal.signal(signal.SIGINT, handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class _Run:
    """The state of one ``train`` call."""

    def __init__(self, network_path: Path, options: TrainOptions) -> None:
        self.path, self.options = network_path, options
        self.log = options.log or (lambda line: None)
        if network_path.exists() and not (options.resume or options.overwrite):
            raise UsageError(
                f"network file {str(network_path)!r} already exists.",
                hint="pass --resume to continue training it, or --overwrite to start afresh",
            )
        if network_path.is_dir():
            raise UsageError(f"network file {str(network_path)!r} is a directory.")

    # -- setup ----------------------------------------------------------------------------
    def setup(self, config: ConfigSource, data_paths: list[Path]) -> None:
        opts = self.options
        if opts.threads:
            torch.set_num_threads(opts.threads)
        if opts.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"device {opts.device!r} requested but CUDA is not available.")
        self.device = torch.device(opts.device)
        for removed in remove_stale_temp_files(self.path):
            self.log(f"removed a temporary file left by an interrupted write: {removed}")
        self.point: ResumePoint | None = None
        if opts.resume:
            self.point = find_resume_point(self.path, report=self.log)
            if self.point is None:
                self.log(f"--resume: no training state found for {self.path}; starting afresh")
        cfg = self._config(config)
        self.data = load_training_data(data_paths)
        self.data.require([str(lay.dataset) for lay in cfg.layers if lay.dataset], where="DataSet")
        for lay in cfg.layers:
            if lay.kind in (LayerKind.INPUT, LayerKind.OUTPUT) and not lay.dataset:
                raise ConfigError(
                    f"layer {lay.name!r}: an {lay.kind.name.title()} layer needs a DataSet"
                )
        widths = self.data.widths()
        try:
            resolved = cfg.resolve(widths)
        except KeyError as exc:
            raise DataError(str(exc.args[0])) from None
        stored = None
        if self.point is not None:
            assert self.point.network.training is not None
            if not _same_network(resolved, self.point.network.config):
                raise UsageError(
                    f"the config differs from the one stored in {self.point.path}.",
                    hint="resume without -c (the file holds its config), or --overwrite",
                )
            resolved = self.point.network.config
            self._check_data(self.point)
            meta = self.point.network.training.optimizer_meta
            stored = Hyperparameters.from_dict(meta.get("hyperparameters", {}))
        self.config = resolved
        self.hyper = resolve_hyperparameters(opts, resolved, stored=stored)
        self.train_data, self.valid_data = self._split(self.data)
        self.network = build_network(resolved, widths, seed=opts.seed).to(self.device)
        self.stepper = Stepper(
            self.network, self.hyper, seed=opts.seed, device=self.device, brake=opts.brake
        )
        self.checksums = index_checksums(opts.feature_indices)
        self._restore()

    def _config(self, config: ConfigSource) -> NetworkConfig:
        if config is None:
            if self.point is None:
                raise UsageError("a config is required unless resuming from a checkpoint.")
            return self.point.network.config
        return config if isinstance(config, NetworkConfig) else load_config(config)  # type: ignore[arg-type]

    def _check_data(self, point: ResumePoint) -> None:
        state = point.network.training
        assert state is not None
        widths = {k: list(v) for k, v in self.data.widths().items()}
        for name, dims in state.data_widths.items():
            if name in widths and widths[name] != list(dims):
                raise DataError(
                    f"dataset {name!r} has dims {widths[name]} but {point.path} was trained on "
                    f"{list(dims)}.",
                    hint="resume with the same data files, or start afresh with --overwrite",
                )
        current = index_checksums(self.options.feature_indices)
        for name, digest in current.items():
            if name in state.index_checksums and state.index_checksums[name] != digest:
                raise DataError(
                    f"index file {name!r} differs from the one {point.path} was trained with "
                    "(SHA-256 mismatch).",
                    hint="resume with the same index files, or start afresh with --overwrite",
                )

    def _split(self, data: TrainingData) -> tuple[TrainingData, TrainingData | None]:
        opts = self.options
        if opts.validation:
            valid = load_training_data(list(opts.validation))
            valid.require(self._datasets(), where="DataSet (validation)")
            return data, valid
        if opts.validation_fraction is None:
            return data, None
        n_valid = max(1, round(data.examples * opts.validation_fraction))
        if n_valid >= data.examples:
            raise UsageError(
                f"validation_fraction {opts.validation_fraction} leaves no training examples "
                f"(of {data.examples})."
            )
        perm = np.random.default_rng([opts.seed, 0x56414C]).permutation(data.examples)
        return data.take(np.sort(perm[n_valid:])), data.take(np.sort(perm[:n_valid]))

    def _datasets(self) -> list[str]:
        kinds = (LayerKind.INPUT, LayerKind.OUTPUT)
        return [str(lay.dataset) for lay in self.config.layers if lay.kind in kinds]

    def _restore(self) -> None:
        self.epoch, self.position, self.step_count = 0, 0, 0
        self.totals = {"error": 0.0, "regularization": 0.0, "elapsed": 0.0}
        self.metrics: dict[str, list[float]] = {}
        self.rng_restored = False
        if self.point is None:
            return
        state = self.point.network.training
        assert state is not None
        load_records(self.network, self.point.network)
        meta = state.optimizer_meta
        self.rng_restored = self.stepper.load_state_arrays(state.optimizer_state, meta)
        self.epoch, self.position = state.epoch, self.point.position
        self.step_count = int(meta.get("step", 0))
        self.totals.update(meta.get("epoch_totals", {}) if self.position else {})
        self.metrics = {k: list(v) for k, v in state.metrics.items()}
        where = f"epoch {self.epoch}" + (f" + {self.position} examples" if self.position else "")
        self.log(f"Resuming from {self.point.path} ({where}).")

    # -- saving ---------------------------------------------------------------------------
    def _save(self, path: Path, *, mid_epoch: bool) -> None:
        arrays, meta = self.stepper.state_arrays(with_rng=mid_epoch)
        meta.update(
            hyperparameters=self.hyper.to_dict(),
            seed=self.options.seed,
            position=self.position if mid_epoch else 0,
            step=self.step_count,
            epoch_totals=dict(self.totals) if mid_epoch else {},
            validation_fraction=self.options.validation_fraction,
        )
        weights, batch_norm = to_records(self.network)
        interval = self.hyper.checkpoint_interval
        state = TrainingState(
            epoch=self.epoch,
            batches=self.stepper.schedule.batches,
            optimizer=label(self.hyper.optimizer),
            optimizer_state=arrays,
            optimizer_meta=meta,
            data_widths={k: list(v) for k, v in self.data.widths().items()},
            index_checksums=self.checksums,
            metrics=self.metrics,
        )
        nf = NetworkFile(
            config=self.config,
            weights=weights,
            batch_norm=batch_norm,
            training=state,
            checkpoint_name=str(self.path),
            checkpoint_interval=interval,
            checkpoint_epochs=self.epoch % interval if interval else 0,
        )
        save_network(path, nf)

    # -- the loop -------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        opts, hyper = self.options, self.hyper
        logdir = None
        if opts.tensorboard:
            logdir = Path(opts.logdir) if opts.logdir is not None else default_logdir(self.path)
        tb = ScalarLog(logdir, purge_step=self.step_count + 1 if self.point else None)
        history: list[EpochReport] = []
        checkpoints: list[Path] = []
        stopped = False
        interrupt = _Interrupt()
        try:
            with interrupt.installed():
                while self.epoch < hyper.epochs and not stopped:
                    report = self._epoch(self.epoch + 1, tb, interrupt)
                    self.epoch += 1
                    self.position = 0
                    self.totals = {"error": 0.0, "regularization": 0.0, "elapsed": 0.0}
                    history.append(report)
                    if opts.on_epoch_end is not None:
                        stopped = bool(opts.on_epoch_end(report))
                    interval = hyper.checkpoint_interval
                    if interval and self.epoch % interval == 0:
                        checkpoints.append(checkpoint_path(self.path, self.epoch))
                        self._save(checkpoints[-1], mid_epoch=False)
            self._save(self.path, mid_epoch=False)
        finally:
            tb.close()
        return TrainResult(
            network_path=self.path,
            epochs_completed=self.epoch,
            hyperparameters=hyper,
            history=history,
            checkpoints=checkpoints,
            resumed_from=self.point.path if self.point else None,
            stopped_early=stopped and self.epoch < hyper.epochs,
        )

    def _epoch(self, epoch: int, tb: ScalarLog, interrupt: _Interrupt) -> EpochReport:
        from tqdm import tqdm

        data, stepper = self.train_data, self.stepper
        order = epoch_order(
            data.examples, seed=self.options.seed, epoch=epoch, shuffle=self.config.shuffle_indices
        )
        if self.position == 0 or not self.rng_restored:
            torch.manual_seed(_epoch_seed(self.options.seed, epoch))
        self.rng_restored = False
        bar = tqdm(
            total=data.examples,
            initial=self.position,
            unit="ex",
            desc=f"epoch {epoch}/{self.hyper.epochs}",
            file=sys.stderr,
            disable=not self.options.progress,
            leave=False,
            dynamic_ncols=True,
        )
        started = time.perf_counter() - self.totals["elapsed"]
        lr = self.stepper.schedule.alpha_now()
        try:
            for ids in minibatches(order, self.hyper.batch, start=self.position):
                result = stepper.step(data, ids, epoch=epoch)
                self.step_count += 1
                self.position += len(ids)
                self.totals["error"] += result.error
                self.totals["regularization"] += result.regularization * len(ids)
                lr = result.learning_rate or lr
                if result.event:
                    with tqdm.external_write_mode(file=sys.stderr):
                        self.log(result.event)
                tb.batch(
                    self.step_count,
                    loss=result.error / len(ids),
                    learning_rate=result.learning_rate,
                )
                bar.update(len(ids))
                bar.set_postfix(loss=f"{self.totals['error'] / self.position:.5g}", refresh=False)
                if interrupt.requested:
                    self.totals["elapsed"] = time.perf_counter() - started
                    self._save(self.path, mid_epoch=True)
                    bar.close()
                    self.log(
                        f"Interrupted: saved epoch {epoch - 1} + {self.position} examples to "
                        f"{self.path}; continue with --resume."
                    )
                    raise KeyboardInterrupt
        finally:
            bar.close()
        elapsed = time.perf_counter() - started
        examples = max(1, data.examples)
        training = self.totals["error"] / examples
        regularization = self.totals["regularization"] / examples
        validation, metrics = self._validate()
        report = EpochReport(
            epoch=epoch,
            epochs=self.hyper.epochs,
            training_error=training,
            regularization_error=regularization,
            average_error=training + regularization,
            learning_rate=lr,
            elapsed=elapsed,
            batches=stepper.schedule.batches,
            validation_error=validation,
            metrics=metrics,
        )
        self.log(report.summary_line())
        line = report.validation_line()
        if line:
            self.log(line)
        tb.epoch(report, step=self.step_count)
        for name, value in [("training_error", training), ("regularization_error", regularization)]:
            self.metrics.setdefault(name, []).append(value)
        if validation is not None:
            self.metrics.setdefault("validation_error", []).append(validation)
        for name, value in metrics.items():
            self.metrics.setdefault(name, []).append(value)
        return report

    def _validate(self) -> tuple[float | None, dict[str, float]]:
        if self.valid_data is None:
            return None, {}
        from lamina.train.ranking import RankingAccumulator

        ranking = RankingAccumulator.for_network(self.network, self.valid_data)
        error = self.stepper.evaluate(
            self.valid_data, self.hyper.batch, on_batch=ranking.add if ranking else None
        )
        return error, ranking.result() if ranking else {}
