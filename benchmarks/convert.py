"""Benchmark: text -> netCDF conversion (``generate-netcdf``) on an ML-20M-shaped file.

Generates (once, cached) a DSSTNE text file shaped like MovieLens-20M in its ``ml20m-all`` form
(``user<TAB>movie,timestamp:movie,timestamp:...``): 138,493 users, 26,744 movies, 20,000,263 pairs,
Zipf movie popularity, log-normal user activity (``--scale`` shrinks users and pairs). Then runs,
each in its own subprocess so that peak RSS (``ru_maxrss``) is per variant:

* ``lamina``: ``lamina.data.generate.generate_netcdf`` (vectorised chunked parser);
* ``baseline``: a straightforward pure-Python reader (line by line, ``str.split``, a dict as the
  feature index) writing the same netCDF file with the same writer.

Both outputs are compared (same rows, same feature indices). Prints interactions/s (wall and CPU),
peak RSS, the ratio, and what ran. Usage::

    python benchmarks/convert.py                 # full scale (~330 MB of text)
    python benchmarks/convert.py --scale 0.05    # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from array import array
from pathlib import Path

import numpy as np

USERS, ITEMS, PAIRS = 138_493, 26_744, 20_000_263


def make_text(path: Path, scale: float, seed: int) -> tuple[int, int]:
    """Write the synthetic ratings text; return (users, pairs)."""
    rng = np.random.default_rng(seed)
    users, pairs = max(1, round(USERS * scale)), max(1, round(PAIRS * scale))
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=users) + 0.05
    lengths = np.maximum(1, np.floor(activity / activity.sum() * pairs)).astype(np.int64)
    lengths[np.argmax(lengths)] += pairs - lengths.sum()  # exact total
    ranks = np.arange(1, ITEMS + 1)
    popularity = 1.0 / (ranks + 5.0)  # Zipf-like, exponent 1
    cdf = np.cumsum(popularity / popularity.sum())
    movie_ids = rng.permutation(np.arange(1, ITEMS + 1) * 3 - rng.integers(0, 3, ITEMS))
    items = movie_ids[np.minimum(np.searchsorted(cdf, rng.random(pairs)), ITEMS - 1)]
    stamps = rng.integers(822_873_600, 1_427_784_002, pairs)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        pos = 0
        user_ids = rng.permutation(users) + 1
        for u, n in zip(user_ids.tolist(), lengths.tolist(), strict=True):
            its, ts = items[pos : pos + n].tolist(), stamps[pos : pos + n].tolist()
            out.write(
                f"{u}\t" + ":".join([f"{i},{t}" for i, t in zip(its, ts, strict=True)]) + "\n"
            )
            pos += n
    tmp.replace(path)
    return users, int(lengths.sum())


def run_lamina(src: Path, work: Path) -> int:
    from lamina.data.generate import generate_netcdf

    summary = generate_netcdf(
        src,
        work / "lamina.nc",
        dataset_name="gl_input",
        feature_index=work / "lamina.features",
        sample_index=work / "lamina.samples",
        mode="create",
    )
    return summary.non_zeros


def run_baseline(src: Path, work: Path) -> int:
    """The obvious pure-Python converter: per line, per element, dict lookups; same output."""
    from lamina.data.index import write_index
    from lamina.data.nc_write import DatasetArrays, write_datasets
    from lamina.data.schema import DatasetAttributes, DataType, round_up_width

    features: dict[str, int] = {}
    samples: dict[str, int] = {}
    rows: dict[int, array] = {}
    with open(src, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            label, data = line.split("\t", 1)
            sid = samples.setdefault(label, len(samples))
            row = array("I")
            for element in data.split(":"):
                if element:
                    row.append(features.setdefault(element.split(",", 1)[0], len(features)))
            rows[sid] = row
    start, end, index = array("Q"), array("Q"), array("I")
    for sid in sorted(rows):
        start.append(len(index))
        index.extend(rows[sid])
        end.append(len(index))
    write_datasets(
        work / "baseline.nc",
        [
            DatasetArrays(
                "gl_input",
                DatasetAttributes.SPARSE | DatasetAttributes.BOOLEAN,
                DataType.UINT,
                round_up_width(len(features)),
                sparse_start=np.frombuffer(start, np.uint64),
                sparse_end=np.frombuffer(end, np.uint64),
                sparse_index=np.frombuffer(index, np.uint32),
            )
        ],
    )
    write_index(work / "baseline.features", features)
    write_index(work / "baseline.samples", samples)
    return len(index)


def child(variant: str, src: Path, work: Path) -> None:
    """Run one variant in this process and print its measurements as JSON."""
    import lamina.data.generate  # imports (pandas, netCDF4) are not part of the timing
    import lamina.data.nc_write  # noqa: F401

    for suffix in (".nc", ".features", ".samples"):  # a kept sample index would be reused
        (work / f"{variant}{suffix}").unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    nnz = {"lamina": run_lamina, "baseline": run_baseline}[variant](src, work)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps(
            {
                "variant": variant,
                "nnz": nnz,
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": after.ru_maxrss / 1024,
            }
        )
    )


def same_output(work: Path) -> bool:
    from lamina.data.nc_read import read_dataset

    a, b = read_dataset(work / "lamina.nc"), read_dataset(work / "baseline.nc")
    ra, rb = a.read_sparse(0, a.examples), b.read_sparse(0, b.examples)
    return bool(
        a.width == b.width
        and np.array_equal(ra.offsets, rb.offsets)
        and np.array_equal(ra.indices, rb.indices)
        and (work / "lamina.features").read_text() == (work / "baseline.features").read_text()
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of ML-20M's size")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="lamina,baseline")
    parser.add_argument(
        "--child", nargs=3, metavar=("VARIANT", "SRC", "WORK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    src = args.out / f"ml20m-like-scale{args.scale:g}-seed{args.seed}.txt"
    if not src.exists():
        t0 = time.perf_counter()
        users, pairs = make_text(src, args.scale, args.seed)
        print(
            f"generated {src} ({users:,} users, {pairs:,} pairs) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
    size_mb = src.stat().st_size / 2**20
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    results = {}
    for variant in args.variants.split(","):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", variant, str(src), str(args.out)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"input: {src.name}, {size_mb:,.0f} MB; machine: {os.cpu_count()} CPUs, {cpu_model()}; "
        f"python {platform.python_version()}; {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"{'variant':<10} {'non-zeros':>12} {'wall s':>8} {'cpu s':>8} {'M inter/s wall':>15} "
        f"{'M inter/s cpu':>14} {'peak RSS MB':>12}"
    )
    for name, r in results.items():
        print(
            f"{name:<10} {r['nnz']:>12,} {r['wall']:>8.2f} {r['cpu']:>8.2f} "
            f"{r['nnz'] / r['wall'] / 1e6:>15.2f} {r['nnz'] / r['cpu'] / 1e6:>14.2f} "
            f"{r['peak_rss_mb']:>12.0f}"
        )
    if {"lamina", "baseline"} <= results.keys():
        ratio = results["baseline"]["wall"] / results["lamina"]["wall"]
        print(
            f"lamina is {ratio:.1f}x faster than the pure-Python baseline (wall clock); "
            f"outputs identical: {same_output(args.out)}"
        )


if __name__ == "__main__":
    main()
