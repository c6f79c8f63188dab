"""``evaluate``: ranking metrics of a network (and registered baselines) on held-out data.

Every row of a training dataset is fed to the network; all real items except the row's own are
ranked (``lamina.predict.recs.top_k`` with ``exclude``); the held-out dataset (same samples, same
order) holds the relevant items; ``lamina.predict.metrics.evaluate_rankings`` scores the rankings.
Baselines come from the ``lamina.predict.baselines.BASELINES`` registry and are scored the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina.config.enums import LayerKind
from lamina.data.index import load_index
from lamina.data.nc_read import DatasetFile, open_datasets
from lamina.errors import DataError, NotSupportedError, UsageError, did_you_mean
from lamina.predict.baselines import BASELINES
from lamina.predict.engine import run_layers, show_progress
from lamina.predict.inputs import check_columns, read_dataset_rows, scoring_layer
from lamina.predict.loading import load_model
from lamina.predict.metrics import DEFAULT_KS, evaluate_rankings, popularity_scores
from lamina.predict.recs import Csr, labels_by_column, top_k

__all__ = ["EvaluateResult", "evaluate"]


@dataclass(frozen=True)
class EvaluateResult:
    """Ranking metrics of a network (and baselines) on held-out data.

    Attributes:
        ks: the cut-offs.
        n_items: real items ranked (columns ``0..n_items-1``).
        examples: rows of the training and held-out datasets.
        users: rows with at least one held-out item (the rows averaged over).
        input_dataset: the training dataset fed to the network.
        heldout_dataset: the held-out dataset.
        layer: the ranked layer.
        metrics: ranker name (``"network"``, then each baseline) -> metric name -> value (see
            ``lamina.predict.metrics.evaluate_rankings``).
        baseline_details: baseline name -> what it chose (e.g. EASE's ``lambda``).
    """

    ks: tuple[int, ...]
    n_items: int
    examples: int
    users: int
    input_dataset: str
    heldout_dataset: str
    layer: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline_details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form (what ``lamina evaluate --json`` prints); ``"baselines"`` (what each
        baseline chose, e.g. EASE's λ) only when a baseline reports something."""
        return {
            "ks": list(self.ks),
            "n_items": self.n_items,
            "examples": self.examples,
            "users": self.users,
            "users_skipped": self.examples - self.users,
            "input_dataset": self.input_dataset,
            "heldout_dataset": self.heldout_dataset,
            "layer": self.layer,
            "metrics": {name: dict(values) for name, values in self.metrics.items()},
        } | (
            {"baselines": {name: dict(v) for name, v in self.baseline_details.items()}}
            if self.baseline_details
            else {}
        )


def evaluate(
    network: str | os.PathLike[str],
    *,
    train_path: str | os.PathLike[str],
    heldout_path: str | os.PathLike[str],
    ks: Sequence[int] = DEFAULT_KS,
    baselines: Sequence[str] = (),
    baseline_options: Mapping[str, Mapping[str, Any]] | None = None,
    output_index: str | os.PathLike[str] | None = None,
    layer: str | None = None,
    batch: int = 1024,
    device: str = "cpu",
    progress: bool | None = None,
) -> EvaluateResult:
    """Precision, recall, NDCG, coverage and popularity share at each k (``lamina evaluate``).

    Every row of the training dataset is the network's input; all real items except the row's own
    are ranked; the held-out dataset (same samples, same order) holds the relevant items.

    Args:
        network: the trained network file.
        train_path: netCDF file with the Input layer's dataset (rows = users).
        heldout_path: netCDF file of held-out items: the dataset named like the ranked layer's
            ``DataSet``, else like the input's, else its only dataset.
        ks: cut-offs.
        baselines: names from ``lamina.predict.baselines.BASELINES`` (``"popularity"``,
            ``"ease"``); they are fitted on the training rows before the network runs, so a
            refused baseline fails fast.
        baseline_options: baseline name -> keyword options, e.g. ``{"ease": {"lam": 500.0}}``.
        output_index: feature index of the items; its size is ``n_items``. Default: the highest
            item index in either dataset, plus one.
        layer: layer to rank (default ``Output``, else the only Output layer).
        batch: rows per forward pass.
        device: torch device.
        progress: tqdm bar on stderr; None = on for large inputs on a terminal.

    Returns:
        An :class:`EvaluateResult`.

    Raises:
        UsageError: bad ``ks`` or baseline names. DataError: datasets missing or misaligned
        (different example counts), no held-out items. NotSupportedError: input and ranked layer
        of different widths (not an item-to-item network). ModelError: EASE's matrices exceed its
        memory budget.

    Example:
        >>> r = evaluate("gl.nc", train_path="train.nc", heldout_path="test.nc",
        ...              baselines=["popularity"])  # doctest: +SKIP
        >>> r.metrics["network"]["ndcg@10"]  # doctest: +SKIP
    """
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1 or batch < 1:
        raise UsageError(f"-k values and -b must be positive integers, found k={list(ks)}")
    rankers = [BASELINES.canonical(name, path="--baselines") for name in baselines]
    model = load_model(network, device=device)
    config = model.file.config
    inputs = [lay for lay in config.layers if lay.kind == LayerKind.INPUT]
    if len(inputs) != 1:
        raise NotSupportedError(
            f"evaluate feeds one Input layer; the network has {[x.name for x in inputs]}"
        )
    in_layer, out_layer = inputs[0], scoring_layer(config, layer)
    geometry = model.network.geometry
    if geometry[in_layer.name].stride != geometry[out_layer.name].stride:
        raise NotSupportedError(
            f"evaluate ranks the items a user already has; Input layer {in_layer.name!r} has "
            f"{geometry[in_layer.name].stride} units but layer {out_layer.name!r} has "
            f"{geometry[out_layer.name].stride}: expected one item space (an autoencoder)"
        )
    train_ds = _pick(train_path, [in_layer.dataset], "training")
    held_ds = _pick(heldout_path, [out_layer.dataset, in_layer.dataset], "held-out")
    if train_ds.examples != held_ds.examples:
        raise DataError(
            f"{heldout_path}: expected the {train_ds.examples} examples of {train_path} "
            f"(dataset {train_ds.name!r}) in the same order, found {held_ds.examples} "
            f"(dataset {held_ds.name!r})",
            hint="generate both files with the same -s samples index",
        )
    train, held = read_dataset_rows(train_ds), read_dataset_rows(held_ds)
    units = geometry[out_layer.name].stride
    check_columns(train, units, what=f"{train_path} ({train_ds.name})")
    check_columns(held, units, what=f"{heldout_path} ({held_ds.name})")
    n_items = _n_items(output_index, train, held, units)
    k_max = max(ks)
    options = {
        BASELINES.canonical(n, path="baseline_options"): dict(v)
        for n, v in (baseline_options or {}).items()
    }
    rankings: dict[str, np.ndarray] = {}
    details: dict[str, dict[str, Any]] = {}
    for name in rankers:
        details[name] = {}
        rankings[name] = BASELINES.get(name)(
            train, k_max, n_items=n_items, details=details[name], **options.get(name, {})
        )
    chunks = []
    for part in run_layers(
        model,
        train,
        input_layer=in_layer.name,
        layers=[out_layer.name],
        batch=batch,
        progress=show_progress(progress, train.n_rows),
    ):
        exclude = train.select(slice(part.start, part.stop))
        idx, _ = top_k(part.activations[out_layer.name], k_max, n_real=n_items, exclude=exclude)
        chunks.append(idx)
    ranked = np.concatenate(chunks) if chunks else np.zeros((0, 1), np.int64)
    rankings = {"network": ranked, **rankings}
    popularity = popularity_scores(train, n_items)
    metrics = {
        name: evaluate_rankings(topk, held, ks, n_items=n_items, item_popularity=popularity)
        for name, topk in rankings.items()
    }
    users = int(metrics["network"].pop("users"))
    for values in metrics.values():
        values.pop("users", None)
        values.pop("users_skipped", None)
    return EvaluateResult(
        ks=ks,
        n_items=n_items,
        examples=train.n_rows,
        users=users,
        input_dataset=train_ds.name,
        heldout_dataset=held_ds.name,
        layer=out_layer.name,
        metrics=metrics,
        baseline_details={name: values for name, values in details.items() if values},
    )


def _pick(path: str | os.PathLike[str], names: list[str | None], what: str) -> DatasetFile:
    """The first dataset of ``path`` named in ``names``, else its only dataset."""
    datasets = open_datasets(path)
    for name in names:
        for ds in datasets:
            if name is not None and ds.name == name:
                return ds
    if len(datasets) == 1:
        return datasets[0]
    wanted = [n for n in names if n]
    found = [ds.name for ds in datasets]
    raise DataError(
        f"{path}: expected the {what} dataset {wanted[0] if wanted else ''!r}, found datasets "
        f"{found}.{did_you_mean(wanted[0], found) if wanted else ''}"
    )


def _n_items(index: str | os.PathLike[str] | None, train: Csr, held: Csr, units: int) -> int:
    if index is not None:
        labels = labels_by_column(load_index(index))
        if len(labels) > units:
            raise DataError(
                f"{index}: expected feature indices below {units} (the ranked layer's units), "
                f"found {len(labels) - 1}"
            )
        return len(labels)
    top = max((int(c.indices.max()) for c in (train, held) if c.nnz), default=-1)
    return top + 1
