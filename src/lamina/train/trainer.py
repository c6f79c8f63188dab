"""``train``: DSSTNE's training loop (``NNNetwork::Train`` driven by its ``train`` CLI), resumable.

Per epoch: a seeded example order (``ShuffleIndices``), minibatch updates (:class:`Stepper`),
DSSTNE's epoch line, optional validation, TensorBoard scalars, and a checkpoint
``<network><epoch>.nc`` every ``checkpoint_interval`` epochs. Every network file holds the resume
state, so ``resume=True`` continues from the newest one (DSSTNE could not: its issue 43).

Data: minibatches come from :class:`lamina.data.batches.Batches` over the training examples (all,
or those left by ``validation_fraction``), in memory when they fit under
``DataLoading.memory_limit`` (a full permutation per epoch), else streamed from disk in chunks (a
block shuffle; see :mod:`lamina.data.batches`).

Determinism: the example order, the denoising masks (hashed on global example ids) and torch's RNG
(dropout) are re-seeded from ``(seed, epoch)`` at the start of every epoch, so resuming at an epoch
boundary replays exactly what an uninterrupted run does, on either data path. Ctrl-C (SIGINT)
finishes the current minibatch, writes the current state (including the position inside the epoch
and torch's RNG state) to the network file and raises ``KeyboardInterrupt``; resuming from it
continues mid-epoch with the next minibatch of the same order (``Batches.iter_epoch(epoch,
start_batch=...)``), which is exact as long as the batch size and ``DataLoading`` are unchanged.
A second Ctrl-C aborts at once.

Early stopping (``TrainOptions.early_stopping``): after each epoch the monitored validation
metric is compared with the best so far; a new best writes the network file at once (so it always
holds the best epoch's complete, resumable state), and the run ends ``patience`` epochs after the
best one. Checkpoints keep being written as usual; a Ctrl-C save still goes to the network file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.config import NetworkConfig, load_config
from lamina.config.enums import LayerKind
from lamina.errors import ConfigError, DataError, UsageError
from lamina.nn import build_network
from lamina.train.data import (
    DataLoading,
    check_layer_widths,
    open_training_data,
    split_examples,
)
from lamina.train.early_stopping import EarlyStopping
from lamina.train.interrupt import Interrupt
from lamina.train.loop import Stepper
from lamina.train.network_file import checkpoint_path, save_network
from lamina.train.options import (
    DSSTNE_SEED,
    EpochReport,
    Hyperparameters,
    PathLike,
    TrainOptions,
    TrainResult,
    resolve_hyperparameters,
)
from lamina.train.progress import (
    Progress,
    check_resume_data,
    make_network_file,
    restore,
    same_network,
)
from lamina.train.resume import (
    existing_checkpoints,
    find_resume_point,
    index_checksums,
    remove_stale_temp_files,
)
from lamina.train.tensorboard import ScalarLog, default_logdir

__all__ = ["train"]

ConfigSource = NetworkConfig | PathLike | dict[str, Any] | None


def train(
    config: ConfigSource,
    *,
    inputs: PathLike | Sequence[PathLike],
    outputs: PathLike | Sequence[PathLike],
    network_path: PathLike,
    options: TrainOptions | None = None,
    loading: DataLoading | None = None,
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
        loading: how the data are held (in memory below ``memory_limit`` bytes, else streamed
            in chunks); None: from ``options.memory_limit`` and ``options.chunk_examples``. Keep it
            unchanged across a resume.

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
    if loading is None:
        loading = DataLoading(
            memory_limit=options.memory_limit, chunk_examples=options.chunk_examples
        )
    run = _Run(Path(network_path), options, loading)
    run.setup(config, [*_paths(inputs), *_paths(outputs)])
    return run.fit()


def _paths(value: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        return [Path(value)]  # type: ignore[arg-type]
    return [Path(v) for v in value]  # type: ignore[union-attr]


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 0x44524F50]).generate_state(1)[0])


class _Run:
    """The state of one ``train`` call."""

    def __init__(self, network_path: Path, options: TrainOptions, loading: DataLoading) -> None:
        self.path, self.options, self.loading = network_path, options, loading
        self.log = options.log or (lambda line: None)
        if network_path.is_dir():
            raise UsageError(f"network file {str(network_path)!r} is a directory.")
        if network_path.exists() and not (options.resume or options.overwrite):
            raise UsageError(
                f"network file {str(network_path)!r} already exists.",
                hint="pass --resume to continue training it, or --overwrite to start afresh",
            )
        self.stale = [] if options.resume else existing_checkpoints(network_path)
        if self.stale and not options.overwrite:
            raise UsageError(
                f"checkpoints of an earlier run exist: {', '.join(p.name for p in self.stale)}.",
                hint="pass --resume to continue that run, or --overwrite to delete them and start "
                "afresh",
            )

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
        point = find_resume_point(self.path, report=self.log) if opts.resume else None
        if opts.resume and point is None:
            self.log(f"--resume: nothing to resume for {self.path}; starting afresh")
        self.point = point
        if config is None and point is None:
            raise UsageError("a config is required unless resuming from a network file.")
        cfg = point.network.config if config is None else self._load(config)  # type: ignore[union-attr]
        for lay in cfg.layers:
            if lay.kind in (LayerKind.INPUT, LayerKind.OUTPUT) and not lay.dataset:
                raise ConfigError(
                    f"layer {lay.name!r}: an {lay.kind.name.title()} layer needs a DataSet"
                )
        names = [str(lay.dataset) for lay in cfg.layers if lay.dataset]
        self.data = open_training_data(data_paths, names=names)
        self.data.require(names, where="DataSet")
        widths = self.data.widths()
        try:
            resolved = cfg.resolve(widths)
        except KeyError as exc:
            raise DataError(str(exc.args[0])) from None
        self.checksums = index_checksums(opts.feature_indices)
        stored, seed = None, opts.seed
        if point is not None:
            if not same_network(resolved, point.network.config):
                raise UsageError(
                    f"the config differs from the one stored in {point.path}.",
                    hint="resume without -c (the file holds its config), or --overwrite",
                )
            resolved = point.network.config
            check_resume_data(point, widths, self.checksums)
            if point.network.training is not None:
                meta = point.network.training.optimizer_meta
                stored = Hyperparameters.from_dict(meta.get("hyperparameters", {}))
                seed = seed if seed is not None else meta.get("seed")
        self.seed = DSSTNE_SEED if seed is None else int(seed)
        self.hyper = resolve_hyperparameters(opts, resolved, stored=stored)
        self.train_batches, self.valid_data, self.valid_batches = split_examples(
            self.data,
            resolved,
            validation=opts.validation,
            validation_fraction=opts.validation_fraction,
            batch=self.hyper.batch,
            seed=self.seed,
            loading=self.loading,
        )
        self.network = build_network(resolved, widths, seed=self.seed).to(self.device)
        check_layer_widths(self.network, self.data)
        self.stepper = Stepper(
            self.network, self.hyper, seed=self.seed, device=self.device, brake=opts.brake
        )
        self.progress, self.rng_restored = Progress(), False
        for (
            stale
        ) in self.stale:  # --overwrite: the earlier run's checkpoints would mislead --resume
            stale.unlink(missing_ok=True)
            self.log(f"removed checkpoint {stale} of the overwritten run")
        if point is not None:
            self.progress, self.rng_restored = restore(
                point, network=self.network, stepper=self.stepper
            )
            at = f"epoch {self.progress.epoch}"
            if self.progress.position:
                at += f" + {self.progress.position} examples"
            self.log(f"Resuming from {point.path} ({at}).")

    @staticmethod
    def _load(config: NetworkConfig | PathLike | dict[str, Any]) -> NetworkConfig:
        return config if isinstance(config, NetworkConfig) else load_config(config)

    def _save(self, path: Path, *, mid_epoch: bool) -> None:
        nf = make_network_file(
            network=self.network,
            stepper=self.stepper,
            hyper=self.hyper,
            progress=self.progress,
            seed=self.seed,
            widths=self.data.widths(),
            checksums=self.checksums,
            network_path=self.path,
            mid_epoch=mid_epoch,
        )
        save_network(path, nf)

    # -- the loop -------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        opts, hyper, progress = self.options, self.hyper, self.progress
        logdir = None
        if opts.tensorboard:
            logdir = Path(opts.logdir) if opts.logdir is not None else default_logdir(self.path)
        tb = ScalarLog(logdir, purge_step=progress.step + 1 if self.point else None)
        history: list[EpochReport] = []
        checkpoints: list[Path] = []
        stopped = False
        best = EarlyStopping.of(progress.metrics, opts.early_stopping)
        if best is not None and best.metric != "validation_error":
            from lamina.train.ranking import RankingAccumulator

            assert self.valid_data is not None  # TrainOptions requires validation
            if RankingAccumulator.for_network(self.network, self.valid_data.datasets) is None:
                raise best.missing(["validation_error"])  # before any training
        interrupt = Interrupt()
        try:
            with interrupt.installed():
                while progress.epoch < hyper.epochs and not stopped:
                    report = self._epoch(progress.epoch + 1, tb, interrupt)
                    history.append(report)
                    if opts.on_epoch_end is not None:
                        stopped = bool(opts.on_epoch_end(report))
                    interval = hyper.checkpoint_interval
                    if interval and progress.epoch % interval == 0:
                        checkpoints.append(checkpoint_path(self.path, progress.epoch))
                        self._save(checkpoints[-1], mid_epoch=False)
                    if best is not None:
                        verdict = self._verdict(best)
                        if verdict == "best":  # the network file holds the best epoch's state
                            self._save(self.path, mid_epoch=False)
                        elif verdict == "stop":
                            self.log(best.stop_line(progress.epoch, self.path))
                            stopped = True
            if best is None or best.epoch is None:
                self._save(self.path, mid_epoch=False)
        finally:
            tb.close()
        return TrainResult(
            network_path=self.path,
            epochs_completed=progress.epoch,
            hyperparameters=hyper,
            history=history,
            checkpoints=checkpoints,
            resumed_from=self.point.path if self.point else None,
            stopped_early=stopped and progress.epoch < hyper.epochs,
            best_epoch=None if best is None else best.epoch,
        )

    def _verdict(self, best: EarlyStopping) -> str:
        """Early stopping's verdict on the epoch just done; a missing metric saves the state
        first (nothing is lost), then raises."""
        try:
            return best.after_epoch(
                self.progress.epoch, self.progress.metrics, self.options.patience
            )
        except UsageError as exc:
            self._save(self.path, mid_epoch=False)
            raise UsageError(
                f"{exc.message} Saved epoch {self.progress.epoch} to {self.path}.",
                hint=f"{exc.hint}; continue with --resume and another --early-stopping metric",
            ) from None

    def _epoch(self, epoch: int, tb: ScalarLog, interrupt: Interrupt) -> EpochReport:
        from tqdm import tqdm

        batches, stepper, progress, totals = (
            self.train_batches,
            self.stepper,
            self.progress,
            self.progress.totals,
        )
        start, partial = divmod(progress.position, batches.batch_size)
        if partial:  # resumed mid-epoch with another batch size: redo the cut minibatch
            self.log(
                f"the batch size changed mid-epoch: restarting epoch {epoch} at example "
                f"{start * batches.batch_size} instead of {progress.position}"
            )
            progress.position = start * batches.batch_size
        if progress.position == 0 or not self.rng_restored:
            torch.manual_seed(_epoch_seed(self.seed, epoch))  # dropout masks of this epoch
        self.rng_restored = False
        bar = tqdm(
            total=batches.examples,
            initial=progress.position,
            unit="ex",
            desc=f"epoch {epoch}/{self.hyper.epochs}",
            file=sys.stderr,
            disable=not self.options.progress,
            leave=False,
            dynamic_ncols=True,
        )
        started = time.perf_counter() - totals["elapsed"]
        lr = stepper.schedule.alpha_now()
        try:
            for batch in batches.iter_epoch(epoch, start_batch=start):
                result = stepper.step(batch, epoch=epoch)
                size = batch.size
                progress.step += 1
                progress.position += size
                totals["error"] += result.error
                totals["regularization"] += result.regularization * size
                lr = result.learning_rate or lr
                if result.event:
                    with tqdm.external_write_mode(file=sys.stderr):
                        self.log(result.event)
                tb.batch(
                    progress.step, loss=result.error / size, learning_rate=result.learning_rate
                )
                bar.update(size)
                bar.set_postfix(loss=f"{totals['error'] / progress.position:.5g}", refresh=False)
                if interrupt.requested:
                    totals["elapsed"] = time.perf_counter() - started
                    self._save(self.path, mid_epoch=True)
                    bar.close()
                    self.log(
                        f"Interrupted: saved epoch {epoch - 1} + {progress.position} examples to "
                        f"{self.path}; continue with --resume."
                    )
                    raise KeyboardInterrupt
        finally:
            bar.close()
        examples = max(1, batches.examples)
        training = totals["error"] / examples
        regularization = totals["regularization"] / examples
        validation, metrics = self._validate()
        report = EpochReport(
            epoch=epoch,
            epochs=self.hyper.epochs,
            training_error=training,
            regularization_error=regularization,
            average_error=training + regularization,
            learning_rate=lr,
            elapsed=time.perf_counter() - started,
            batches=stepper.schedule.batches,
            validation_error=validation,
            metrics=metrics,
        )
        self.log(report.summary_line())
        if line := report.validation_line():
            self.log(line)
        tb.epoch(report, step=progress.step)
        values = {"training_error": training, "regularization_error": regularization}
        if validation is not None:
            values["validation_error"] = validation
        progress.finish_epoch({**values, **metrics})
        return report

    def _validate(self) -> tuple[float | None, dict[str, float]]:
        if self.valid_data is None or self.valid_batches is None:
            return None, {}
        from lamina.train.ranking import RankingAccumulator

        ranking = RankingAccumulator.for_network(self.network, self.valid_data.datasets)
        error = self.stepper.evaluate(self.valid_batches, on_batch=ranking.add if ranking else None)
        return error, ranking.result() if ranking else {}
