"""Torch inference: rows of input features -> activations of chosen layers, batch by batch.

This is the forward half of DSSTNE's ``NNRecsGenerator::generateRecs`` (and of the layer dump that
DSSTNE users asked for, issue 129): no dropout, no denoising, batch norm with running statistics,
no gradients. Sparse rows go in as :class:`~lamina.data.batch.SparseBatch` (the network's
``embedding_bag`` path), never densified. Ranking, filtering and writing are numpy code elsewhere
(``lamina.predict.recs``), shared with the ONNX Runtime engine.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lamina.config.enums import LayerKind
from lamina.config.model import NetworkConfig
from lamina.data.batch import SparseBatch
from lamina.errors import NotSupportedError, UsageError, did_you_mean
from lamina.predict.loading import LoadedModel
from lamina.predict.recs import Csr

__all__ = ["LayerBatch", "progress_bar", "run_layers", "show_progress"]

PROGRESS_ROWS = 10_000  # progress=None shows a bar from this many rows on, on a terminal


@dataclass(frozen=True)
class LayerBatch:
    """Activations of one batch of rows.

    Attributes:
        start: index of the batch's first row.
        stop: one past its last row.
        activations: layer name -> (stop - start, units) float32 numpy array (C-contiguous; conv
            layers flattened in torch's ``(C, *spatial)`` order).
    """

    start: int
    stop: int
    activations: dict[str, np.ndarray]


def run_layers(
    model: LoadedModel,
    rows: Csr,
    *,
    input_layer: str,
    layers: Sequence[str],
    batch: int = 1024,
    progress: bool = False,
) -> Iterator[LayerBatch]:
    """Forward ``rows`` through the network in batches and yield the activations of ``layers``.

    Args:
        model: a loaded network (see :func:`lamina.predict.loading.load_model`).
        rows: R rows of input feature indices (values = analog inputs, else indicators = 1).
        input_layer: the Input layer the rows feed; it must be the network's only Input layer.
        layers: non-input layers whose activations to return.
        batch: rows per forward pass.
        progress: show a tqdm bar on stderr.

    Yields:
        One :class:`LayerBatch` per ``batch`` rows, in order.

    Raises:
        UsageError: an unknown or input layer in ``layers``, or ``batch < 1``.
        NotSupportedError: the network has more than one Input layer.
    """
    net = model.network
    _check(net.config, input_layer, layers)
    if batch < 1:
        raise UsageError(f"batch size must be >= 1, found {batch}")
    width = net.geometry[input_layer].stride
    with progress_bar(rows.n_rows, enabled=progress, unit="row") as bar, torch.inference_mode():
        for start in range(0, rows.n_rows, batch):
            stop = min(rows.n_rows, start + batch)
            x = _sparse_batch(rows, start, stop, width, model.device)
            out = net({input_layer: x}).activations
            acts = {
                name: out[name].reshape(stop - start, -1).float().cpu().numpy() for name in layers
            }
            bar.update(stop - start)
            yield LayerBatch(start, stop, acts)


def _check(config: NetworkConfig, input_layer: str, layers: Sequence[str]) -> None:
    all_layers = config.layers
    inputs = [lay.name for lay in all_layers if lay.kind == LayerKind.INPUT]
    if inputs != [input_layer]:
        raise NotSupportedError(
            f"the network has Input layers {inputs}; predict and evaluate feed exactly one "
            f"({input_layer!r}), as DSSTNE's predict did"
        )
    others = [lay.name for lay in all_layers if lay.kind != LayerKind.INPUT]
    for name in layers:
        if name not in others:
            raise UsageError(
                f"layer must be a non-input layer of the network {others}. Got {name!r}."
                + did_you_mean(name, others)
            )


def _sparse_batch(
    rows: Csr, start: int, stop: int, width: int, device: torch.device
) -> SparseBatch:
    e0, e1 = int(rows.indptr[start]), int(rows.indptr[stop])
    offsets = torch.from_numpy(rows.indptr[start : stop + 1] - e0)
    indices = torch.from_numpy(rows.indices[e0:e1])
    values = None if rows.values is None else torch.from_numpy(rows.values[e0:e1])
    return SparseBatch(indices, offsets, values, width).to(device)


class _NoBar:
    def update(self, n: int) -> None:
        """Do nothing."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def show_progress(progress: bool | None, rows: int) -> bool:
    """Resolve a ``progress`` option: None = on for ``PROGRESS_ROWS`` rows or more on a terminal."""
    if progress is not None:
        return progress
    return rows >= PROGRESS_ROWS and sys.stderr.isatty()


def progress_bar(total: int, *, enabled: bool, unit: str = "row") -> Any:
    """A tqdm bar on stderr (a no-op object when disabled or tqdm is missing)."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return _NoBar()
    return tqdm(total=total, unit=unit, unit_scale=True, file=sys.stderr, leave=False)
