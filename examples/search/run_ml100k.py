"""Hyperparameter search on MovieLens 100k, compared with the hand-made recipe.

    python examples/search/run_ml100k.py --data ../shared/data/ml-100k
    python examples/search/run_ml100k.py --data ../shared/data/ml-100k --trials 30 --parallel 2 \\
        --work ml100k_search --json result.json

Protocol (the recommender recipes' one, examples/recommender/run.py): every rating is a positive;
each user's items are split 80/20 into train/test (seed), then train is split 80/20 into fit/val
(seed + 10000). Everything here uses fit and val only; test is never read. Every trial trains on
``fit`` and is scored by validation NDCG@10 (input: the user's fit items; relevant: the val items)
after its last epoch.

The search (``--config``; default ``ml100k_dlae_search.json``: the recommender recipe's denoising
linear autoencoder with its learning rate, input dropout and weight decay searched;
``ml100k_search.json``: a Mult-DAE with learning rate, hidden width and input dropout searched)
runs ``--trials`` trials, ``--parallel`` at once on a local Ray, with successive halving unless
``--no-early-stop``. The baseline is the hand-made recipe (``--baseline``; default the recommender
example's ``dlae.json``) trained on the same split; its validation NDCG@10 is reported both after
its last epoch and at its best epoch (the generous number, the one to beat). Re-running the same
command resumes the search.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RECIPE = REPO / "examples" / "recommender" / "configs" / "dlae.json"
FALLBACK = REPO / "examples" / "configs" / "autoencoder.json"


def prepare(data: Path, work: Path, seed: int) -> dict[str, Path]:
    """u.data -> DSSTNE text -> train/test -> fit/val -> netCDF files sharing one feature index."""
    from lamina.data.generate import generate_netcdf
    from lamina.data.importers import import_movielens
    from lamina.data.split import split_text

    work.mkdir(parents=True, exist_ok=True)
    files = {name: work / f"{name}.nc" for name in ("fit_in", "fit_out", "train_out")}
    if all(p.is_file() for p in files.values()):
        return files
    ratings = data / "u.data" if data.is_dir() else data
    import_movielens(ratings, work / "all.txt")
    split_text(work / "all.txt", train=work / "train.txt", test=work / "test.txt", seed=seed)
    split_text(
        work / "train.txt", train=work / "fit.txt", test=work / "val.txt", seed=seed + 10_000
    )
    for path in (work / "features", work / "samples"):
        path.unlink(missing_ok=True)
    index = {"feature_index": work / "features", "sample_index": work / "samples"}
    generate_netcdf(
        work / "all.txt", work / "all.nc", dataset_name="gl_input", mode="create", **index
    )
    for name, text, dataset in (
        ("fit_in", "fit.txt", "gl_input"),
        ("fit_out", "fit.txt", "gl_output"),
        ("train_out", "train.txt", "gl_output"),
    ):
        generate_netcdf(work / text, files[name], dataset_name=dataset, mode="existing", **index)
    return files


def baseline(config: Path, files: dict[str, Path], work: Path, seed: int) -> dict[str, Any]:
    """Train the hand-made recipe on fit; validation NDCG@10 after every epoch."""
    from lamina.train.options import EpochReport, TrainOptions
    from lamina.train.trainer import train

    curve: list[float] = []

    def on_epoch_end(report: EpochReport) -> None:
        curve.append(report.metrics["ndcg@10"])

    started = time.perf_counter()
    train(
        config,
        inputs=files["fit_in"],
        outputs=files["fit_out"],
        network_path=work / "baseline.nc",
        options=TrainOptions(
            seed=seed,
            threads=1,
            overwrite=True,
            checkpoint_interval=0,
            tensorboard=False,
            validation=(files["fit_in"], files["train_out"]),
            on_epoch_end=on_epoch_end,
        ),
    )
    best = max(range(len(curve)), key=curve.__getitem__)
    return {
        "config": str(config),
        "epochs": len(curve),
        "final": curve[-1],
        "best": curve[best],
        "best_epoch": best + 1,
        "seconds": round(time.perf_counter() - started, 1),
    }


def retrain(config: Path, files: dict[str, Path], work: Path, seed: int) -> float:
    """Train ``best_config.json`` afresh (same split and seed); its last validation NDCG@10."""
    from lamina.train.options import TrainOptions
    from lamina.train.trainer import train

    result = train(
        config,
        inputs=files["fit_in"],
        outputs=files["fit_out"],
        network_path=work / "retrained_best.nc",
        options=TrainOptions(
            seed=seed,
            threads=1,
            overwrite=True,
            checkpoint_interval=0,
            tensorboard=False,
            validation=(files["fit_in"], files["train_out"]),
        ),
    )
    return float(result.history[-1].metrics["ndcg@10"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="ml-100k folder or u.data")
    parser.add_argument("--work", type=Path, default=Path("ml100k_search"), help="work folder")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--strategy", default="bayes", choices=["bayes", "random", "grid"])
    parser.add_argument("--seed", type=int, default=0, help="split, search and training seed")
    parser.add_argument("--config", type=Path, default=HERE / "ml100k_dlae_search.json")
    parser.add_argument("--baseline", type=Path, default=RECIPE if RECIPE.is_file() else FALLBACK)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--no-early-stop", action="store_true")
    parser.add_argument("--min-epochs", type=int, default=1, help="first halving rung")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    from lamina.search.halving import Halving
    from lamina.search.runner import SearchOptions, run_search

    files = prepare(args.data, args.work, args.seed)
    base = None if args.skip_baseline else baseline(args.baseline, files, args.work, args.seed)
    if base is not None:
        print(
            f"baseline {base['config']}: validation NDCG@10 {base['final']:.4f} after "
            f"{base['epochs']} epochs, best {base['best']:.4f} at epoch {base['best_epoch']}",
            flush=True,
        )
    started = time.perf_counter()
    result = run_search(
        args.config,
        inputs=files["fit_in"],
        outputs=files["fit_out"],
        study_dir=args.work / "study",
        options=SearchOptions(
            metric="NDCG@10",
            trials=args.trials,
            parallel=args.parallel,
            strategy=args.strategy,
            seed=args.seed,
            validation=(files["fit_in"], files["train_out"]),
            early_stop=None if args.no_early_stop else Halving(min_epochs=args.min_epochs),
            progress=True,
            command=tuple(sys.argv),
            log=lambda line: print(line, file=sys.stderr, flush=True),
        ),
    )
    seconds = time.perf_counter() - started
    print(result.table)
    best = result.best
    summary: dict[str, Any] = {
        "baseline": base,
        "search": {
            "trials": len(result.trials),
            "states": {
                s: sum(t.state == s for t in result.trials)
                for s in ("completed", "stopped", "failed")
            },
            "best_trial": best.id if best else None,
            "best": best.value if best else None,
            "best_params": best.params if best else None,
            "first_trial_beating_baseline": None,
            "seconds": round(seconds, 1),
        },
        "files": {k: str(v) for k, v in result.files.items()},
    }
    if best is not None and base is not None:
        beat = [
            t.id
            for t in sorted(result.trials, key=lambda t: int(t.id))
            if t.state == "completed" and t.value is not None and t.value >= base["best"]
        ]
        summary["search"]["first_trial_beating_baseline"] = beat[0] if beat else None
        verdict = "at least as good as" if best.value >= base["best"] else "worse than"
        print(
            f"search best NDCG@10 {best.value:.4f} (trial {best.id}) is {verdict} the recipe's "
            f"best validation NDCG@10 {base['best']:.4f}"
        )
    if best is not None:
        again = retrain(result.files["best_config"], files, args.work, args.seed)
        summary["search"]["best_config_retrained"] = again
        print(f"best_config.json trained afresh: validation NDCG@10 {again:.4f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["search"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
