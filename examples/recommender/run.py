"""Recommendation recipes end to end: import, split, convert, train, evaluate beside baselines.

    python examples/recommender/run.py --data ../shared/data/ml-100k --format movielens
    python examples/recommender/run.py --data ../shared/data/ml-1m-implicit --format lists \\
        --seeds 3 --json ml1m.json
    python examples/recommender/run.py --data plays.tsv --format csv --sample-col userID \\
        --feature-col artistID --delimiter tab

Protocol ("all ratings are positives", as in the README): every interaction is a positive; for
each seed, each user's interactions are split 80/20 at random (``lamina data split``); every model
ranks all items of the catalogue (the feature index is built from all interactions) except the
user's training items; metrics average over users with held-out items (``lamina evaluate``).

Per seed the script trains every recipe (``--recipe NAME=CONFIG``; default the DSSTNE sample
network and Lamina's recipe, a full-rank denoising linear autoencoder, ``configs/dlae.json``; the
older Mult-DAE recipe, ``--only mult_dae``, gets L2-normalized input rows: ``--l2-input``) and
scores it with ``lamina evaluate`` together with the popularity and EASE baselines (EASE's λ
chosen on a validation split of the training rows).
Epochs: a recipe named in ``--select-epochs`` (default: lamina, mult_dae) first trains on 80% of
each user's training items, validates NDCG@10 on the other 20% after every epoch, stops after
``--patience`` epochs without improvement, then retrains on all training rows for the best epoch
count (its config's ``Epochs`` is the cap). Nothing from the test split is used for choices.

Output: a table (mean ± standard deviation over seeds) and, with ``--json``, ``{"popularity":
{...}, "ease": {...}, "dsstne_sample": {...}, "lamina": {...}}`` with each metric's mean, std and
per-seed values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_RECIPES = {
    "dsstne_sample": HERE / "configs" / "dsstne_sample.json",
    "lamina": HERE / "configs" / "dlae.json",
}
EXTRA_RECIPES = {"mult_dae": HERE / "configs" / "mult_dae.json"}  # ``--only mult_dae`` runs it
METRICS = ("ndcg@10", "recall@20", "recall@50", "coverage@10")
MOVIELENS_FORMATS = ("movielens", "u.data", "ratings.dat", "ratings.csv", "lists")
_RATING_FILES = ("u.data", "ratings.dat", "ratings.csv")
VERBOSE = False


def _log(line: str) -> None:
    print(f"    {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class SeedFiles:
    """The netCDF files of one seed's split (datasets gl_input / gl_output).

    ``*_in_l2`` hold the same rows as ``*_in`` as analog values ``1 / sqrt(n_items of the row)``:
    the input normalization of Mult-DAE (Liang et al. 2018), done on the data because DSSTNE's
    language has no input-normalization option.
    """

    train_in: Path
    train_out: Path
    fit_in: Path
    fit_out: Path
    test: Path
    features: Path
    train_in_l2: Path
    fit_in_l2: Path

    def inputs(self, *, l2: bool) -> tuple[Path, Path]:
        """``(train input, fit input)``, L2-normalized or binary."""
        return (self.train_in_l2, self.fit_in_l2) if l2 else (self.train_in, self.fit_in)


def write_l2_rows(text: Path, out: Path) -> Path:
    """DSSTNE text with every feature of a row valued ``1 / sqrt(row length)``."""
    from lamina.atomic import atomic_path

    with (
        atomic_path(out) as tmp,
        open(text, encoding="utf-8") as src,
        open(tmp, "w", encoding="utf-8") as dst,
    ):
        for line in src:
            label, _, data = line.rstrip("\n").partition("\t")
            items = [e.split(",")[0] for e in data.split(":") if e]
            if items:
                value = f"{len(items) ** -0.5:.7g}"
                dst.write(label + "\t" + ":".join(f"{i},{value}" for i in items) + "\n")
    return out


def _source(data: Path, fmt: str, work: Path) -> Path:
    """The one file to import: ``data`` itself, or the ratings file(s) inside a folder.

    A folder of one-user-per-line ``*.txt`` files (ml-1m-implicit's train.txt + test.txt) is
    concatenated: its users are re-split by the protocol, not by the folder's own split.
    """
    if data.is_file():
        return data
    if not data.is_dir():
        sys.exit(f"error: --data {data}: no such file or folder")
    if fmt == "lists":
        parts = sorted(p for p in data.glob("*.txt") if p.is_file() and _is_lists(p))
        if not parts:
            sys.exit(f"error: --data {data}: expected *.txt files of 'user item item ...' lines")
        merged = work / "lists.txt"
        with open(merged, "w", encoding="utf-8") as out:
            for part in parts:
                text = part.read_text(encoding="utf-8")
                out.write(text if text.endswith("\n") else text + "\n")
        return merged
    for name in _RATING_FILES:
        if (data / name).is_file():
            return data / name
    sys.exit(f"error: --data {data}: expected one of {list(_RATING_FILES)} in the folder")


def _is_lists(path: Path) -> bool:
    """Whether the first line looks like ``user item item ...`` (skips SOURCE.txt, README.txt)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        fields = handle.readline().split()
    return bool(fields) and all(f.isdigit() for f in fields)


def import_data(args: argparse.Namespace, work: Path) -> Path:
    """``lamina data import``: the interactions as DSSTNE text, one line per user."""
    from lamina.data.importers import import_csv, import_movielens, parse_delimiter

    work.mkdir(parents=True, exist_ok=True)
    out = work / "all.txt"
    source = _source(Path(args.data), args.format, work)
    if args.format == "csv":
        import_csv(
            source,
            out,
            sample_col=_column(args.sample_col),
            feature_col=_column(args.feature_col),
            delimiter=parse_delimiter(args.delimiter),
            header=not args.no_header,
        )
    else:
        fmt = "auto" if args.format == "movielens" else args.format
        import_movielens(source, out, format=fmt, min_rating=args.min_rating)
    return out


def _column(spec: str) -> str | int:
    return int(spec) if spec.isdigit() else spec


def split_seed(all_txt: Path, seed: int, work: Path) -> SeedFiles:
    """``lamina data split`` twice (train/test, then fit/validation inside train) and
    ``generate-netcdf`` with one feature index (all items) and one sample index (all users)."""
    from lamina.data.generate import generate_netcdf
    from lamina.data.split import split_text

    d = work / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    split_text(all_txt, train=d / "train.txt", test=d / "test.txt", seed=seed)
    split_text(d / "train.txt", train=d / "fit.txt", test=d / "val.txt", seed=seed + 10_000)
    features, samples = d / "features", d / "samples"
    for path in (features, samples):
        path.unlink(missing_ok=True)
    generate_netcdf(
        all_txt,
        d / "all.nc",
        dataset_name="gl_input",
        feature_index=features,
        sample_index=samples,
        mode="create",
    )
    files = {
        "train_in": ("train.txt", "gl_input"),
        "train_out": ("train.txt", "gl_output"),
        "fit_in": ("fit.txt", "gl_input"),
        "fit_out": ("fit.txt", "gl_output"),
        "test": ("test.txt", "gl_output"),
    }
    for name in ("train", "fit"):
        write_l2_rows(d / f"{name}.txt", d / f"{name}_l2.txt")
        files[f"{name}_in_l2"] = (f"{name}_l2.txt", "gl_input")
    for name, (text, dataset) in files.items():
        generate_netcdf(
            d / text,
            d / f"{name}.nc",
            dataset_name=dataset,
            feature_index=features,
            sample_index=samples,
            mode="existing",
            kind="analog" if name.endswith("_l2") else "indicator",
        )
    return SeedFiles(**{name: d / f"{name}.nc" for name in files}, features=features)


def select_epochs(
    config: Path,
    files: SeedFiles,
    *,
    seed: int,
    threads: int,
    patience: int,
    work: Path,
    l2: bool = False,
) -> tuple[int, list[float], float]:
    """Train on the fit split, validate NDCG@10 on the held-back 20% of the training items after
    every epoch, stop after ``patience`` epochs without improvement.

    Returns:
        ``(best_epoch, validation NDCG@10 per epoch, seconds)``.
    """
    from lamina.train.options import EpochReport, TrainOptions
    from lamina.train.trainer import train

    curve: list[float] = []

    def on_epoch_end(report: EpochReport) -> bool:
        curve.append(report.metrics.get("ndcg@10", float("nan")))
        best = max(range(len(curve)), key=lambda i: curve[i])
        return len(curve) - 1 - best >= patience

    fit_in = files.inputs(l2=l2)[1]
    started = time.perf_counter()
    train(
        config,
        inputs=fit_in,
        outputs=files.fit_out,
        network_path=work / "select.nc",
        options=TrainOptions(
            seed=seed,
            threads=threads,
            overwrite=True,
            checkpoint_interval=0,
            tensorboard=False,
            validation=(fit_in, files.train_out),
            on_epoch_end=on_epoch_end,
            log=_log if VERBOSE else None,
        ),
    )
    best = max(range(len(curve)), key=lambda i: curve[i]) + 1
    return best, curve, time.perf_counter() - started


def train_recipe(
    config: Path,
    files: SeedFiles,
    *,
    seed: int,
    threads: int,
    epochs: int | None,
    out: Path,
    l2: bool = False,
) -> dict[str, float]:
    """Train on all training rows (input L2-normalized with ``l2``).

    Returns:
        ``{"train_seconds": wall, "train_cpu_seconds": CPU time of this process (all threads),
        "load_average": 1-minute load average at the end}``: the machine may be shared, so the
        wall time alone says little.
    """
    from lamina.train.options import TrainOptions
    from lamina.train.trainer import train

    started, cpu = time.perf_counter(), time.process_time()
    train(
        config,
        inputs=files.inputs(l2=l2)[0],
        outputs=files.train_out,
        network_path=out,
        options=TrainOptions(
            seed=seed,
            threads=threads,
            epochs=epochs,
            overwrite=True,
            checkpoint_interval=0,
            tensorboard=False,
            log=_log if VERBOSE else None,
        ),
    )
    return {
        "train_seconds": time.perf_counter() - started,
        "train_cpu_seconds": time.process_time() - cpu,
        "load_average": os.getloadavg()[0],
    }


def run_seed(
    args: argparse.Namespace, all_txt: Path, seed: int, recipes: dict[str, Path], work: Path
) -> dict[str, dict[str, Any]]:
    """Every recipe and baseline on one seed's split: name -> metrics (+ seconds)."""
    from lamina.predict.evaluation import evaluate

    files = split_seed(all_txt, seed, work)
    rows: dict[str, dict[str, Any]] = {}
    baselines = [b for b in args.baselines.split(",") if b]
    for name, config in recipes.items():
        row: dict[str, Any] = {}
        epochs = None
        l2 = name in args.l2_input
        if name in args.select_epochs:
            epochs, curve, secs = select_epochs(
                config,
                files,
                seed=seed,
                threads=args.threads,
                patience=args.patience,
                work=work / f"seed{seed}",
                l2=l2,
            )
            row.update(selected_epochs=epochs, selection_seconds=secs)
            row["validation_ndcg@10"] = [round(v, 4) for v in curve]
        network = work / f"seed{seed}" / f"{name}.nc"
        row |= train_recipe(
            config, files, seed=seed, threads=args.threads, epochs=epochs, out=network, l2=l2
        )
        result = evaluate(
            network,
            train_path=files.inputs(l2=l2)[0],
            heldout_path=files.test,
            ks=(10, 20, 50),
            baselines=baselines,
            output_index=files.features,
            progress=False,
        )
        for base in baselines:
            rows[base] = {**result.metrics[base], **result.baseline_details.get(base, {})}
        row.update(result.metrics["network"])
        rows[name] = row
        baselines = []  # baselines are the same for every recipe of this seed
        print(f"  seed {seed} {name}: " + _brief(row), file=sys.stderr, flush=True)
    for base in args.baselines.split(","):
        if base in rows:
            print(f"  seed {seed} {base}: " + _brief(rows[base]), file=sys.stderr, flush=True)
    return rows


def _brief(row: dict[str, Any]) -> str:
    keys = [*METRICS, "train_seconds", "train_cpu_seconds", "selected_epochs", "lambda"]
    return ", ".join(f"{k} {row[k]:.4g}" for k in keys if isinstance(row.get(k), (int, float)))


def summarize(per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """name -> metric -> {"mean", "std", "values"} over seeds (numbers only)."""
    import numpy as np

    out: dict[str, dict[str, Any]] = {}
    for name in per_seed[0]:
        out[name] = {}
        for key, first in per_seed[0][name].items():
            if not isinstance(first, (int, float)):
                continue
            values = [float(seed[name][key]) for seed in per_seed]
            out[name][key] = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "values": values,
            }
    return out


def render(summary: dict[str, dict[str, Any]]) -> str:
    """The table: one row per ranker, mean ± std of each metric and the training time."""
    cols = [*METRICS, "train_seconds", "train_cpu_seconds"]
    head = ["ranker", *(c.replace("_seconds", " s").replace("_", " ") for c in cols)]
    rows = [head]
    for name, metrics in summary.items():
        cells = [name]
        for col in cols:
            m = metrics.get(col)
            if m is None:
                cells.append("-")
            elif col.endswith("_seconds"):
                cells.append(f"{m['mean']:.1f} ± {m['std']:.1f}")
            else:
                cells.append(f"{m['mean']:.4f} ± {m['std']:.4f}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="Ratings file, or a folder holding one.")
    p.add_argument(
        "--format",
        required=True,
        choices=[*MOVIELENS_FORMATS, "csv"],
        help="movielens (auto-detect), a MovieLens layout, lists (one user per line), or csv.",
    )
    p.add_argument("--sample-col", default="0", help="csv: user column (name or 0-based index).")
    p.add_argument("--feature-col", default="1", help="csv: item column (name or 0-based index).")
    p.add_argument("--delimiter", default=",", help="csv: one character, 'tab' or 'space'.")
    p.add_argument("--no-header", action="store_true", help="csv: the first line is data.")
    p.add_argument("--min-rating", type=float, default=None, help="Keep ratings >= R (ge4).")
    p.add_argument("--seeds", type=int, default=3, help="Split seeds 1..N (default 3).")
    p.add_argument("--json", type=Path, default=None, help="Write the summary here.")
    p.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="NAME=CONFIG",
        help="Add or replace a recipe (default: dsstne_sample and lamina).",
    )
    p.add_argument("--only", default="", help="Comma-separated recipe names to run.")
    p.add_argument(
        "--select-epochs",
        default="lamina,mult_dae",
        help="Recipes whose epoch count is chosen on validation (comma-separated; '' = none).",
    )
    p.add_argument(
        "--l2-input",
        default="mult_dae",
        help="Recipes fed L2-normalized input rows (comma-separated; '' = none).",
    )
    p.add_argument("--patience", type=int, default=5, help="Epochs without improvement.")
    p.add_argument("--baselines", default="popularity,ease", help="Baselines (comma-separated).")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2).")
    p.add_argument("--work", type=Path, default=None, help="Working folder (default: temporary).")
    p.add_argument("-v", "--verbose", action="store_true", help="Print every epoch line.")
    args = p.parse_args(argv)
    args.select_epochs = [s for s in args.select_epochs.split(",") if s]
    args.l2_input = [s for s in args.l2_input.split(",") if s]
    return args


