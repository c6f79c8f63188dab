"""Verification of an export: the ONNX models against the torch fp32 network on real rows.

Measured on the same rows: max absolute difference of the scored layer (ORT fp32 vs torch, and
int8 vs torch), top-k agreement (mean over rows of ``|top-k(fp32) & top-k(int8)| / k``), accuracy
of both (classification: argmax against the label's argmax), file sizes, and latency of one batch
(median of a few runs, one thread) for torch fp32, ORT fp32 and ORT int8.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from lamina.nn import Network

__all__ = ["FP32_TOLERANCE", "VerifyReport", "topk_agreement", "verify"]

FP32_TOLERANCE = 1e-4  # ORT fp32 vs torch, relative to the largest |activation|: exporter bugs
LATENCY_BATCH = 256
LATENCY_RUNS = 5


@dataclass(frozen=True)
class VerifyReport:
    """What verification measured (sizes in bytes, latencies in ms per batch of ``latency_rows``).

    ``accuracy_*`` are percentages (classification only); ``*_int8`` are None for an fp32 export.
    ``failures`` lists every bound that was exceeded; ``passed`` is true when it is empty.
    """

    layer: str
    task: str
    rows: int
    topk: int
    fp32_max_abs_diff: float
    max_abs_diff: float
    topk_agreement: float
    accuracy_fp32: float | None
    accuracy_int8: float | None
    size_fp32: int
    size_int8: int | None
    latency_rows: int
    latency_torch_ms: float
    latency_fp32_ms: float
    latency_int8_ms: float | None
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every bound held."""
        return not self.failures

    @property
    def accuracy_drop(self) -> float | None:
        """fp32 accuracy minus int8 accuracy, in points (None without labels or int8)."""
        if self.accuracy_fp32 is None or self.accuracy_int8 is None:
            return None
        return self.accuracy_fp32 - self.accuracy_int8

    def to_dict(self) -> dict[str, object]:
        """JSON-native form (stored in the model's ``lamina.verification`` metadata)."""
        out = asdict(self)
        out["failures"] = list(self.failures)
        return out

    def table(self) -> str:
        """A small text table for the CLI."""
        int8 = self.size_int8 is not None

        def cell(value: float | int | None, fmt: str) -> str:
            return "-" if value is None else format(value, fmt)

        head = f"{'':<26}{'torch fp32':>12}{'onnx fp32':>12}{'onnx int8':>12}"
        lines = [
            f"verified layer {self.layer!r} ({self.task}) on {self.rows} rows",
            head,
            f"{'size (MB)':<26}{'-':>12}{self.size_fp32 / 1e6:>12.3f}"
            f"{cell(None if self.size_int8 is None else self.size_int8 / 1e6, '.3f'):>12}",
            f"{f'latency (ms, {self.latency_rows} rows)':<26}{self.latency_torch_ms:>12.2f}"
            f"{self.latency_fp32_ms:>12.2f}{cell(self.latency_int8_ms, '.2f'):>12}",
            f"{'max |diff| vs torch':<26}{0.0:>12.1e}{self.fp32_max_abs_diff:>12.1e}"
            f"{cell(self.max_abs_diff if int8 else None, '.1e'):>12}",
            f"{f'top-{self.topk} agreement':<26}{1.0:>12.4f}{'':>12}{self.topk_agreement:>12.4f}",
        ]
        if self.accuracy_fp32 is not None:
            lines.append(
                f"{'accuracy (%)':<26}{self.accuracy_fp32:>12.2f}{'':>12}"
                f"{cell(self.accuracy_int8, '.2f'):>12}"
            )
        lines.append("verification " + ("passed" if self.passed else "FAILED"))
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)


def topk_agreement(reference: np.ndarray, other: np.ndarray, k: int) -> float:
    """Mean over rows of ``|top-k(reference) & top-k(other)| / k`` (k capped at the units).

    Args:
        reference: (R, N) scores.
        other: (R, N) scores.
        k: list length.
    """
    k = min(k, reference.shape[1])
    a = np.argpartition(-reference, k - 1, axis=1)[:, :k]
    b = np.argpartition(-other, k - 1, axis=1)[:, :k]
    hits = [np.intersect1d(x, y).size for x, y in zip(a, b, strict=True)]
    return float(np.mean(hits) / k) if hits else 1.0


