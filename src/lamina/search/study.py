"""The study directory: everything about one search, in plain files, resumable after a crash.

Layout (every file written atomically through :mod:`lamina.atomic`; no database, no lock server)::

    DIR/study.json                what is searched: command, annotated config, space, metric,
                                  direction, strategy, seed, data, early-stopping rule
    DIR/.lock                     held (flock) by the one driver working on the study
    DIR/trials/<id>/params.json   the trial's assignment {JSON path: value}
    DIR/trials/<id>/config.json   the plain config it trains (no annotations)
    DIR/trials/<id>/status.json   {"state": running|completed|stopped|failed, "value", ...}
    DIR/trials/<id>/metrics.jsonl one JSON object per finished epoch
    DIR/trials/<id>/network.nc    the trained network
    DIR/best_config.json, DIR/best_network.nc, DIR/trials.txt, DIR/*.png   (written by the report)

Resume rule: ``completed``, ``stopped`` and ``failed`` trials are kept as they are; a trial still
marked ``running`` (its driver died) or without a status file (the driver died while creating it)
is *interrupted*: it is re-run with the same params and config.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.atomic import atomic_write_text
from lamina.errors import UsageError

__all__ = ["FINISHED", "Study", "StudySpec", "Trial"]

FORMAT = 1
FINISHED = ("completed", "stopped", "failed")  # states a resumed study keeps
# study.json keys that define what the trials measure: a study made with other values is refused
IDENTITY = ("config", "space", "metric", "direction", "objective", "seed", "data")


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    """What a study searches (the content of ``study.json``).

    Attributes:
        config: the annotated config template (JSON data with ``$search`` annotations).
        space: the search space's JSON form ``{path: distribution}``.
        metric: canonical metric name (``"ndcg@10"``, ``"recall@20"``, ``"loss"``, ...).
        direction: ``"maximize"`` or ``"minimize"``.
        objective: ``"best"`` (a trial's value is its best epoch's metric) or ``"last"``.
        strategy: ``"bayes"``, ``"random"`` or ``"grid"``.
        seed: seed of the suggestions and of every trial's training.
        data: input, output and validation files, as given.
        early_stop: the early-stopping rule's JSON form, or ``None`` when switched off.
        command: the command line that made the study (informational).
    """

    config: dict[str, Any]
    space: dict[str, Any]
    metric: str
    direction: str
    strategy: str
    objective: str = "best"
    seed: int
    data: dict[str, Any]
    early_stop: dict[str, Any] | None = None
    command: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, with the file format version."""
        return {
            "format": FORMAT,
            "command": list(self.command),
            "config": self.config,
            "space": self.space,
            "metric": self.metric,
            "direction": self.direction,
            "objective": self.objective,
            "strategy": self.strategy,
            "seed": self.seed,
            "data": self.data,
            "early_stop": self.early_stop,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudySpec:
        """Inverse of :meth:`to_dict`."""
        keys = ("config", "space", "metric", "direction", "strategy", "seed", "data")
        return cls(
            **{k: data[k] for k in keys},
            objective=data.get("objective", "best"),
            early_stop=data.get("early_stop"),
            command=list(data.get("command", [])),
        )


@dataclass
class Trial:
    """One trial as stored on disk (mutable: the driver updates it as the trial runs).

    Attributes:
        id: the folder name, ``"0000"``, ``"0001"``, ...
        params: ``{JSON path: value}``.
        state: ``"running"``, ``"completed"``, ``"stopped"`` (early), ``"failed"``, or
            ``"interrupted"`` (found running by a new driver; re-run).
        value: the trial's metric (at its best epoch, or its last with objective "last"), or
            ``None``.
        epochs: epochs run.
        best_epoch: the epoch ``value`` comes from.
        attempt: 1 + the number of times it was re-run after an interruption.
        error: why it failed.
        history: one ``{"epoch", metric names...}`` dict per epoch.
    """

    id: str
    params: dict[str, Any]
    state: str = "running"
    value: float | None = None
    epochs: int = 0
    best_epoch: int | None = None
    attempt: int = 1
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def status_dict(self) -> dict[str, Any]:
        """The content of ``status.json``."""
        keys = ("state", "value", "epochs", "best_epoch", "attempt", "error", "started", "finished")
        return {"id": self.id, **{k: getattr(self, k) for k in keys}}


class Study:
    """A study directory opened by one driver (holding ``DIR/.lock`` until :meth:`close`).

    Use :meth:`open` (creates or resumes).
    """

    def __init__(self, root: Path, spec: StudySpec, trials: list[Trial], lock: Any) -> None:
        self.root, self.spec, self.trials, self._lock = root, spec, trials, lock

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike[str], spec: StudySpec) -> Study:
        """Create the study at ``root``, or resume the one there.

        Args:
            root: the study directory (created if absent).
            spec: what this command searches; on resume it must match the stored study in
                :data:`IDENTITY` keys (the strategy and the early stopping may change).

        Returns:
            The open study; interrupted trials have state ``"interrupted"``.

        Raises:
            UsageError: another driver holds the study; the stored study searches something
                else; ``root`` is a file or a non-study folder with files in it.
        """
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise UsageError(f"--study {str(root)!r} is a file; give a directory.")
        root.mkdir(parents=True, exist_ok=True)
        lock = _lock(root)
        try:
            stored = _read_json(root / "study.json")
            if stored is None:
                others = [p.name for p in root.iterdir() if p.name != ".lock"]
                if others:
                    raise UsageError(
                        f"--study {str(root)!r} is not a study directory (no study.json) and is "
                        f"not empty: {sorted(others)[:5]}.",
                        hint="give a new or empty directory",
                    )
            else:
                _check_same(root, StudySpec.from_dict(stored), spec)
            atomic_write_text(root / "study.json", json.dumps(spec.to_dict(), indent=2) + "\n")
            trials = _load_trials(root)
        except BaseException:
            lock.close()
            raise
        return cls(root, spec, trials, lock)

    def close(self) -> None:
        """Release the study's lock."""
        with contextlib.suppress(Exception):
            self._lock.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- trials ---------------------------------------------------------------------------
    def trial_dir(self, trial_id: str) -> Path:
        """``DIR/trials/<id>``."""
        return self.root / "trials" / trial_id

    def new_trial(self, params: Mapping[str, Any], config: Mapping[str, Any]) -> Trial:
        """Create the next trial's folder (params, config, then status ``running``)."""
        number = max((int(t.id) for t in self.trials), default=-1) + 1
        trial = Trial(id=f"{number:04d}", params=dict(params))
        folder = self.trial_dir(trial.id)
        atomic_write_text(folder / "params.json", json.dumps(trial.params, indent=2) + "\n")
        atomic_write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")
        self.trials.append(trial)
        self.start(trial)
        return trial

    def start(self, trial: Trial) -> None:
        """Mark ``trial`` running (again, after an interruption) and clear its epoch records."""
        if trial.state == "interrupted":
            trial.attempt += 1
        trial.state, trial.value, trial.epochs, trial.error = "running", None, 0, None
        trial.best_epoch = None
        trial.history, trial.started, trial.finished = [], time.time(), None
        folder = self.trial_dir(trial.id)
        (folder / "network.nc").unlink(missing_ok=True)
        atomic_write_text(folder / "metrics.jsonl", "")
        self._write_status(trial)

    def record_epoch(self, trial: Trial, values: Mapping[str, Any]) -> None:
        """Append one epoch's values to ``metrics.jsonl`` (rewritten atomically)."""
        trial.history.append(dict(values))
        trial.epochs = max(trial.epochs, int(values.get("epoch", trial.epochs)))
        lines = "".join(json.dumps(h) + "\n" for h in trial.history)
        atomic_write_text(self.trial_dir(trial.id) / "metrics.jsonl", lines)

    def finish(
        self,
        trial: Trial,
        *,
        state: str,
        value: float | None,
        epochs: int,
        best_epoch: int | None = None,
        error: str | None = None,
        network: bytes | None = None,
    ) -> None:
        """Record a trial's outcome: the network file first, then ``status.json``."""
        if network is not None:
            from lamina.atomic import atomic_path

            with atomic_path(self.trial_dir(trial.id) / "network.nc") as tmp:
                tmp.write_bytes(network)
        trial.state, trial.value, trial.epochs, trial.error = state, value, epochs, error
        trial.best_epoch = best_epoch
        trial.finished = time.time()
        self._write_status(trial)

    def _write_status(self, trial: Trial) -> None:
        text = json.dumps(trial.status_dict(), indent=2) + "\n"
        atomic_write_text(self.trial_dir(trial.id) / "status.json", text)

    # -- queries --------------------------------------------------------------------------
    def finished(self) -> list[Trial]:
        """Completed, stopped and failed trials, in id order."""
        return [t for t in self.trials if t.state in FINISHED]

    def best(self) -> Trial | None:
        """The best completed trial (stopped ones only when none completed), or ``None``."""
        for states in (("completed",), ("stopped",)):
            pool = [t for t in self.trials if t.state in states and t.value is not None]
            if pool:
                sign = 1.0 if self.spec.direction == "maximize" else -1.0
                return max(pool, key=lambda t: (sign * float(t.value), -int(t.id)))  # type: ignore[arg-type]
        return None


