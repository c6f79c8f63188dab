"""Benchmark: one training step of DSSTNE's MovieLens autoencoder on ML-20M-shaped sparse data.

The model of anchors section 1: sparse input 26,744 -> 128 Sigmoid -> 26,744 Sigmoid, CrossEntropy
over all outputs, batch 256, Adam (lr 1e-3, betas 0.9/0.999). Variants, interleaved in one process
(A, B, C, A, B, C, ...; the starting variant rotates every round), medians reported:

* ``naive``: the obvious PyTorch program: densify each batch (``SparseBatch.to_dense``), two
  ``nn.Linear``, ``binary_cross_entropy_with_logits(reduction="sum") / B``, ``torch.optim.Adam``
  with default settings (the single-tensor loop on CPU).
* ``lamina``: what ``lamina train`` runs per minibatch: ``lamina.nn.build_network`` (sparse input
  through ``F.embedding_bag``; in training the output sigmoid and the sparse layer's weight
  gradient run Lamina's C kernels, ``lamina.nn.native``), ``lamina.train.losses.output_loss``
  (fused sparse sigmoid cross-entropy), objective ``loss_sum / B``,
  ``make_optimizer(Optimizer.ADAM)`` (fused Adam).
* ``lamina, LAMINA_NATIVE=0``: the same code with the C kernels switched off (their pure-torch
  twins, as where no C compiler is available).

Before timing, the script proves the variants do the same work: with lamina's weights copied into
the naive model, the loss, every gradient and one Adam update agree (float32 tolerances), for both
lamina paths.

FLOP lower bound of one step, from GEMM rates measured in the same run, timed interleaved with the
steps: each of the three output-layer GEMMs (forward ``h W``, input gradient ``g W^T``, weight
gradient ``h^T g``) is timed in every exact-fp32 implementation this torch offers (MKL ``torch.mm``
with W stored (H, N) or (N, H), oneDNN's inner product ``mkldnn._linear_pointwise``), outputs
preallocated where the op allows; the bound uses the fastest implementation of each GEMM ("best
fp32", the honest bound) and, for comparison, MKL with W (H, N) only (H10's bound). A bf16 GEMM
rate (``torch.mm`` on bf16 tensors) is reported for information. ``flops = 3 * 2*B*H*N``
(output layer forward, input gradient, weight gradient) ``+ 2 * 2 * nnz*H`` (sparse input layer
forward and weight gradient; no gradient w.r.t. the data); bound = flops / rate. Elementwise
work (activations, loss, Adam) is memory-bound and not counted, so the bound is unreachable by
construction. ``torch.set_num_threads(1)`` unless ``--threads``.

Reports wall-clock and process CPU time per step (with one thread, CPU time is the time the step
ran on a core: the figure to compare on a shared machine), speed-ups as medians of per-round
ratios, and the ratio of each variant to the bound on both clocks. ``--keep-freed-memory`` runs
everything with glibc told to reuse freed memory (``lamina.train.memory``): compare two runs.

Usage::

    python benchmarks/train_throughput.py            # full size, ~2-4 minutes
    python benchmarks/train_throughput.py --smoke    # tiny sizes, a few seconds
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.config.enums import Activation, ErrorFunction, Optimizer
from lamina.config.loader import load_config
from lamina.data.batch import SparseBatch
from lamina.nn import build_network
from lamina.nn.native import load as load_native
from lamina.nn.native import sparse_affine
from lamina.train.losses import output_loss
from lamina.train.memory import keep_freed_memory
from lamina.train.optimizers import make_optimizer

LR, BETAS = 1e-3, (0.9, 0.999)
Step = Callable[[SparseBatch], float]


# ---- data: ML-20M-shaped synthetic minibatches (generated before timing) ----
def make_batches(
    *, n_batches: int, batch: int, items: int, nnz_mean: float, seed: int
) -> list[SparseBatch]:
    """Rows of distinct items: Zipf popularity p ~ 1/(rank + 5) (as benchmarks/convert.py), row
    lengths 20 + log-normal with mean ``nnz_mean`` (ML-20M: every user has >= 20 ratings)."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / (np.arange(1, items + 1) + 5.0)
    cdf = np.cumsum(popularity / popularity.sum())
    floor = min(20, max(1, int(nnz_mean) // 2))
    out = []
    for _ in range(n_batches):
        lengths = rng.lognormal(0.0, 1.0, batch)
        lengths = np.maximum(1, floor + lengths / lengths.mean() * (nnz_mean - floor)).astype(int)
        rows = []
        for n in np.minimum(lengths, items):
            row = np.unique(np.minimum(np.searchsorted(cdf, rng.random(n)), items - 1))
            while row.size < n:  # top up repeats with more draws, keep distinct
                extra = np.minimum(np.searchsorted(cdf, rng.random(n - row.size)), items - 1)
                row = np.union1d(row, extra)
            rows.append(row)
        offsets = np.concatenate([[0], np.cumsum([r.size for r in rows])])
        out.append(
            SparseBatch(
                torch.from_numpy(np.concatenate(rows)).long(),
                torch.from_numpy(offsets).long(),
                None,
                items,
            )
        )
    return out


# ---- the variants ----
def autoencoder(items: int, hidden: int, seed: int) -> nn.Module:
    """DSSTNE's MovieLens autoencoder with CrossEntropy (anchors section 1), built by lamina.nn."""
    config = load_config(
        {
            "Version": 0.8,
            "Name": "AE",
            "Kind": "FeedForward",
            "ErrorFunction": "CrossEntropy",
            "Layers": [
                {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "in", "Sparse": True},
                {"Name": "Hidden", "Kind": "Hidden", "Type": "FullyConnected", "N": hidden,
                 "Activation": "Sigmoid"},
                {"Name": "Output", "Kind": "Output", "Type": "FullyConnected", "N": "auto",
                 "DataSet": "out", "Activation": "Sigmoid"},
            ],
        }
    )  # fmt: skip
    return build_network(config, {"in": (items,), "out": (items,)}, seed=seed)


@contextlib.contextmanager
def native_kernels(on: bool) -> Iterator[None]:
    """Run with Lamina's C kernels (the default) or force its pure-torch path (LAMINA_NATIVE=0)."""
    before = os.environ.get("LAMINA_NATIVE")
    os.environ["LAMINA_NATIVE"] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["LAMINA_NATIVE"]
        else:
            os.environ["LAMINA_NATIVE"] = before


class LaminaStep:
    """The trainer's per-minibatch work: forward, output_loss, loss_sum / B backward, Adam step.

    ``native=False`` runs the same code with ``LAMINA_NATIVE=0`` (the pure-torch twins of the C
    kernels: what ``lamina train`` does where no C compiler is available).
    """

    def __init__(self, net: nn.Module, *, native: bool = True) -> None:
        self.net, self.native = net, native
        weights = [c.weight for c in net.connections]  # type: ignore[attr-defined]
        biases = [c.bias for c in net.connections]  # type: ignore[attr-defined]
        self.opt = make_optimizer(
            Optimizer.ADAM, weights, biases, alpha=LR, mu=BETAS[0], mu1=BETAS[1]
        )

    def loss(self, batch: SparseBatch) -> torch.Tensor:
        out = self.net({"Input": batch})
        return output_loss(
            out.preactivations["Output"],
            out.activations["Output"],
            batch,
            error_function=ErrorFunction.CROSS_ENTROPY,
            activation=Activation.SIGMOID,
        )

    def __call__(self, batch: SparseBatch) -> float:
        with native_kernels(self.native):
            loss = self.loss(batch)
            self.opt.zero_grad(set_to_none=True)
            (loss / batch.batch_size).backward()
            self.opt.step()
        return loss.item()


class NaiveStep:
    """Densify, two nn.Linear, BCE-with-logits summed, plain torch.optim.Adam."""

    def __init__(self, items: int, hidden: int) -> None:
        self.model = nn.Sequential(nn.Linear(items, hidden), nn.Sigmoid(), nn.Linear(hidden, items))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR, betas=BETAS)

    def loss(self, batch: SparseBatch) -> torch.Tensor:
        x = batch.to_dense()  # (B, N): input and target
        return F.binary_cross_entropy_with_logits(self.model(x), x, reduction="sum")

    def __call__(self, batch: SparseBatch) -> float:
        loss = self.loss(batch)
        self.opt.zero_grad(set_to_none=True)
        (loss / batch.batch_size).backward()
        self.opt.step()
        return loss.item()


# ---- proof that the variants do the same work ----
def check_same_math(lamina: LaminaStep, naive: NaiveStep, batch: SparseBatch) -> dict[str, float]:
    """Copy lamina's weights into the naive model; compare loss, gradients, one Adam update."""
    w1, w2 = (c.weight for c in lamina.net.connections)  # type: ignore[attr-defined]
    b1, b2 = (c.bias for c in lamina.net.connections)  # type: ignore[attr-defined]
    lin1, lin2 = naive.model[0], naive.model[2]
    with torch.no_grad():
        for dst, src in (
            (lin1.weight, w1.t()),
            (lin1.bias, b1),
            (lin2.weight, w2.t()),
            (lin2.bias, b2),
        ):
            dst.copy_(src)  # nn.Linear stores W^T
    pairs = [(w1, lin1.weight, True), (b1, lin1.bias, False)]
    pairs += [(w2, lin2.weight, True), (b2, lin2.bias, False)]
    with native_kernels(lamina.native):
        loss_l = lamina.loss(batch)
        lamina.opt.zero_grad(set_to_none=True)
        (loss_l / batch.batch_size).backward()
    loss_n = naive.loss(batch)
    naive.opt.zero_grad(set_to_none=True)
    (loss_n / batch.batch_size).backward()
    report = {"loss_rel_diff": abs(loss_l.item() - loss_n.item()) / abs(loss_n.item())}
    grad_err = 0.0
    for p_l, p_n, transposed in pairs:
        g_l = p_l.grad.t() if transposed else p_l.grad
        grad_err = max(grad_err, float((g_l - p_n.grad).abs().max() / p_n.grad.abs().max()))
    report["grad_max_rel_diff"] = grad_err
    with native_kernels(lamina.native):
        lamina.opt.step()
    naive.opt.step()
    upd = 0.0
    for p_l, p_n, transposed in pairs:
        v_l = p_l.detach().t() if transposed else p_l.detach()
        upd = max(upd, float((v_l - p_n.detach()).abs().max()))
    report["param_max_abs_diff_after_adam"] = upd
    ok = report["loss_rel_diff"] < 1e-5 and grad_err < 1e-4 and upd < LR * 1e-2
    if not ok:
        raise SystemExit(f"variants disagree: {report}")
    return report


# ---- timing ----
GEMMS = ("forward h W", "input grad g W^T", "weight grad h^T g")


def gemm_probes(batch: int, hidden: int, items: int, seed: int) -> dict[str, Callable[[], object]]:
    """The three output-layer GEMMs in every implementation measured: ``"<gemm> | <impl>"``."""
    gen = torch.Generator().manual_seed(seed)
    h, w = torch.rand(batch, hidden, generator=gen), torch.randn(hidden, items, generator=gen)
    g = torch.randn(batch, items, generator=gen)
    wt, ht = w.t().contiguous(), h.t().contiguous()  # W stored (N, H); h^T (H, B)
    z, gh, gw, gwt = (torch.empty(*s) for s in ((batch, items), (batch, hidden), w.shape, wt.shape))
    fwd, dx, dw = GEMMS
    probes: dict[str, Callable[[], object]] = {
        f"{fwd} | mkl W(H,N)": lambda: torch.mm(h, w, out=z),
        f"{fwd} | mkl W(N,H)": lambda: torch.mm(h, wt.t(), out=z),
        f"{dx} | mkl W(H,N)": lambda: torch.mm(g, w.t(), out=gh),
        f"{dx} | mkl W(N,H)": lambda: torch.mm(g, wt, out=gh),
        f"{dw} | mkl W(H,N)": lambda: torch.mm(h.t(), g, out=gw),
        f"{dw} | mkl W(N,H)": lambda: torch.mm(g.t(), h, out=gwt),
    }
    if torch.backends.mkldnn.is_available():
        linear = torch.ops.mkldnn._linear_pointwise  # (x, weight (out, in)) -> x weight^T
        probes[f"{fwd} | onednn W(N,H)"] = lambda: linear(h, wt, None, "none", [], "")
        probes[f"{dx} | onednn W(H,N)"] = lambda: linear(g, w, None, "none", [], "")
        probes[f"{dw} | onednn W(H,N)"] = lambda: linear(ht, g.t(), None, "none", [], "")
    hb, wb, gb = h.bfloat16(), w.bfloat16(), g.bfloat16()
    probes["bf16 (all three) | mm"] = lambda: (
        torch.mm(hb, wb),
        torch.mm(gb, wb.t()),
        torch.mm(hb.t(), gb),
    )
    return probes


FLOOR = ("adam", "elementwise pass", "sparse input layer")


def floor_probes(
    batch: SparseBatch, hidden: int, items: int, seed: int
) -> dict[str, Callable[[], object]]:
    """The non-GEMM work no implementation with library GEMMs and separate passes avoids.

    ``"floor | adam"``: torch's fused Adam over parameters of the step's shapes ((N, H) input
    weight, (H + 1, N) output weight and bias), gradients given; ``"floor | elementwise pass"``:
    one (B, N) float32 read + write (``torch.mul(.., out=)``); ``"floor | sparse input layer"``:
    lamina's sparse input layer (embedding bag, C weight gradient) forward and backward.
    """
    gen = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.randn(items, hidden, generator=gen) * 0.01),
              nn.Parameter(torch.randn(hidden + 1, items, generator=gen) * 0.01)]  # fmt: skip
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * 1e-3
    adam = torch.optim.Adam(params, lr=LR, betas=BETAS, fused=True)
    src = torch.randn(batch.batch_size, items, generator=gen)
    dst = torch.empty_like(src)
    w = nn.Parameter(torch.randn(items, hidden, generator=gen) * 0.01)
    b = nn.Parameter(torch.zeros(hidden))

    def sparse_layer() -> None:
        w.grad = b.grad = None
        sparse_affine(batch, w, b).sum().backward()

    return {
        "floor | adam": adam.step,
        "floor | elementwise pass": lambda: torch.mul(src, 1.0, out=dst),
        "floor | sparse input layer": sparse_layer,
    }


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU(s) (nproc), {model}, Python {platform.python_version()}"