def main(argv: list[str] | None = None) -> int:
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose
    recipes = dict(DEFAULT_RECIPES)
    for spec in args.recipe:
        name, _, path = spec.partition("=")
        recipes[name] = Path(path)
    if args.only:
        known = recipes | EXTRA_RECIPES
        unknown = [n for n in args.only.split(",") if n not in known]
        if unknown:
            sys.exit(f"error: --only {unknown}: recipes are {sorted(known)}")
        recipes = {n: known[n] for n in args.only.split(",")}
    with tempfile.TemporaryDirectory(prefix="lamina-recipes-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
        _warm_up()
        started = time.perf_counter()
        all_txt = import_data(args, work)
        per_seed: list[dict[str, dict[str, Any]]] = []
        for seed in range(1, args.seeds + 1):
            per_seed.append(run_seed(args, all_txt, seed, recipes, work))
            if args.json is not None:  # after every seed: a long run leaves partial results
                _write_json(args, per_seed)
    print(render(summarize(per_seed)))
    print(f"({args.seeds} seeds, {time.perf_counter() - started:.0f} s in all)")
    return 0


def _warm_up() -> None:
    """Pay torch's one-time imports (the first optimizer imports torch._dynamo, seconds) before
    anything is timed."""
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _write_json(args: argparse.Namespace, per_seed: list[dict[str, dict[str, Any]]]) -> None:
    from lamina.atomic import atomic_write_text

    meta = {
        "data": str(args.data),
        "format": args.format,
        "seeds": args.seeds,
        "seeds_done": len(per_seed),
    }
    summary = {**summarize(per_seed), "_meta": meta, "_per_seed": per_seed}
    atomic_write_text(args.json, json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
