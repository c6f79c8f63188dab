"""The trainer's data files: which datasets the ``-i``/``-o`` files hold, and their minibatches.

Minibatches come from :class:`lamina.data.batches.Batches` (in memory when the data fit under
``DataLoading.memory_limit``, else streamed from disk in chunks); this module only opens the files,
checks the config's ``DataSet`` names against them and builds ``Batches`` over a subset of examples
(the training or held-out split). Sparse datasets stay in CSR form: the model densifies at most one
minibatch where it must.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.config import NetworkConfig
from lamina.config.enums import LayerKind
from lamina.data.batches import Batches
from lamina.data.nc_read import DatasetFile, open_datasets
from lamina.errors import DataError, UsageError, did_you_mean
from lamina.nn.network import Network

__all__ = [
    "DataLoading",
    "TrainingData",
    "check_layer_widths",
    "dataset_dims",
    "open_training_data",
    "split_examples",
]


@dataclass(frozen=True)
class DataLoading:
    """How ``Batches`` holds the data (see :mod:`lamina.data.batches`).

    Attributes:
        memory_limit: bytes of data under which everything is loaded once and each epoch is a
            full permutation; larger data are streamed in chunks (block shuffle).
        chunk_examples: examples per chunk (and most file rows per read) when streaming.
        window_chunks: chunks shuffled together when streaming.
    """

    memory_limit: int = 1 << 30  # 1 GB: DSSTNE held everything on the GPU; we stream past this
    chunk_examples: int = 65536
    window_chunks: int = 4


def dataset_dims(ds: DatasetFile) -> tuple[int, ...]:
    """``(width,)``, ``(width, height)`` or ``(width, height, length)`` as stored."""
    if ds.length > 1:
        return (ds.width, ds.height, ds.length)
    return (ds.width,) if ds.height == 1 else (ds.width, ds.height)


class TrainingData:
    """Aligned datasets of some files (one example = one row of each), not yet read.

    Args:
        datasets: dataset name -> its file.
        sources: the files, for messages.

    Raises:
        DataError: no datasets, or they disagree on the number of examples.
    """

    def __init__(self, datasets: dict[str, DatasetFile], *, sources: str) -> None:
        counts = {name: ds.examples for name, ds in datasets.items()}
        if not counts:
            raise DataError(f"{sources}: expected datasets to train on, found none")
        if len(set(counts.values())) > 1:
            raise DataError(
                f"{sources}: all datasets must have the same number of examples (one row per "
                f"example, aligned). Got {counts}.",
                hint="generate every file with the same -s samples index",
            )
        self.datasets = datasets
        self.examples = next(iter(counts.values()))
        self.sources = sources

    def widths(self) -> dict[str, tuple[int, ...]]:
        """Dataset name -> dims, for ``NetworkConfig.resolve``."""
        return {name: dataset_dims(ds) for name, ds in self.datasets.items()}

    def require(self, names: Sequence[str], *, where: str) -> None:
        """Raise DataError unless every dataset in ``names`` is present."""
        held = sorted(self.datasets)
        for name in names:
            if name not in self.datasets:
                raise DataError(
                    f"{self.sources}: the config's {where} reads dataset {name!r}, but the data "
                    f"files hold {held}." + did_you_mean(name, held)
                )

    def batches(
        self,
        names: Sequence[str],
        *,
        batch_size: int,
        seed: int,
        shuffle: bool,
        examples: np.ndarray | None = None,
        loading: DataLoading | None = None,
    ) -> Batches:
        """Minibatches of datasets ``names`` over ``examples`` (None: all), in memory or streamed.

        Epoch ``e`` of the result is a pure function of ``(seed, e)``; see
        :meth:`Batches.iter_epoch` for resuming in the middle of one.
        """
        loading = loading or DataLoading()
        return Batches(
            {name: self.datasets[name] for name in dict.fromkeys(names)},
            batch_size=batch_size,
            examples=examples,
            shuffle=shuffle,
            seed=seed,
            chunk_examples=loading.chunk_examples,
            window_chunks=loading.window_chunks,
            memory_limit=loading.memory_limit,
        )


def open_training_data(
    paths: Sequence[str | os.PathLike[str]], *, names: Sequence[str] | None = None
) -> TrainingData:
    """Open the datasets of ``paths`` (``-i`` and ``-o`` may be the same file); no rows are read.

    Args:
        paths: netCDF dataset files; a dataset name seen twice is taken from its first file.
        names: only these datasets (None: all).

    Returns:
        The aligned datasets.

    Raises:
        UsageError: a file does not exist.
        DataError: a file is not a dataset file, a name in ``names`` is missing, or the datasets
            disagree on the number of examples.
    """
    datasets: dict[str, DatasetFile] = {}
    available: list[str] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        if not path.is_file():
            raise UsageError(f"data file {str(path)!r} does not exist.")
        for ds in open_datasets(path):
            available.append(ds.name)
            if ds.name in datasets or (names is not None and ds.name not in names):
                continue
            datasets[ds.name] = ds
    sources = ", ".join(str(Path(p)) for p in paths)
    for name in names or []:
        if name not in datasets:
            raise DataError(
                f"{sources}: the config's DataSet {name!r} is not in the data files, which hold "
                f"{sorted(set(available))}." + did_you_mean(name, available)
            )
    return TrainingData(datasets, sources=sources)


def split_examples(
    data: TrainingData,
    config: NetworkConfig,
    *,
    validation: Sequence[str | os.PathLike[str]] | None,
    validation_fraction: float | None,
    batch: int,
    seed: int,
    loading: DataLoading,
) -> tuple[Batches, TrainingData | None, Batches | None]:
    """Training batches, and the validation data with its batches (None: no validation).

    Args:
        data: the training files.
        config: the network (its Input and Output layers' datasets are batched; its
            ``ShuffleIndices`` shuffles the training batches).
        validation: separate validation files (``--validation``), or None.
        validation_fraction: else hold out this share of ``data``'s examples: a random subset
            seeded by ``seed`` (the same on resume); the training batches serve the rest, by their
            global example ids. None: no validation.
        batch: minibatch size; seed: the run's seed; loading: in memory or streamed.

    Raises:
        UsageError: the fraction leaves no training examples.
        DataError: a validation file lacks a dataset the network needs.
    """
    kinds = (LayerKind.INPUT, LayerKind.OUTPUT)
    names = sorted({str(lay.dataset) for lay in config.layers if lay.kind in kinds})

    def batches(source: TrainingData, ids: np.ndarray | None, *, shuffle: bool) -> Batches:
        return source.batches(
            names, batch_size=batch, seed=seed, shuffle=shuffle, examples=ids, loading=loading
        )

    shuffle = config.shuffle_indices
    if validation:
        valid = open_training_data(list(validation))
        valid.require(names, where="DataSet (validation)")
        return batches(data, None, shuffle=shuffle), valid, batches(valid, None, shuffle=False)
    if validation_fraction is None:
        return batches(data, None, shuffle=shuffle), None, None
    n_valid = max(1, round(data.examples * validation_fraction))
    if n_valid >= data.examples:
        raise UsageError(
            f"validation_fraction {validation_fraction} leaves no training examples "
            f"(of {data.examples})."
        )
    perm = np.random.default_rng([seed, 0x56414C]).permutation(data.examples)
    return (
        batches(data, np.sort(perm[n_valid:]), shuffle=shuffle),
        data,
        batches(data, np.sort(perm[:n_valid]), shuffle=False),
    )


def check_layer_widths(network: Network, data: TrainingData) -> None:
    """DSSTNE's LoadDataSets rule: an Input or Output layer is at least as wide as its sparse
    dataset, and exactly as wide as a dense one.

    Raises:
        DataError: naming the layer, its width, the dataset and the width it needs.
    """
    for lay in network.config.layers:
        if lay.kind not in (LayerKind.INPUT, LayerKind.OUTPUT):
            continue
        ds = data.datasets[str(lay.dataset)]
        units = network.geometry[lay.name].stride
        if units < ds.stride or (not ds.is_sparse and units != ds.stride):
            need = "at least" if ds.is_sparse else "exactly"
            raise DataError(
                f"layer {lay.name!r} has {units} units but its dataset {ds.name!r} is "
                f"{ds.stride} wide; it needs {need} {ds.stride}.",
                hint='set "N": "auto" to size the layer from the data',
            )