# ---- cross-process: allocator policy per variant (it is process-wide) ----
def _worker(conn: Any, kind: str, keep: bool, shape: dict[str, Any]) -> None:
    """One variant in its own process: builds it, then runs one step per request."""
    if keep:
        keep_freed_memory()
    torch.set_num_threads(shape["threads"])
    torch.manual_seed(shape["seed"])
    B, H, N = shape["B"], shape["H"], shape["N"]
    batches = make_batches(
        n_batches=16, batch=B, items=N, nnz_mean=shape["nnz"], seed=shape["seed"]
    )
    step = NaiveStep(N, H) if kind == "naive" else LaminaStep(autoencoder(N, H, shape["seed"]))
    conn.send("ready")
    while (r := conn.recv()) is not None:
        c0, t0 = time.process_time(), time.perf_counter()
        step(batches[r % len(batches)])
        conn.send((time.perf_counter() - t0, time.process_time() - c0))


def cross_process(args: argparse.Namespace) -> dict[str, object]:
    """naive and lamina, each with glibc's default policy and with ``keep_freed_memory``, in four
    processes driven round-robin (one step each, rotating start), CPU time of each worker."""
    ctx = multiprocessing.get_context("spawn")
    shape = {"B": args.batch, "H": args.hidden, "N": args.items, "nnz": args.nnz,
             "seed": args.seed, "threads": args.threads}  # fmt: skip
    names = {
        "naive": ("naive", False),
        "naive, keep_freed_memory": ("naive", True),
        "lamina": ("lamina", False),
        "lamina, keep_freed_memory": ("lamina", True),
    }
    conns, procs = {}, []
    for name, (kind, keep) in names.items():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, kind, keep, shape), daemon=True)
        proc.start()
        conns[name], procs = parent, [*procs, proc]
    for conn in conns.values():
        conn.recv()
    cpu: dict[str, list[float]] = {k: [] for k in names}
    wall: dict[str, list[float]] = {k: [] for k in names}
    order = list(names)
    for r in range(args.warmup + args.rounds):
        for name in order[r % 4 :] + order[: r % 4]:
            conns[name].send(r)
            w, c = conns[name].recv()
            if r >= args.warmup:
                wall[name].append(w)
                cpu[name].append(c)
    for conn in conns.values():
        conn.send(None)
    for proc in procs:
        proc.join(timeout=30)
    print("\n| process | wall ms/step | CPU ms/step | speed-up vs naive (default malloc), CPU |")
    print("|---|---|---|---|")
    rows = {}
    for name in names:
        ratio = statistics.median(n / v for n, v in zip(cpu["naive"], cpu[name], strict=True))
        rows[name] = {
            "wall_ms": statistics.median(wall[name]) * 1e3,
            "cpu_ms": statistics.median(cpu[name]) * 1e3,
            "cpu_speedup": ratio,
        }
        print(
            f"| {name} | {rows[name]['wall_ms']:.1f} | {rows[name]['cpu_ms']:.1f} | {ratio:.2f}x |"
        )
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few rounds")
    parser.add_argument("--items", type=int, default=26_744)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--nnz", type=float, default=144.4, help="mean non-zeros per row")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (one step each)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="lamina.train.memory.keep_freed_memory() first (glibc: no page faults per step); "
        "process-wide, so it applies to every variant of the run",
    )
    parser.add_argument(
        "--cross-process",
        action="store_true",
        help="also time naive/lamina x default/keep_freed_memory in four processes, round-robin",
    )
    args = parser.parse_args(argv)
    kept = keep_freed_memory() if args.keep_freed_memory else False
    if args.smoke:
        args.items, args.hidden, args.batch, args.nnz = 500, 16, 32, 12.0
        args.rounds, args.warmup = 4, 1
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    B, H, N = args.batch, args.hidden, args.items

    batches = make_batches(n_batches=16, batch=B, items=N, nnz_mean=args.nnz, seed=args.seed)
    nnz = statistics.mean(int(b.indices.numel()) for b in batches)
    variants: dict[str, Step] = {
        "naive": NaiveStep(N, H),
        "lamina": LaminaStep(autoencoder(N, H, args.seed)),
        "lamina, LAMINA_NATIVE=0": LaminaStep(autoencoder(N, H, args.seed), native=False),
    }
    native = load_native() is not None
    same = {}
    for label, on in (("native", True), ("torch", False)):
        check = LaminaStep(autoencoder(N, H, args.seed + 1), native=on)
        same[label] = check_same_math(check, NaiveStep(N, H), batches[0])
        del check

    probes = gemm_probes(B, H, N, args.seed)
    probes.update(floor_probes(batches[0], H, N, args.seed))
    names = [*variants, *probes]
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for r in range(args.warmup + args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            batch = batches[r % len(batches)]
            c0, t0 = time.process_time(), time.perf_counter()
            if name in probes:
                probes[name]()
            else:
                variants[name](batch)
            elapsed = time.perf_counter() - t0
            if r >= args.warmup:
                wall[name].append(elapsed)
                cpu[name].append(time.process_time() - c0)
    total = time.perf_counter() - started

    gemm_flops = 3 * 2 * B * H * N
    step_flops = gemm_flops + 2 * 2 * nnz * H
    gemm_ms = {  # clock -> probe -> median ms
        c: {p: statistics.median(t[p]) * 1e3 for p in probes if not p.startswith("floor")}
        for c, t in (("wall", wall), ("cpu", cpu))
    }
    floor_parts = {  # clock -> part -> median ms
        c: {f: statistics.median(t[f"floor | {f}"]) * 1e3 for f in FLOOR}
        for c, t in (("wall", wall), ("cpu", cpu))
    }
    best = {  # clock -> gemm -> (implementation, ms)
        c: {
            gm: min(((p.split(" | ")[1], ms) for p, ms in d.items() if p.startswith(gm)),
                    key=lambda x: x[1])
            for gm in GEMMS
        }
        for c, d in gemm_ms.items()
    }  # fmt: skip
    rate = {c: gemm_flops / sum(ms for _, ms in b.values()) * 1e3 for c, b in best.items()}
    mkl_rate = {
        c: gemm_flops / sum(d[f"{gm} | mkl W(H,N)"] for gm in GEMMS) * 1e3
        for c, d in gemm_ms.items()
    }
    bf16_rate = {c: gemm_flops / d["bf16 (all three) | mm"] * 1e3 for c, d in gemm_ms.items()}
    bound_ms = {c: step_flops / r * 1e3 for c, r in rate.items()}
    # the forward writes and re-reads the logits: at least two (B, N) passes (activation, delta)
    floor_ms = {
        c: bound_ms[c] + d["adam"] + 2 * d["elementwise pass"] + d["sparse input layer"]
        for c, d in floor_parts.items()
    }
    rows = []
    for name in variants:
        row: dict[str, object] = {"variant": name}
        for clock, times in (("wall", wall), ("cpu", cpu)):
            ms = statistics.median(times[name]) * 1e3
            row[f"{clock}_ms"] = ms
            row[f"{clock}_steps_per_s"] = 1e3 / ms
            # per-round ratios (robust to the load drifting during the run)
            row[f"{clock}_speedup"] = statistics.median(
                n / v for n, v in zip(times["naive"], times[name], strict=True)
            )
            row[f"{clock}_x_bound"] = ms / bound_ms[clock]
            row[f"{clock}_x_floor"] = ms / floor_ms[clock]
        rows.append(row)
    result: dict[str, object] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "keep_freed_memory": kept,
        "native_kernels": native,
        "load_avg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "shape": {"B": B, "H": H, "N": N, "mean_nnz_per_batch": nnz, "nnz_per_row": nnz / B},
        "rounds": args.rounds,
        "same_math_check": same,
        "gemm_gflops_best_fp32": {c: r / 1e9 for c, r in rate.items()},
        "gemm_gflops_mkl_fp32": {c: r / 1e9 for c, r in mkl_rate.items()},
        "gemm_gflops_bf16": {c: r / 1e9 for c, r in bf16_rate.items()},
        "gemm_ms": gemm_ms,
        "best_fp32_gemm": best,
        "bound_ms": bound_ms,
        "bound_ms_mkl_only": {c: step_flops / r * 1e3 for c, r in mkl_rate.items()},
        "bound_gflop": step_flops / 1e9,
        "floor_parts_ms": floor_parts,
        "floor_ms": floor_ms,
        "rows": rows,
        "wall_s": total,
    }
    print(
        f"{result['date']} | {result['machine']} | torch {torch.__version__}, "
        f"{result['threads']} thread(s), keep_freed_memory={kept}, C kernels={native} | "
        f"load avg before/after {result['load_avg_before_after']}"
    )
    print(
        f"B={B} H={H} N={N}, mean nnz/row {nnz / B:.1f}; {args.rounds} interleaved rounds in "
        f"{total:.0f} s; same-math check: {same}"
    )
    print("\n| GEMM (B x H x N) | implementation | wall ms | CPU ms |\n|---|---|---|---|")
    for p in gemm_ms["cpu"]:
        gm, impl = p.split(" | ")
        print(f"| {gm} | {impl} | {gemm_ms['wall'][p]:.1f} | {gemm_ms['cpu'][p]:.1f} |")
    print(
        f"\nGEMM rate, best exact fp32 per GEMM ({', '.join(i for i, _ in best['cpu'].values())}"
        f" on CPU time): {rate['wall'] / 1e9:.1f} GFLOP/s wall, {rate['cpu'] / 1e9:.1f} GFLOP/s "
        f"CPU; MKL W(H,N) only: {mkl_rate['cpu'] / 1e9:.1f} CPU; bf16 (info): "
        f"{bf16_rate['cpu'] / 1e9:.1f} CPU. FLOP lower bound {step_flops / 1e9:.3f} GFLOP/step"
        f" = {bound_ms['wall']:.1f} ms wall, {bound_ms['cpu']:.1f} ms CPU (best fp32)"
    )
    print(
        "\n| variant | wall ms/step | CPU ms/step | steps/s (wall / CPU) | speed-up vs naive "
        "(wall / CPU) | x FLOP bound (wall / CPU) |\n|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['variant']} | {r['wall_ms']:.1f} | {r['cpu_ms']:.1f} | "
            f"{r['wall_steps_per_s']:.2f} / {r['cpu_steps_per_s']:.2f} | "
            f"{r['wall_speedup']:.2f}x / {r['cpu_speedup']:.2f}x | "
            f"{r['wall_x_bound']:.2f} / {r['cpu_x_bound']:.2f} |"
        )
    cpu_parts = floor_parts["cpu"]
    print(
        f"\nFloor of this pass structure (CPU ms): bound {bound_ms['cpu']:.1f} + Adam "
        f"{cpu_parts['adam']:.1f} + 2 x elementwise pass {cpu_parts['elementwise pass']:.1f} + "
        f"sparse input layer {cpu_parts['sparse input layer']:.1f} = {floor_ms['cpu']:.1f} ms = "
        f"{floor_ms['cpu'] / bound_ms['cpu']:.2f}x the bound; "
        + ", ".join(f"{r['variant']} {r['cpu_x_floor']:.2f}x the floor" for r in rows)
    )
    if args.cross_process:
        result["cross_process"] = cross_process(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