def verify(
    network: Network,
    *,
    layer: str,
    inputs: Mapping[str, np.ndarray],
    fp32: bytes,
    int8: bytes | None,
    task: str,
    topk: int,
    labels: np.ndarray | None = None,
    max_topk_disagreement: float = 0.01,
    max_accuracy_drop: float = 0.5,
    sparse: Sequence[str] = (),
) -> VerifyReport:
    """Compare the ONNX model(s) with the torch network on ``inputs``.

    Args:
        network: the fp32 network (any mode; evaluated in eval mode).
        layer: the scored layer (a graph output of both models).
        inputs: Input layer name -> (R, units) float32 rows.
        fp32: the fp32 ONNX model, serialized.
        int8: the int8 ONNX model, serialized, or None.
        task: ``ranking`` or ``classification``.
        topk: k of the agreement.
        labels: (R, units) targets of ``layer`` for accuracy (classification), or None.
        max_topk_disagreement: bound on ``1 - agreement`` (ranking).
        max_accuracy_drop: bound on the accuracy drop in points (classification).
        sparse: Input layers the models take in the sparse form (``indices_``/``values_``; the
            rows are padded from ``inputs``); the others take ``dense_<layer>``.

    Returns:
        The report; ``report.failures`` names the exceeded bounds with their numbers.
    """
    feeds = onnx_feeds(inputs, sparse)
    rows = min(len(v) for v in feeds.values())
    reference = _torch_scores(network, inputs, layer)
    s32 = _session(fp32)
    ort32 = np.concatenate([s32.run([layer], _slice(feeds, i))[0] for i in _chunks(rows)])
    scale = max(1.0, float(np.abs(reference).max(initial=0.0)))
    fp32_diff = float(np.abs(ort32 - reference).max(initial=0.0))
    failures = []
    if fp32_diff > FP32_TOLERANCE * scale:
        failures.append(
            f"ONNX fp32 differs from torch by {fp32_diff:.3g} (expected <= "
            f"{FP32_TOLERANCE * scale:.3g}): an export bug, please report it"
        )
    s8 = _session(int8) if int8 is not None else None
    scores = ort32
    if s8 is not None:
        scores = np.concatenate([s8.run([layer], _slice(feeds, i))[0] for i in _chunks(rows)])
    agreement = topk_agreement(reference, scores, topk)
    acc32 = acc8 = None
    if labels is not None:
        truth = labels[:rows].argmax(axis=1)
        acc32 = 100.0 * float(np.mean(reference.argmax(axis=1) == truth))
        acc8 = 100.0 * float(np.mean(scores.argmax(axis=1) == truth))
    if int8 is not None and task == "ranking" and 1.0 - agreement > max_topk_disagreement:
        failures.append(
            f"top-{topk} agreement {agreement:.4f} is below {1.0 - max_topk_disagreement:.4f} "
            f"(--max-topk-disagreement {max_topk_disagreement})"
        )
    if acc32 is not None and acc8 is not None and acc32 - acc8 > max_accuracy_drop:
        failures.append(
            f"accuracy drops {acc32 - acc8:.2f} points ({acc32:.2f}% -> {acc8:.2f}%), more than "
            f"--max-accuracy-drop {max_accuracy_drop}"
        )
    bench = _slice(feeds, slice(0, min(rows, LATENCY_BATCH)))
    torch_inputs = {k: v[: min(rows, LATENCY_BATCH)] for k, v in inputs.items()}
    with _one_thread():
        t_torch = _median_ms(lambda: _torch_scores(network, torch_inputs, layer))
        s32_1 = _session(fp32, threads=1)
        t32 = _median_ms(lambda: s32_1.run([layer], bench))
        t8 = None
        if int8 is not None:
            s8_1 = _session(int8, threads=1)
            t8 = _median_ms(lambda: s8_1.run([layer], bench))
    return VerifyReport(
        layer=layer,
        task=task,
        rows=rows,
        topk=min(topk, reference.shape[1]),
        fp32_max_abs_diff=fp32_diff,
        max_abs_diff=float(np.abs(scores - reference).max(initial=0.0)),
        topk_agreement=agreement,
        accuracy_fp32=acc32,
        accuracy_int8=acc8 if int8 is not None else None,
        size_fp32=len(fp32),
        size_int8=None if int8 is None else len(int8),
        latency_rows=min(rows, LATENCY_BATCH),
        latency_torch_ms=t_torch,
        latency_fp32_ms=t32,
        latency_int8_ms=t8,
        failures=tuple(failures),
    )


def onnx_feeds(
    inputs: Mapping[str, np.ndarray], sparse: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """ONNX feeds for Input layer -> (R, units) dense rows: ``dense_<layer>`` as they are, and for
    the layers in ``sparse`` ``indices_<layer>``/``values_<layer>`` (R, L) padded to the row
    with the most non-zeros."""
    from lamina.export.metadata import LayerPort
    from lamina.export.onnx_graph import input_names
    from lamina.export.runtime import feeds_for

    ports = {}
    for layer, x in inputs.items():
        form = "sparse" if layer in sparse else "dense"
        names = input_names(layer, form)
        ports[layer] = LayerPort(
            names[0], x.shape[1], form=form, values=names[-1] if form == "sparse" else ""
        )
    return feeds_for(ports, inputs)


def _chunks(rows: int, size: int = 1024) -> list[slice]:
    return [slice(i, min(rows, i + size)) for i in range(0, rows, size)]


def _slice(feeds: Mapping[str, np.ndarray], part: slice) -> dict[str, np.ndarray]:
    return {k: v[part] for k, v in feeds.items()}


def _torch_scores(network: Network, inputs: Mapping[str, np.ndarray], layer: str) -> np.ndarray:
    was_training = network.training
    network.eval()
    rows = min(len(v) for v in inputs.values())
    out = []
    with torch.inference_mode():
        for part in _chunks(rows):
            x = {k: torch.from_numpy(np.ascontiguousarray(v[part])) for k, v in inputs.items()}
            a = network(x).activations[layer]
            out.append(a.reshape(a.shape[0], -1).float().numpy())
    network.train(was_training)
    return np.concatenate(out)


def _session(model: bytes, *, threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _median_ms(fn: Callable[[], object]) -> float:
    fn()  # warm-up
    times = []
    for _ in range(LATENCY_RUNS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


class _one_thread:
    """Run torch on one thread inside the block (restores the previous count)."""

    def __enter__(self) -> None:
        self._n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self._n)
