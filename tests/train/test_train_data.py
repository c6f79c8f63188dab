"""The trainer's data path: training streamed through ``Batches``' chunked (larger-than-memory)
path sees every example once per epoch and learns like the in-memory path; the held-out split is
served by global example ids."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_trainer import N_SAMPLES, autoencoder, quiet, sparse_rows, write_sparse

from lamina.config import load_config
from lamina.data.batches import Batch, Batches
from lamina.errors import DataError, UsageError
from lamina.train import data as train_data
from lamina.train.data import DataLoading
from lamina.train.loop import Stepper
from lamina.train.trainer import train

CHUNKED = DataLoading(memory_limit=0, chunk_examples=24, window_chunks=2)


def spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Batches], list[tuple[int, list[int]]]]:
    """Record the ``Batches`` the trainer builds and the (epoch, example ids) of every step."""
    made: list[Batches] = []
    steps: list[tuple[int, list[int]]] = []
    original_batches, original_step = train_data.Batches, Stepper.step

    def batches(*args: Any, **kwargs: Any) -> Batches:
        made.append(original_batches(*args, **kwargs))
        return made[-1]

    def step(self: Stepper, batch: Batch, *, epoch: int) -> Any:
        steps.append((epoch, batch.examples.tolist()))
        return original_step(self, batch, epoch=epoch)

    monkeypatch.setattr(train_data, "Batches", batches)
    monkeypatch.setattr(Stepper, "step", step)
    return made, steps


def fit(tmp_path: Path, name: str, loading: DataLoading | None, **options: Any) -> list[float]:
    rows = sparse_rows()
    inp = write_sparse(tmp_path / "in.nc", "gl_input", rows)
    out = write_sparse(tmp_path / "out.nc", "gl_output", rows)
    result = train(
        autoencoder(),
        inputs=inp,
        outputs=out,
        network_path=tmp_path / name,
        options=quiet(epochs=4, batch=32, alpha=0.5, seed=3, **options),
        loading=loading,
    )
    return [r.training_error for r in result.history]


def test_chunked_training_sees_every_example_once_and_learns_like_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, steps = spy(monkeypatch)
    chunked = fit(tmp_path, "chunked.nc", CHUNKED)
    assert len(made) == 1 and not made[0].in_memory
    for epoch in range(1, 5):
        seen = Counter(i for e, ids in steps if e == epoch for i in ids)
        assert seen == Counter(range(N_SAMPLES))  # each example exactly once
    sizes = [len(ids) for e, ids in steps if e == 1]
    assert sizes == [32] * 6 + [8]  # only the epoch's last minibatch is short
    made.clear()
    memory = fit(tmp_path, "memory.nc", None)
    assert made[0].in_memory
    assert chunked[-1] < 0.6 * chunked[0] and memory[-1] < 0.6 * memory[0]
    assert chunked[-1] == pytest.approx(memory[-1], rel=0.15)


def test_held_out_split_uses_global_example_ids_on_the_chunked_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, steps = spy(monkeypatch)
    fit(tmp_path, "gl.nc", CHUNKED, validation_fraction=0.25)
    training, held_out = made
    assert not training.in_memory and training.shuffle
    assert held_out.examples == 50 and not held_out.shuffle
    assert set(training.example_ids.tolist()).isdisjoint(held_out.example_ids.tolist())
    assert sorted([*training.example_ids, *held_out.example_ids]) == list(range(N_SAMPLES))
    first = sorted(i for e, ids in steps if e == 1 for i in ids)
    assert first == sorted(training.example_ids.tolist())
    assert np.all(np.diff(held_out.example_ids) > 0)


def test_a_layer_narrower_than_its_data_is_refused_naming_layer_dataset_and_widths(
    tmp_path: Path,
) -> None:
    rows = sparse_rows()
    inp = write_sparse(tmp_path / "in.nc", "gl_input", rows)
    out = write_sparse(tmp_path / "out.nc", "gl_output", rows)
    config = autoencoder()
    config["Layers"][2] = {**config["Layers"][2], "N": 100}  # the data are 128 wide
    with pytest.raises(DataError) as caught:
        train(config, inputs=inp, outputs=out, network_path=tmp_path / "gl.nc", options=quiet())
    message = str(caught.value)
    assert "'Output' has 100 units" in message and "'gl_output'" in message
    assert "at least 128" in message and not (tmp_path / "gl.nc").exists()


def test_a_validation_fraction_leaving_nothing_to_train_on_is_a_usage_error(
    tmp_path: Path,
) -> None:
    rows = sparse_rows(n=4)
    inp = write_sparse(tmp_path / "in.nc", "gl_input", rows)
    data = train_data.open_training_data([inp])
    with pytest.raises(UsageError, match=r"validation_fraction 0.9 leaves no training examples"):
        train_data.split_examples(
            data,
            load_config(autoencoder(Layers=autoencoder()["Layers"][:1])).resolve(data.widths()),
            validation=None,
            validation_fraction=0.9,
            batch=2,
            seed=1,
            loading=DataLoading(),
        )


def test_the_held_out_split_depends_only_on_the_seed(tmp_path: Path) -> None:
    inp = write_sparse(tmp_path / "in.nc", "gl_input", sparse_rows())
    data = train_data.open_training_data([inp])
    config = load_config(autoencoder(Layers=autoencoder()["Layers"][:1])).resolve(data.widths())

    def held_out(seed: int) -> list[int]:
        _, valid, batches = train_data.split_examples(
            data,
            config,
            validation=None,
            validation_fraction=0.3,
            batch=8,
            seed=seed,
            loading=DataLoading(),
        )
        assert valid is data and batches is not None
        return batches.example_ids.tolist()

    assert held_out(5) == held_out(5) and len(held_out(5)) == 60
    assert held_out(5) != held_out(6)
