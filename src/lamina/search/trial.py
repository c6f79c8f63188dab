"""The Ray side of a search: the trial task and the coordinator actor it reports to.

A trial (:func:`trial_main`, one Ray task, one CPU) trains its config with ``threads=1``, reports
every epoch to the :class:`Coordinator` actor, which applies the early-stopping rule and answers
"stop" or "continue", and returns its outcome with the network file's bytes (so workers need no
access to the study directory). The driver drains the coordinator's epoch log.
"""

from __future__ import annotations

import math
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lamina.errors import UsageError
from lamina.search.halving import Halving, RungRecords
from lamina.search.metric import epoch_values

__all__ = ["Coordinator", "objective_value", "outcome", "trial_main"]


class Coordinator:
    """Ray actor: the rung records and the epoch log the driver drains."""

    def __init__(
        self, rule: dict[str, Any] | None, maximize: bool, key: str, objective: str
    ) -> None:
        self.records = RungRecords(Halving.from_dict(rule), maximize) if rule else None
        self.key, self.maximize, self.objective = key, maximize, objective
        self.log: list[tuple[str, dict[str, Any]]] = []
        self.best: dict[str, float] = {}

    def _judged(self, trial_id: str, value: float) -> float:
        """The value rungs compare: the trial's best so far (objective "best") or this one."""
        if self.objective == "last" or value != value:
            return value
        old = self.best.get(trial_id)
        if old is not None and (old >= value if self.maximize else old <= value):
            return old
        self.best[trial_id] = value
        return value

    def seed(self, trial_id: str, history: list[dict[str, Any]], max_epochs: int) -> None:
        """Replay a finished trial's epochs into the rung records (on resume)."""
        for values in history:
            self._record(trial_id, values, max_epochs)

    def report(self, trial_id: str, values: dict[str, Any], max_epochs: int) -> bool:
        """Log one epoch of a trial; True: stop the trial."""
        self.log.append((trial_id, values))
        return self._record(trial_id, values, max_epochs)

    def _record(self, trial_id: str, values: dict[str, Any], max_epochs: int) -> bool:
        if self.key not in values:
            return False
        value = self._judged(trial_id, float(values[self.key]))
        if self.records is None:
            return False
        return self.records.record(trial_id, int(values["epoch"]), value, max_epochs=max_epochs)

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        """The epochs logged since the last call."""
        out, self.log = self.log, []
        return out


def trial_main(task: dict[str, Any], coordinator: Any) -> dict[str, Any]:
    """Body of one trial (a Ray task): train the config, report every epoch, return the outcome."""
    import ray

    from lamina.errors import LaminaError
    from lamina.train.options import TrainOptions
    from lamina.train.trainer import train

    key, trial_id = task["metric"], task["id"]

    def on_epoch_end(report: Any) -> bool:
        values = epoch_values(report)
        if key not in values:
            raise UsageError(
                f"the metric {task['metric_label']} was not reported after epoch {report.epoch}; "
                f"reported: [{', '.join(k for k in values if k != 'epoch')}].",
                hint="NDCG@10 and Recall@20 need an autoencoder-style network (one sparse Input "
                "and one sparse Output of the same width) with validation data; use --metric loss",
            )
        return bool(ray.get(coordinator.report.remote(trial_id, values, report.epochs)))

    with tempfile.TemporaryDirectory(prefix="lamina-trial-") as tmp:
        network = Path(tmp) / "network.nc"
        options = TrainOptions(
            seed=task["seed"],
            threads=1,
            validation=tuple(task["validation"]),
            validation_fraction=task["validation_fraction"],
            checkpoint_interval=0,
            tensorboard=False,
            progress=False,
            on_epoch_end=on_epoch_end,
        )
        try:
            result = train(
                task["config"],
                inputs=task["inputs"],
                outputs=task["outputs"],
                network_path=network,
                options=options,
            )
        except LaminaError as exc:
            return {"state": "failed", "error": str(exc), "value": None, "epochs": 0}
        except Exception:
            return {"state": "failed", "error": traceback.format_exc(limit=6), "value": None}
        value, best_epoch = objective_value(
            result.history, key, task["maximize"], task["objective"]
        )
        state = "stopped" if result.stopped_early else "completed"
        error = None
        if value is None or not math.isfinite(value):
            state, error = "failed", f"the metric is {value} (diverged?)"
        return {
            "state": state,
            "value": value if state != "failed" else None,
            "best_epoch": best_epoch if state != "failed" else None,
            "epochs": result.epochs_completed,
            "error": error,
            "network": network.read_bytes() if network.is_file() else None,
        }


def outcome(ray: Any, ref: Any) -> dict[str, Any]:
    """A finished task's result; a crashed worker (killed, out of memory) is a failed trial."""
    try:
        return dict(ray.get(ref))
    except Exception as exc:  # RayTaskError, WorkerCrashedError, ...: the trial failed
        return {"state": "failed", "error": f"{type(exc).__name__}: {exc}", "value": None}


def objective_value(
    history: Sequence[Any], key: str, maximize: bool, objective: str
) -> tuple[float | None, int | None]:
    """A trial's value and the epoch it comes from (NaN epochs never win "best")."""
    raw = [(int(r.epoch), epoch_values(r).get(key)) for r in history]
    points = [(e, float(v)) for e, v in raw if v is not None]
    if not points:
        return None, None
    finite = [(e, v) for e, v in points if math.isfinite(v)]
    if objective == "last" or not finite:
        return points[-1][1], points[-1][0]
    epoch, value = max(finite, key=lambda ev: (ev[1] if maximize else -ev[1], -ev[0]))
    return value, epoch