def _lock(root: Path) -> Any:
    handle = open(root / ".lock", "a+")  # noqa: SIM115 - held until Study.close
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise UsageError(
            f"study {str(root)!r} is in use by another `lamina search` (pid {owner}).",
            hint="wait for it to finish or stop it; a killed driver releases the study at once",
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable ({exc}).") from None


def _check_same(root: Path, stored: StudySpec, spec: StudySpec) -> None:
    mine, theirs = spec.to_dict(), stored.to_dict()
    for key in IDENTITY:
        if _canonical(mine[key]) != _canonical(theirs[key]):
            raise UsageError(
                f"--study {str(root)!r} holds a study with a different {key}: stored "
                f"{_short(theirs[key])}, this command {_short(mine[key])}.",
                hint="run the original command to resume it, or give a new --study directory",
            )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load_trials(root: Path) -> list[Trial]:
    folder = root / "trials"
    trials = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not (path.is_dir() and path.name.isdigit()):
            continue
        params = _read_json(path / "params.json")
        if params is None or not (path / "config.json").is_file():
            continue  # the driver died before the trial existed: nothing to keep
        status = _read_json(path / "status.json") or {}
        trial = Trial(id=path.name, params=params, attempt=int(status.get("attempt", 1)))
        for key in ("value", "best_epoch", "error", "started", "finished"):
            setattr(trial, key, status.get(key))
        trial.epochs = int(status.get("epochs", 0))
        trial.state = status.get("state", "running")
        if trial.state not in FINISHED:
            trial.state = "interrupted"
        trial.history = list(_read_lines(path / "metrics.jsonl"))
        trials.append(trial)
    return trials


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)
