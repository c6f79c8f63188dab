"""The ``predict`` and ``evaluate`` flows as typed functions (the CLI commands are thin wrappers).

``predict`` is DSSTNE's ``predict``: text input -> forward pass -> per-sample filter -> top-k ->
``sample<TAB>feature,score:...:`` lines, or (``dump_layer``) any layer's activations.
``evaluate`` ranks all real items for every row of a training dataset, excluding the row's own
items, and scores the rankings against a held-out dataset (``lamina.predict.metrics``), next to any
registered baseline (``lamina.predict.baselines``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from lamina.atomic import atomic_path
from lamina.config.enums import LayerKind
from lamina.data.index import load_index
from lamina.data.nc_read import DatasetFile, open_datasets
from lamina.data.schema import DatasetAttributes
from lamina.errors import DataError, NotSupportedError, UsageError, did_you_mean
from lamina.predict.baselines import BASELINES
from lamina.predict.engine import LayerBatch, run_layers
from lamina.predict.filters import FilterStats, load_filters
from lamina.predict.inputs import (
    check_columns,
    input_layer_for,
    read_dataset_rows,
    read_text_rows,
    scoring_layer,
)
from lamina.predict.loading import LoadedModel, load_model
from lamina.predict.metrics import DEFAULT_KS, evaluate_rankings, popularity_scores
from lamina.predict.recs import (
    DEFAULT_PRECISION,
    Csr,
    RecsWriter,
    labels_by_column,
    printf_format,
    top_k,
)

__all__ = [
    "DUMP_PRECISION",
    "EvaluateResult",
    "PredictResult",
    "evaluate",
    "predict",
]

DUMP_PRECISION = ".7g"  # float32 keeps ~7 significant digits: a text dump loses nothing visible
InputType = Literal["auto", "indicator", "analog"]
_PROGRESS_ROWS = 10_000  # progress=None shows a bar from this many rows on, on a terminal


@dataclass(frozen=True)
class PredictResult:
    """What ``predict`` did.

    Attributes:
        path: the file written (recommendations or the layer dump).
        samples: rows predicted (distinct samples of the input text).
        input_layer: the Input layer fed.
        layer: the layer ranked (or dumped).
        dumped: True when ``path`` holds activations instead of recommendations.
        analog: the input text was read with its values (else as indicators).
        unknown_features: input feature entries missing from the input index (dropped).
        unknown_labels: distinct input feature labels missing from the index.
        replaced_lines: input lines replaced by a later line of the same sample.
        filters: what loading the filter file found (None without ``-f``).
    """

    path: Path
    samples: int
    input_layer: str
    layer: str
    dumped: bool
    analog: bool
    unknown_features: int
    unknown_labels: int
    replaced_lines: int
    filters: FilterStats | None = None


def predict(
    network: str | os.PathLike[str],
    *,
    dataset: str,
    input_path: str | os.PathLike[str],
    input_index: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    output_index: str | os.PathLike[str] | None = None,
    filter_path: str | os.PathLike[str] | None = None,
    k: int = 100,
    batch: int = 1024,
    precision: str | None = None,
    layer: str | None = None,
    dump_layer: str | None = None,
    input_type: InputType = "auto",
    device: str = "cpu",
    progress: bool | None = None,
) -> PredictResult:
    """Top-``k`` recommendations per sample of a DSSTNE text file (DSSTNE's ``predict``).

    Args:
        network: the trained network file (``-n``).
        dataset: ``-d``: the Input layer reading ``dataset + "_input"`` (else ``dataset``).
        input_path: text input, ``sample<TAB>feature[,value]:...`` (``-r``).
        input_index: input feature index (``-i``); unknown features are dropped and counted.
        output_path: recommendations file (``-s``), or the dump file with ``dump_layer``
            (``.npy`` suffix: a (samples, units) float32 array in input order; else text lines
            ``sample<TAB>v1,v2,...``). Written atomically.
        output_index: output feature index (``-o``): column -> label; columns past it (the
            128-padding) are never recommended. Required unless ``dump_layer``.
        filter_path: DSSTNE filter file or folder (``-f``); see ``lamina.predict.filters``.
        k: recommendations per sample, any ``k >= 1``.
        batch: samples per forward pass (``-b``).
        precision: printf float format of scores (``-p``); default ``4.3f`` (``.7g`` for dumps).
        layer: the layer to rank (default ``Output``, else the only Output layer).
        dump_layer: write this layer's activations instead of recommendations.
        input_type: ``indicator`` (DSSTNE), ``analog`` (use the values), or ``auto``: analog when
            the network file records that the input dataset was analog, else indicator.
        device: torch device.
        progress: tqdm bar on stderr; None = on for large inputs on a terminal.

    Returns:
        A :class:`PredictResult`.

    Raises:
        UsageError: bad ``k``/``batch``/``precision``, unknown dataset or layer, no ``-o``.
        DataError: unreadable or malformed text, index or filter files; an index wider than
            its layer.
        CheckpointError: a missing or corrupt network file.

    Example:
        >>> predict("gl.nc", dataset="gl", input_path="ratings", input_index="features_input",
        ...         output_index="features_output", output_path="recs", filter_path="ratings",
        ...         k=10)  # doctest: +SKIP
    """
    if k < 1 or batch < 1:
        raise UsageError(f"-k and -b must be >= 1, found k={k}, b={batch}")
    if dump_layer is None and output_index is None:
        raise UsageError("missing -o <output feature index> (needed for recommendations)")
    if input_type not in ("auto", "indicator", "analog"):
        raise UsageError(f"input type must be one of [auto, indicator, analog]. Got {input_type!r}")
    fmt = precision or (DUMP_PRECISION if dump_layer else DEFAULT_PRECISION)
    printf_format(fmt)  # fail on a bad -p before any work
    model = load_model(network, device=device)
    config, geometry = model.file.config, model.network.geometry
    in_layer = input_layer_for(config, dataset)
    if dump_layer is not None:
        out_layer = scoring_layer(config, dump_layer, flag="--dump-layer")
    else:
        out_layer = scoring_layer(config, layer)
    analog = input_type == "analog" or (
        input_type == "auto" and _trained_on_analog(model, in_layer.dataset or "")
    )
    features = load_index(input_index)
    _check_index(features, geometry[in_layer.name].stride, input_index, in_layer.name)
    text = read_text_rows(input_path, features, analog=analog)
    result = PredictResult(
        path=Path(output_path),
        samples=len(text.samples),
        input_layer=in_layer.name,
        layer=out_layer.name,
        dumped=dump_layer is not None,
        analog=analog,
        unknown_features=text.unknown_features,
        unknown_labels=text.unknown_labels,
        replaced_lines=text.replaced_lines,
    )
    parts = run_layers(
        model,
        text.rows,
        input_layer=in_layer.name,
        layers=[out_layer.name],
        batch=batch,
        progress=_show_progress(progress, len(text.samples)),
    )
    if dump_layer is not None:
        units = geometry[out_layer.name].stride
        _dump(parts, text.samples, out_layer.name, units, output_path, fmt)
        return result
    index = load_index(output_index)  # type: ignore[arg-type]
    _check_index(index, geometry[out_layer.name].stride, output_index, out_layer.name)
    labels = labels_by_column(index)
    filters = None
    if filter_path is not None:
        filters = load_filters(filter_path, samples=text.samples, features=index)
    with RecsWriter(output_path, precision=fmt) as writer:
        for part in parts:
            rows = np.arange(part.start, part.stop)
            idx, val = top_k(
                part.activations[out_layer.name],
                k,
                n_real=len(labels),
                multiply=None if filters is None else filters.rows(rows),
            )
            writer.write(text.samples[part.start : part.stop], idx, val, labels)
    return replace(result, filters=None if filters is None else filters.stats)


def _check_index(index: dict[str, int], units: int, path: object, layer: str) -> None:
    """Raise ``DataError`` when a feature index addresses columns beyond its layer's units."""
    top = max(index.values(), default=-1)
    if top >= units:
        raise DataError(
            f"{path}: expected feature indices below {units} (the units of layer {layer!r}), "
            f"found {top}",
            hint="use the feature index the network was trained with",
        )


def _trained_on_analog(model: LoadedModel, dataset: str) -> bool:
    """True when the network file records ``dataset`` as non-Boolean (analog) training data.

    Looks for ``data_attributes`` (dataset name -> ``attributes`` bits) in the training state;
    files without it (and DSSTNE's) are read as indicators, as DSSTNE's predict always did.
    """
    state = model.file.training
    if state is None:
        return False
    bits: Any = getattr(state, "data_attributes", None)
    if bits is None:
        bits = state.optimizer_meta.get("data_attributes")
    if not isinstance(bits, dict) or dataset not in bits:
        return False
    return not int(bits[dataset]) & DatasetAttributes.BOOLEAN


def _show_progress(progress: bool | None, rows: int) -> bool:
    if progress is not None:
        return progress
    return rows >= _PROGRESS_ROWS and sys.stderr.isatty()


def _dump(
    parts: Iterator[LayerBatch],
    samples: list[str],
    layer: str,
    units: int,
    path: str | os.PathLike[str],
    fmt: str,
) -> None:
    """Write ``layer``'s activations: ``.npy`` (float32, input order) or text lines."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        with atomic_path(path) as tmp:
            shape = (len(samples), units)
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            for part in parts:
                array[part.start : part.stop] = part.activations[layer]
            array.flush()
            del array  # close the memory map before the rename
        return
    conv = printf_format(fmt)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for part in parts:
            _write_dump_lines(out, samples[part.start : part.stop], part.activations[layer], conv)


def _write_dump_lines(out: IO[str], samples: Sequence[str], values: np.ndarray, conv: str) -> None:
    out.write(
        "".join(
            f"{s}\t{','.join([conv % v for v in row])}\n"
            for s, row in zip(samples, values.tolist(), strict=True)
        )
    )


# -- evaluate -------------------------------------------------------------------------------------


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
    """

    ks: tuple[int, ...]
    n_items: int
    examples: int
    users: int
    input_dataset: str
    heldout_dataset: str
    layer: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form (what ``lamina evaluate --json`` prints)."""
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
        }


def evaluate(
    network: str | os.PathLike[str],
    *,
    train_path: str | os.PathLike[str],
    heldout_path: str | os.PathLike[str],
    ks: Sequence[int] = DEFAULT_KS,
    baselines: Sequence[str] = (),
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
        baselines: names from ``lamina.predict.baselines.BASELINES`` (e.g. ``"popularity"``).
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
        of different widths (not an item-to-item network).

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
    chunks = []
    for part in run_layers(
        model,
        train,
        input_layer=in_layer.name,
        layers=[out_layer.name],
        batch=batch,
        progress=_show_progress(progress, train.n_rows),
    ):
        exclude = train.select(slice(part.start, part.stop))
        idx, _ = top_k(part.activations[out_layer.name], k_max, n_real=n_items, exclude=exclude)
        chunks.append(idx)
    rankings = {"network": np.concatenate(chunks) if chunks else np.zeros((0, 1), np.int64)}
    for name in rankers:
        rankings[name] = BASELINES.get(name)(train, k_max, n_items=n_items)
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
