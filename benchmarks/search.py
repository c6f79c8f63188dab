"""Optimizer quality of ``lamina.search`` side by side with Optuna, on cheap test functions.

Branin (2-D, optimum 0.397887) and Hartmann6 (6-D, optimum -3.32237); 40 evaluations, 30 seeds;
Lamina's ``bayes`` and ``random`` strategies and Optuna's ``TPESampler`` and ``GPSampler``
(defaults), each sequential and in synchronous batches of 4 (4 suggestions asked before any
result is told).
Prints median simple regret (best found minus optimum) after 10/20/30/40 evaluations, the runs
whose regret ends below 0.01 (Branin) / 0.1 (Hartmann6), and CPU seconds per suggestion; then the
cost of one ``bayes`` suggestion with 50, 100 and 200 finished trials.

    .venv/bin/python benchmarks/search.py                     # full run (about 30-60 min CPU)
    .venv/bin/python benchmarks/search.py --seeds 3 --sizes ""  # smoke test
    # only some methods/seeds, then one table with the runs of an earlier file:
    .venv/bin/python benchmarks/search.py --methods "lamina bayes" --json out/b.json
    .venv/bin/python benchmarks/search.py --summarize --sizes "" --json out/b.json --merge old.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
     [17, 8, 0.05, 10, 0.1, 14]]
)  # fmt: skip
_P = 1e-4 * np.array(
    [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
)  # fmt: skip
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_A * (x - _P) ** 2, axis=1))))


def branin(x: np.ndarray) -> float:
    x1, x2 = x
    b, c = 5.1 / (4 * np.pi**2), 5 / np.pi
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x1) + 10)


# name -> (function, bounds per dimension, optimum, "reached" threshold on regret)
PROBLEMS: dict[str, tuple[Any, list[tuple[float, float]], float, float]] = {
    "Branin": (branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887, 0.01),
    "Hartmann6": (hartmann6, [(0.0, 1.0)] * 6, -3.32237, 0.1),
}
METHODS = ("lamina bayes", "lamina random", "optuna TPE", "optuna GPSampler")


def _run_lamina(method: str, problem: str, seed: int, batch: int, evals: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from lamina.search.space import FloatDist, SearchSpace
    from lamina.search.strategy import create_strategy

    fn, bounds, _, _ = PROBLEMS[problem]
    names = [f"x{i}" for i in range(len(bounds))]
    space = SearchSpace({n: FloatDist(lo, hi) for n, (lo, hi) in zip(names, bounds, strict=True)})
    strategy = create_strategy(method.split()[1], space, seed=seed)
    history: list[tuple[dict[str, Any], float]] = []
    seconds = []
    while len(history) < evals:
        t = time.process_time()
        asked = strategy.suggest(history, [], n=min(batch, evals - len(history)))
        seconds.append((time.process_time() - t) / len(asked))
        for a in asked:
            history.append((a, fn(np.array([a[n] for n in names]))))
    return {"values": [v for _, v in history], "seconds": seconds}


def _run_optuna(method: str, problem: str, seed: int, batch: int, evals: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fn, bounds, _, _ = PROBLEMS[problem]
    sampler = (
        optuna.samplers.TPESampler(seed=seed)
        if method == "optuna TPE"
        else optuna.samplers.GPSampler(seed=seed)
    )
    study = optuna.create_study(sampler=sampler)
    dists = {
        f"x{i}": optuna.distributions.FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(bounds)
    }
    values: list[float] = []
    seconds = []
    while len(values) < evals:
        t = time.process_time()
        trials = [study.ask(dists) for _ in range(min(batch, evals - len(values)))]
        seconds.append((time.process_time() - t) / len(trials))
        for trial in trials:
            v = fn(np.array([trial.params[f"x{i}"] for i in range(len(bounds))]))
            study.tell(trial, v)
            values.append(v)
    return {"values": values, "seconds": seconds}


def run_one(task: tuple[str, str, int, int, int]) -> dict[str, Any]:
    method, problem, seed, batch, evals = task
    runner = _run_lamina if method.startswith("lamina") else _run_optuna
    out = runner(method, problem, seed, batch, evals)
    out.update(method=method, problem=problem, seed=seed, batch=batch)
    return out


def suggestion_cost(sizes: list[int], repeats: int = 3) -> dict[int, dict[str, float]]:
    """CPU and wall seconds of one sequential ``bayes`` suggestion with ``size`` finished trials
    of Hartmann6 (the first call at each size fits the GP cold; the next ones warm-start)."""
    import torch

    torch.set_num_threads(1)
    from lamina.search.bayes import BayesStrategy
    from lamina.search.space import FloatDist, SearchSpace

    names = [f"x{i}" for i in range(6)]
    space = SearchSpace({n: FloatDist(0.0, 1.0) for n in names})
    rng = np.random.default_rng(0)
    out = {}
    for size in sizes:
        strategy = BayesStrategy(space, seed=0)
        xs = rng.random((size + repeats, 6))
        history = [(dict(zip(names, x, strict=True)), hartmann6(x)) for x in xs[:size]]
        cpu, wall = [], []
        for k in range(repeats):
            t0, w0 = time.process_time(), time.perf_counter()
            strategy.suggest(history, [], n=1)
            cpu.append(time.process_time() - t0)
            wall.append(time.perf_counter() - w0)
            history.append((dict(zip(names, xs[size + k], strict=True)), hartmann6(xs[size + k])))
        out[size] = {"cpu_mean": float(np.mean(cpu)), "cpu_max": float(np.max(cpu)),
                     "wall_mean": float(np.mean(wall))}  # fmt: skip
    return out


def summarize(results: list[dict[str, Any]], evals: int) -> list[str]:
    """Markdown table rows, one per (problem, method, batch)."""
    rows = []
    checkpoints = [c for c in (10, 20, 30, 40) if c <= evals]
    head = " | ".join(f"regret @{c}" for c in checkpoints)
    rows.append(f"| problem | method | batch | {head} | runs reaching | s / suggestion |")
    rows.append("|" + "---|" * (5 + len(checkpoints)))
    for problem, (_, _, optimum, target) in PROBLEMS.items():
        for method in METHODS:
            for batch in sorted({r["batch"] for r in results}):
                runs = [
                    r
                    for r in results
                    if r["problem"] == problem and r["method"] == method and r["batch"] == batch
                ]
                if not runs:
                    continue
                best = np.array([np.minimum.accumulate(r["values"]) - optimum for r in runs])
                med = " | ".join(f"{np.median(best[:, c - 1]):.3g}" for c in checkpoints)
                reached = int((best[:, -1] < target).sum())
                sec = np.mean([s for r in runs for s in r["seconds"]])
                rows.append(
                    f"| {problem} | {method} | {batch} | {med} | {reached} / {len(runs)} "
                    f"(< {target:g}) | {sec:.3f} |"
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first..seeds-1")
    parser.add_argument("--evals", type=int, default=40)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="processes (1 thread each)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--sizes", default="50,100,200", help="history sizes for the cost test")
    parser.add_argument("--json", default="benchmarks/out/search.json")
    parser.add_argument(
        "--summarize", action="store_true", help="only print the table of the --json results"
    )
    parser.add_argument(
        "--merge",
        default="",
        help="comma-separated result files of earlier runs; their runs not repeated here are kept",
    )
    args = parser.parse_args()

    methods = [m for m in args.methods.split(",") if m]
    # Seed-major order: a run stopped early still compares every method on its first seeds.
    tasks = [
        (m, p, s, b, args.evals)
        for s in range(args.first_seed, args.seeds)
        for p in PROBLEMS
        for m in methods
        for b in (1, args.batch)
    ]
    print(f"# {len(tasks)} runs on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}", flush=True)  # fmt: skip
    from lamina.atomic import atomic_write_text

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    if args.summarize:
        results = json.loads(out.read_text())["results"]
        tasks = []
    planned = {t[:4] for t in tasks}
    planned |= {(r["method"], r["problem"], r["seed"], r["batch"]) for r in results}
    for path in (p for p in args.merge.split(",") if p):
        for r in json.loads(Path(path).read_text())["results"]:
            key = (r["method"], r["problem"], r["seed"], r["batch"])
            if key not in planned and r["method"] in methods and r["seed"] < args.seeds:
                planned.add(key)
                results.append(r)
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for i, r in enumerate(pool.imap_unordered(run_one, tasks), 1):
            results.append(r)
            if i % 16 == 0:
                print(f"  {i}/{len(tasks)} runs, {time.perf_counter() - start:.0f} s", flush=True)
                atomic_write_text(out, json.dumps({"results": results}))  # partial results
    rows = summarize(results, args.evals)
    print("\n".join(rows))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    cost = suggestion_cost(sizes) if sizes else {}
    for size, c in cost.items():
        print(f"bayes suggestion with {size} trials: CPU {c['cpu_mean']:.3f} s (max "
              f"{c['cpu_max']:.3f}), wall {c['wall_mean']:.3f} s")  # fmt: skip
    print(f"total wall {time.perf_counter() - start:.0f} s")
    atomic_write_text(out, json.dumps({"results": results, "cost": cost, "table": rows}))


if __name__ == "__main__":
    main()
