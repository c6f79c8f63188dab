"""The end of a search: the trial table, the best config as a plain config file, and plots.

Files written into the study directory (atomically):

* ``trials.txt``: the table :func:`trial_table` returns.
* ``best_config.json``: the best trial's config, no ``$search`` annotations left (loads with
  :func:`lamina.config.load_config` and trains with ``lamina train``); with the objective
  ``"best"`` its ``TrainingParameters.Epochs`` is the trial's best epoch, so that training it
  (same seed and data) reproduces the network that scored the best value.
* ``best_network.nc``: a copy of the best trial's network file (after the trial's last epoch).
* ``best_so_far.png``: best metric so far against the trial number.
* ``params_vs_metric.png``: one panel per searched parameter, its value against the metric.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from lamina.atomic import atomic_path, atomic_write_text
from lamina.search.study import Study, Trial

__all__ = ["best_so_far", "trial_table", "write_report"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trial_table(study: Study, *, metric_label: str | None = None) -> str:
    """A fixed-width text table: id, state, epochs, metric, then each parameter; ``*`` marks
    the best trial."""
    best = study.best()
    params = list(study.spec.space)
    header = ["trial", "state", "epochs", metric_label or study.spec.metric, "at_epoch", *params]
    rows = [
        [
            ("*" if best is not None and t.id == best.id else " ") + t.id,
            t.state,
            str(t.epochs),
            _fmt(t.value),
            _fmt(t.best_epoch),
            *(_fmt(t.params.get(p)) for p in params),
        ]
        for t in study.trials
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def best_so_far(trials: list[Trial], *, maximize: bool) -> list[float | None]:
    """For each trial in id order, the best value among the completed trials up to it (``None``
    until one completed), the curve the study's best follows."""
    out: list[float | None] = []
    best: float | None = None
    for t in sorted(trials, key=lambda t: int(t.id)):
        v = t.value
        ok = t.state == "completed" and v is not None and math.isfinite(v)
        if ok and (best is None or (v > best if maximize else v < best)):  # type: ignore[operator]
            best = float(v)  # type: ignore[arg-type]
        out.append(best)
    return out


def write_report(study: Study, *, metric_label: str | None = None) -> tuple[dict[str, Path], str]:
    """Write the report files (see the module docstring) into the study directory.

    Args:
        study: an open study.
        metric_label: how to name the metric (default its key).

    Returns:
        ``({"table", "best_config", "best_network", "best_so_far", "params_vs_metric"}:
        path, table text)``; the best-trial files only when a trial has a value.
    """
    root = study.root
    table = trial_table(study, metric_label=metric_label)
    files = {"table": root / "trials.txt"}
    atomic_write_text(files["table"], table)
    best = study.best()
    if best is not None:
        folder = study.trial_dir(best.id)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if study.spec.objective == "best" and best.best_epoch:
            config = _with_epochs(config, best.best_epoch)
        files["best_config"] = root / "best_config.json"
        atomic_write_text(files["best_config"], json.dumps(config, indent=2) + "\n")
        if (folder / "network.nc").is_file():
            files["best_network"] = root / "best_network.nc"
            with atomic_path(files["best_network"]) as tmp:
                shutil.copyfile(folder / "network.nc", tmp)
    if any(t.value is not None for t in study.trials):
        files.update(_plots(study, metric_label or study.spec.metric))
    return files, table


def _with_epochs(config: dict[str, Any], epochs: int) -> dict[str, Any]:
    """``config`` with ``TrainingParameters.Epochs`` set (keys match case-insensitively)."""
    key = next((k for k in config if k.lower() == "trainingparameters"), "TrainingParameters")
    block = dict(config.get(key) or {})
    name = next((k for k in block if k.lower() == "epochs"), "Epochs")
    block[name] = int(epochs)
    return {**config, key: block}


def _plots(study: Study, label: str) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maximize = study.spec.direction == "maximize"
    trials = sorted(study.trials, key=lambda t: int(t.id))
    scored = [t for t in trials if t.value is not None and math.isfinite(t.value)]
    ys = [float(t.value) for t in scored]  # type: ignore[arg-type]
    out = {"best_so_far": study.root / "best_so_far.png"}
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [int(t.id) + 1 for t in scored]
    colors = ["tab:blue" if t.state == "completed" else "tab:gray" for t in scored]
    ax.scatter(xs, ys, c=colors, s=18, label="trial (gray: stopped early)")
    curve = best_so_far(trials, maximize=maximize)
    steps = [(i + 1, v) for i, v in enumerate(curve) if v is not None]
    if steps:
        ax.step(*zip(*steps, strict=True), where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(label)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    _save(fig, out["best_so_far"])
    plt.close(fig)

    params = list(study.spec.space)
    out["params_vs_metric"] = study.root / "params_vs_metric.png"
    cols = min(3, len(params))
    rows = math.ceil(len(params) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, path in zip(axes.flat, params, strict=False):
        dist = study.spec.space[path]
        values = [t.params.get(path) for t in scored]
        if dist.get("$search") == "choice":
            names = [json.dumps(v) for v in dist["values"]]
            ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
            values = [names.index(json.dumps(v)) for v in values]
        elif dist.get("log"):
            ax.set_xscale("log")
        ax.scatter(values, ys, c=colors, s=18)
        ax.set_xlabel(path, fontsize=9)
        ax.set_ylabel(label)
    for ax in list(axes.flat)[len(params) :]:
        ax.axis("off")
    fig.tight_layout()
    _save(fig, out["params_vs_metric"])
    plt.close(fig)
    return out


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
