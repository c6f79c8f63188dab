"""``run_search``: trials in parallel on Ray, early stopping, a resumable study directory.

One driver (this process) owns the study directory and is the only writer: it suggests every
trial (passing the running ones as pending, so parallel workers never get duplicates), starts each
trial as a Ray task (one CPU, ``threads=1``) that runs a full :func:`lamina.train.trainer.train`,
and writes what the trials report. Trials report each epoch to a small coordinator actor, which
applies the successive-halving rule (:mod:`lamina.search.halving`) and answers "stop" or
"continue"; the driver drains the actor's epoch log into ``metrics.jsonl``. A trial returns its
network file's bytes, so workers need no access to the study directory (only to the data files).

Ray: an embedded local instance with ``num_cpus=parallel`` by default (so exactly ``parallel``
trials run at once), or an existing cluster with ``address`` (or ``RAY_ADDRESS``): see
:mod:`lamina.search.cluster` for the address forms and what the cluster's nodes need. Killing the
driver kills the local instance with it (a cluster keeps running; only the driver's trials die);
running the same search again resumes the study (see :mod:`lamina.search.study`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.errors import ModelError, UsageError
from lamina.search import cluster
from lamina.search.halving import Halving
from lamina.search.metric import Metric, resolve_metric
from lamina.search.study import Study, StudySpec, Trial
from lamina.search.suggest import STRATEGY_NAMES, Suggester
from lamina.search.trial import Coordinator, outcome, trial_main

__all__ = ["SearchOptions", "SearchResult", "run_search"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    """How to search.

    Attributes:
        metric: ``"NDCG@10"``, ``"Recall@20"``, ``"loss"`` (validation) or ``"training_loss"``.
        direction: ``"maximize"``/``"minimize"``; ``None``: the metric's natural direction.
        objective: ``"best"``: a trial's value is its best epoch's metric (and the best config
            gets that epoch count); ``"last"``: the metric after its last epoch.
        trials: total trials of the study (those of earlier runs count).
        parallel: trials running at once.
        strategy: ``"bayes"``, ``"random"`` or ``"grid"``.
        address: a Ray cluster: ``HOST:PORT`` (GCS), ``ray://HOST:PORT`` (Ray Client) or
            ``auto``; ``None``: ``$RAY_ADDRESS`` if set, else a new local Ray.
        seed: seed of the suggestions and of every trial's training (the same for all trials,
            so that they differ only by their parameters).
        early_stop: the successive-halving rule, or ``None`` to run every trial to the end.
        epochs: epochs of every trial (overrides the config's ``TrainingParameters.Epochs``).
        validation: validation netCDF files; or ``validation_fraction`` of the training examples.
        max_new_trials: start at most this many new trials in this run, then stop (the study
            stays resumable); ``None``: no limit.
        progress: show a tqdm bar of trials on stderr.
        command: the command line, recorded in ``study.json``.
        log: receives status lines; ``None``: silent.
    """

    metric: str = "NDCG@10"
    direction: str | None = None
    objective: str = "best"
    trials: int = 64
    parallel: int = 4
    strategy: str = "bayes"
    address: str | None = None
    seed: int = 12134
    early_stop: Halving | None = field(default_factory=Halving)
    epochs: int | None = None
    validation: tuple[PathLike, ...] = ()
    validation_fraction: float | None = None
    max_new_trials: int | None = None
    progress: bool = False
    command: tuple[str, ...] = ()
    log: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        for name, low in (("trials", 1), ("parallel", 1), ("epochs", 1), ("max_new_trials", 0)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < low):
                raise UsageError(f"{name} must be an integer >= {low}. Got {value!r}.")
        if self.direction not in (None, "maximize", "minimize"):
            raise UsageError(
                f"direction must be one of [maximize, minimize]. Got {self.direction!r}."
            )
        if self.objective not in ("best", "last"):
            raise UsageError(f"objective must be one of [best, last]. Got {self.objective!r}.")
        if self.strategy.lower() not in STRATEGY_NAMES:
            raise UsageError(
                f"strategy must be one of [{', '.join(STRATEGY_NAMES)}]. Got {self.strategy!r}."
            )
        if self.validation and self.validation_fraction is not None:
            raise UsageError("give either --validation or --validation-fraction, not both.")
        if self.address is not None:
            cluster.parse_address(
                self.address
            )  # the form; whether it answers: when the search starts


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`run_search`.

    Attributes:
        study: the study directory.
        trials: every trial of the study, in id order.
        best: the best trial, or ``None`` if none finished with a value.
        files: the report's files (``best_config``, ``table``, plots), by name.
        table: the trial table as text.
        complete: the study has all its trials finished.
    """

    study: Path
    trials: list[Trial]
    best: Trial | None
    files: dict[str, Path]
    table: str
    complete: bool


def run_search(
    config: PathLike | Mapping[str, Any],
    *,
    inputs: PathLike | Sequence[PathLike],
    outputs: PathLike | Sequence[PathLike],
    study_dir: PathLike,
    options: SearchOptions | None = None,
) -> SearchResult:
    """Search the ``$search`` annotations of ``config``, or resume the study in ``study_dir``.

    Args:
        config: an annotated config (path, JSON text or data); see :mod:`lamina.search.annotated`.
        inputs: input netCDF file(s), as for ``train``.
        outputs: target netCDF file(s).
        study_dir: the study directory (created, or resumed when it holds the same study).
        options: the search options.

    Returns:
        The trials, the best one and the report files (best config, table, plots).

    Raises:
        ConfigError: a bad config or search space.
        UsageError: bad options; a study directory holding another study or in use; a cluster
            address that is malformed, unreachable or refuses the connection.
        DependencyError: Ray is not installed.
        ModelError: every trial failed (the first error is quoted).

    Example:
        >>> result = run_search("search.json", inputs="in.nc", outputs="out.nc",  # doctest: +SKIP
        ...     study_dir="study", options=SearchOptions(trials=30, parallel=2,
        ...     validation_fraction=0.1))
        >>> result.best.params  # doctest: +SKIP
    """
    from lamina.search.annotated import load_annotated

    options = options or SearchOptions()
    metric = resolve_metric(options.metric)
    if metric.needs_validation and not (options.validation or options.validation_fraction):
        raise UsageError(
            f"--metric {metric.label} is measured on validation data.",
            hint="give --validation FILE(s) or --validation-fraction F",
        )
    annotated = load_annotated(config if isinstance(config, Mapping) else Path(config))
    if not annotated.space:
        raise UsageError(
            "the config has no $search annotations: there is nothing to search.",
            hint='replace a value by e.g. {"$search": "float", "low": 1e-4, "high": 0.1, '
            '"log": true}',
        )
    direction = options.direction or metric.direction
    spec = StudySpec(
        config=annotated.to_dict(),
        space=annotated.space.to_dict(),
        metric=metric.key,
        direction=direction,
        objective=options.objective,
        strategy=options.strategy.lower(),
        seed=options.seed,
        data={
            "inputs": _abs(inputs),
            "outputs": _abs(outputs),
            "validation": _abs(options.validation),
            "validation_fraction": options.validation_fraction,
            "epochs": options.epochs,
        },
        early_stop=options.early_stop.to_dict() if options.early_stop else None,
        command=list(options.command),
    )
    from lamina.search.report import write_report

    with Study.open(study_dir, spec) as study:
        _Driver(study, annotated, metric, options).run()
        files, table = write_report(study, metric_label=metric.label)
        complete = len(study.trials) >= options.trials and all(
            t.state in ("completed", "stopped", "failed") for t in study.trials
        )
        return SearchResult(study.root, list(study.trials), study.best(), files, table, complete)


def _abs(paths: PathLike | Sequence[PathLike]) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [str(Path(p).resolve()) for p in paths]


class _Driver:
    """The driver loop of one ``run_search`` call."""

    def __init__(self, study: Study, annotated: Any, metric: Metric, options: SearchOptions):
        self.study, self.annotated, self.metric, self.options = study, annotated, metric, options
        self.log = options.log or (lambda line: None)
        self.maximize = study.spec.direction == "maximize"
        self.suggester = Suggester(
            study.spec.strategy, annotated.space, seed=options.seed, maximize=self.maximize
        )
        self.queue = [t for t in study.trials if t.state == "interrupted"]
        self.running: dict[Any, Trial] = {}
        self.started_new = 0
        self.exhausted = False
        self.failures: list[str] = []
        self._shown: dict[str, Any] = {}

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        study, opts = self.study, self.options
        todo = max(0, opts.trials - len(study.trials)) + len(self.queue)
        if todo == 0:
            self.log(f"study {study.root}: all {len(study.trials)} trials are done")
            return
        if study.trials:
            self.log(
                f"resuming study {study.root}: {len(study.finished())} trials kept, "
                f"{len(self.queue)} interrupted to re-run"
            )
        ray, owned = cluster.start_ray(self.options.address, parallel=opts.parallel, log=self.log)
        try:
            actor = ray.remote(num_cpus=0)(Coordinator)
            self.coordinator = actor.remote(
                study.spec.early_stop, self.maximize, self.metric.key, study.spec.objective
            )
            for t in study.finished():
                self.coordinator.seed.remote(t.id, t.history, self._max_epochs(t))
            self.task = ray.remote(num_cpus=1, max_retries=0)(trial_main)
            self._loop(ray)
        finally:
            for ref in self.running:
                ray.cancel(ref, force=True)
            if owned:
                ray.shutdown()  # never stops a cluster: only disconnects from it

    def _loop(self, ray: Any) -> None:
        from tqdm import tqdm

        study = self.study
        bar = tqdm(
            total=max(self.options.trials, len(study.trials)),
            initial=len(study.finished()),
            desc="trials",
            unit="trial",
            file=sys.stderr,
            disable=not self.options.progress,
            dynamic_ncols=True,
        )
        try:
            while True:
                self._fill()
                self._postfix(bar)
                if not self.running:
                    break
                ready, _ = ray.wait(list(self.running), num_returns=1, timeout=0.5)
                self._drain(ray)
                for ref in ready:
                    self._finish(self.running.pop(ref), outcome(ray, ref))
                    bar.update(1)
        finally:
            bar.close()

    def _postfix(self, bar: Any) -> None:
        best = self.study.best()
        shown = f"{best.value:.4g}" if best is not None and best.value is not None else "-"
        postfix = {"best": shown, "running": len(self.running)}
        if postfix != self._shown:  # redraw on change only (a log file gets one line each)
            self._shown = postfix
            bar.set_postfix(postfix, refresh=True)

    def _fill(self) -> None:
        """Start trials until ``parallel`` run: interrupted ones first, then new suggestions."""
        free = self.options.parallel - len(self.running)
        while free > 0 and self.queue:
            trial = self.queue.pop(0)
            self.study.start(trial)
            self._submit(trial)
            free -= 1
        limit = self.options.max_new_trials
        room = self.options.trials - len(self.study.trials)
        if limit is not None:
            room = min(room, limit - self.started_new)
        want = min(free, room)
        if want <= 0 or self.exhausted:
            return
        history = [(t.params, t.value) for t in self.study.finished()]
        pending = [t.params for t in self.running.values()]
        suggestions = self.suggester.suggest(want, history=history, pending=pending)
        if len(suggestions) < want:
            self.exhausted = True
            self.log(f"the {self.study.spec.strategy} strategy has no new points left")
        for params in suggestions:
            self._submit(self.study.new_trial(params, self._config(params)))
            self.started_new += 1

    def _submit(self, trial: Trial) -> None:
        data = self.study.spec.data
        task = {
            "id": trial.id,
            "config": self._config(trial.params),
            "inputs": data["inputs"],
            "outputs": data["outputs"],
            "validation": data["validation"],
            "validation_fraction": data["validation_fraction"],
            "seed": self.study.spec.seed,
            "metric": self.metric.key,
            "metric_label": self.metric.label,
            "maximize": self.maximize,
            "objective": self.study.spec.objective,
        }
        self.running[self.task.remote(task, self.coordinator)] = trial

    def _drain(self, ray: Any) -> None:
        by_id = {t.id: t for t in self.running.values()}
        for trial_id, values in ray.get(self.coordinator.drain.remote()):
            if trial_id in by_id:
                self.study.record_epoch(by_id[trial_id], values)

    def _finish(self, trial: Trial, outcome: dict[str, Any]) -> None:
        self._drain_one(trial)
        self.study.finish(
            trial,
            state=outcome["state"],
            value=outcome.get("value"),
            epochs=int(outcome.get("epochs") or trial.epochs),
            best_epoch=outcome.get("best_epoch"),
            error=outcome.get("error"),
            network=outcome.get("network"),
        )
        if trial.state == "failed":
            self.failures.append(str(trial.error))
            self.log(f"trial {trial.id} failed: {str(trial.error).splitlines()[0]}")
            succeeded = any(t.state in ("completed", "stopped") for t in self.study.trials)
            if not succeeded and len(self.failures) >= max(3, self.options.parallel):
                raise ModelError(
                    f"the first {len(self.failures)} trials all failed; the first: "
                    f"{self.failures[0]}"
                )
        else:
            self.log(f"trial {trial.id} {trial.state} after {trial.epochs} epochs: {trial.value}")

    def _drain_one(self, trial: Trial) -> None:
        """Record the last epochs of a trial that just returned (they precede its result)."""
        import ray

        for trial_id, values in ray.get(self.coordinator.drain.remote()):
            owner = trial if trial_id == trial.id else self._running_by_id(trial_id)
            if owner is not None:
                self.study.record_epoch(owner, values)

    def _running_by_id(self, trial_id: str) -> Trial | None:
        return next((t for t in self.running.values() if t.id == trial_id), None)

    def _config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The plain config a trial trains: the template materialized, with ``epochs`` (if
        given) written into its ``TrainingParameters`` so that the file says what was run."""
        config = self.annotated.materialize_dict(params)
        epochs = self.study.spec.data.get("epochs")
        if epochs:
            key = _key(config, "TrainingParameters")
            block = config.setdefault(key, {})
            block[_key(block, "Epochs")] = int(epochs)
        return config

    def _max_epochs(self, trial: Trial) -> int:
        """The planned epochs of a trial (for the rung positions)."""
        config = self._config(trial.params)
        block = config.get(_key(config, "TrainingParameters")) or {}
        epochs = block.get(_key(block, "Epochs"))
        return int(epochs) if epochs else 40  # DSSTNE's train default


def _key(block: Mapping[str, Any], name: str) -> str:
    """The spelling of ``name`` used in ``block`` (keys match case-insensitively), else ``name``."""
    return next((k for k in block if k.lower() == name.lower()), name)
