"""``lamina.predict.pipeline``: predict and evaluate against a numpy reference forward pass."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_world import N_ITEMS, World, build_world, reference_lines, write_text

from lamina.data.index import file_sha256
from lamina.errors import ConfigError, DataError, UsageError
from lamina.predict.metrics import evaluate_rankings, popularity_scores, popularity_top_k
from lamina.predict.pipeline import PredictResult, evaluate, predict
from lamina.predict.recs import Csr, top_k
from lamina.train.network_file import TrainingState, load_network, save_network


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def run(world: World, out: str = "recs.txt", **kw: Any) -> tuple[Path, PredictResult]:
    """``predict`` on the world's files; keyword arguments override the defaults."""
    args: dict[str, Any] = {
        "dataset": "gl",
        "input_path": world.text,
        "input_index": world.features_input,
        "output_index": world.features_output,
        **kw,
    }
    path = world.dir / out
    return path, predict(world.network, output_path=path, **args)


def test_recs_are_byte_exact_against_numpy(world: World) -> None:
    path, result = run(world, k=5)
    expected = reference_lines(world, world.scores(world.dense()), 5)
    assert path.read_bytes() == expected.encode()
    assert all(line.endswith(":") for line in path.read_text().splitlines())
    assert result.samples == len(world.rows) and result.layer == "Output"


def test_precision_flag_changes_the_score_format(world: World) -> None:
    path, _ = run(world, k=3, precision="%.5f")
    scores = world.scores(world.dense())
    expected = reference_lines(world, scores, 3, fmt="%.5f").splitlines()
    for line, want in zip(path.read_text().splitlines(), expected, strict=True):
        got_entries, want_entries = (
            line.split("\t")[1][:-1].split(":"),
            want.split("\t")[1][:-1].split(":"),
        )
        assert [e.split(",")[0] for e in got_entries] == [e.split(",")[0] for e in want_entries]
        for got, ref in zip(got_entries, want_entries, strict=True):
            assert len(got.split(",")[1].split(".")[1]) == 5  # five decimals
            assert float(got.split(",")[1]) == pytest.approx(float(ref.split(",")[1]), abs=1.1e-5)


def test_filtered_items_never_appear(world: World) -> None:
    # Values are timestamps (> 10): every listed item is removed, as DSSTNE's MovieLens filter.
    path, result = run(world, k=N_ITEMS, filter_path=world.text)
    removed = {user: set(items) for user, items in world.rows.items()}
    assert path.read_text() == reference_lines(
        world, world.scores(world.dense()), N_ITEMS, removed=removed
    )
    for line in path.read_text().splitlines():
        user, rest = line.split("\t")
        shown = {entry.split(",")[0] for entry in rest.split(":")[:-1]}
        assert shown and not shown & removed[user]
        assert len(shown) == N_ITEMS - len(removed[user])
    assert result.filters.removed == sum(map(len, removed.values()))


def test_filter_values_up_to_10_multiply(world: World) -> None:
    user, items = next(iter(world.rows.items()))
    flt = world.dir / "filter.txt"
    flt.write_text(f"{user}\t{items[0]},3:{items[1]},0.5\n")
    path, _ = run(world, k=N_ITEMS, filter_path=flt)
    scores = world.scores(world.dense())
    labels = world.output_labels()
    scores[0, labels.index(items[0])] *= 3
    scores[0, labels.index(items[1])] *= 0.5
    assert path.read_text() == reference_lines(world, scores, N_ITEMS)


def test_k_larger_than_catalogue_and_padding_never_recommended(tmp_path: Path) -> None:
    world = build_world(tmp_path, padding_bias=20.0)  # padding units score ~1.0, above every item
    path, _ = run(world, k=500)
    lines = path.read_text().splitlines()
    assert len(lines) == len(world.rows)
    assert all(line.count(":") == N_ITEMS for line in lines)
    assert path.read_text() == reference_lines(world, world.scores(world.dense()), 500)


def test_layer_and_dump_layer(world: World) -> None:
    hidden = world.scores(world.dense(), "Hidden")
    units = world.dir / "hidden_units"
    units.write_text("".join(f"h{j}\t{j}\n" for j in range(hidden.shape[1])))
    path, result = run(world, k=3, layer="Hidden", output_index=units)
    labels = [f"h{j}" for j in range(hidden.shape[1])]
    assert path.read_text() == reference_lines(world, hidden, 3, labels=labels)
    assert result.layer == "Hidden"

    text, result = run(world, "hidden.txt", dump_layer="Hidden", output_index=None)
    assert result.dumped
    users, values = [], []
    for line in text.read_text().splitlines():
        user, rest = line.split("\t")
        users.append(user)
        values.append([float(v) for v in rest.split(",")])
    assert users == list(world.rows)
    np.testing.assert_allclose(values, hidden, rtol=1e-6)

    npy, _ = run(world, "hidden.npy", dump_layer="Hidden", output_index=None)
    array = np.load(npy)
    assert array.dtype == np.float32 and array.shape == hidden.shape
    np.testing.assert_allclose(array, hidden, rtol=1e-5)


def test_unknown_features_are_dropped_and_counted(world: World) -> None:
    noisy = {user: [*items, "zz1", "zz2"] for user, items in world.rows.items()}
    noisy["u1"].append("zz1")
    text = write_text(world.dir / "noisy.txt", noisy)
    path, result = run(world, k=4, input_path=text)
    assert result.unknown_features == 2 * len(noisy) + 1
    assert result.unknown_labels == 2
    assert path.read_text() == reference_lines(world, world.scores(world.dense()), 4)


def test_sample_order_and_repeated_sample(world: World) -> None:
    text = world.dir / "two.txt"
    text.write_text("u3\tm1\nu1\tm2:m3\nu3\tm4:m5\n")  # u3 first; its later line wins
    path, result = run(world, k=2, input_path=text)
    assert [line.split("\t")[0] for line in path.read_text().splitlines()] == ["u3", "u1"]
    assert result.replaced_lines == 1
    rows = {"u3": ["m4", "m5"], "u1": ["m2", "m3"]}
    world.rows = rows
    assert path.read_text() == reference_lines(world, world.scores(world.dense(rows)), 2)


def test_analog_input_uses_the_values(world: World) -> None:
    text = world.dir / "analog.txt"
    text.write_text("u1\tm1,0.5:m2,2\n")
    path, result = run(world, k=3, input_path=text, input_type="analog")
    index = {label: col for col, label in enumerate(world.output_labels())}
    x = np.zeros((1, 128))
    x[0, index["m1"]], x[0, index["m2"]] = 0.5, 2.0
    world.rows = {"u1": ["m1", "m2"]}
    assert result.analog
    assert path.read_text() == reference_lines(world, world.scores(x), 3)
    path, result = run(world, k=3, input_path=text)  # auto: no record of analog training data
    assert not result.analog
    assert path.read_text() == reference_lines(world, world.scores(world.dense()), 3)


def test_dataset_name_resolution(world: World) -> None:
    path = world.dir / "exact.txt"
    predict(
        world.network,
        dataset="gl_input",
        input_path=world.text,
        input_index=world.features_input,
        output_index=world.features_output,
        output_path=path,
        k=2,
    )  # exact name: no "gl_input_input" layer
    assert path.read_text() == reference_lines(world, world.scores(world.dense()), 2)
    with pytest.raises(UsageError, match=r"Input datasets: \['gl_input'\]"):
        run(world, dataset="movies")


def test_no_side_files_and_atomic_output(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = world.dir / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    recs = world.dir / "recs.txt"
    recs.write_text("old\n")
    bad = world.dir / "bad.txt"
    bad.write_text("u1\tm1\nno tab here\n")
    with pytest.raises(DataError, match=r"bad.txt:2: expected 'sample<TAB>features'"):
        run(world, input_path=bad)
    assert recs.read_text() == "old\n"
    run(world, k=1)
    assert os.listdir(cwd) == []
    assert sorted(p.name for p in world.dir.iterdir() if p.name.startswith(".")) == []


def test_index_wider_than_the_layer_is_an_error(world: World) -> None:
    wide = world.dir / "wide_index"
    wide.write_text("m1\t0\nzz\t500\n")
    with pytest.raises(DataError, match="expected feature indices below 128"):
        predict(
            world.network,
            dataset="gl",
            input_path=world.text,
            input_index=wide,
            output_index=world.features_output,
            output_path=world.dir / "r.txt",
        )


def _split_world(tmp_path: Path) -> tuple[World, Path, Path, dict[str, list[str]]]:
    """World trained on each user's first items; held-out = the rest (same sample index)."""
    world = build_world(tmp_path)
    train = {u: items[:-2] for u, items in world.rows.items()}
    held = {u: items[-2:] if u != "u4" else [] for u, items in world.rows.items()}
    from lamina.data.generate import generate_netcdf

    write_text(tmp_path / "train.txt", train)
    write_text(tmp_path / "held.txt", held)
    tr, te = tmp_path / "train.nc", tmp_path / "held.nc"
    generate_netcdf(
        tmp_path / "train.txt",
        tr,
        dataset_name="gl_input",
        feature_index=world.features_input,
        sample_index=world.samples,
    )
    generate_netcdf(
        tmp_path / "held.txt",
        te,
        dataset_name="gl_output",
        feature_index=world.features_output,
        sample_index=world.samples,
    )
    return world, tr, te, train


def test_evaluate_equals_hand_computation(tmp_path: Path) -> None:
    world, tr, te, train = _split_world(tmp_path)
    ks = (1, 3, 10)
    result = evaluate(
        world.network,
        train_path=tr,
        heldout_path=te,
        ks=ks,
        baselines=["popularity"],
        output_index=world.features_output,
    )
    labels = world.output_labels()
    col = {label: c for c, label in enumerate(labels)}
    train_csr = Csr.from_rows([[col[i] for i in items] for items in train.values()])
    held_csr = Csr.from_rows(
        [[col[i] for i in world.rows[u][-2:]] if u != "u4" else [] for u in world.rows]
    )
    scores = world.scores(world.dense(train))
    topk, _ = top_k(scores, 10, n_real=N_ITEMS, exclude=train_csr)
    pop = popularity_scores(train_csr, N_ITEMS)
    expected = evaluate_rankings(topk, held_csr, ks, n_items=N_ITEMS, item_popularity=pop)
    assert result.users == len(world.rows) - 1 and result.n_items == N_ITEMS
    for key, value in result.metrics["network"].items():
        assert value == pytest.approx(expected[key], abs=1e-12), key
    base = evaluate_rankings(
        popularity_top_k(train_csr, 10, n_items=N_ITEMS)[0],
        held_csr,
        ks,
        n_items=N_ITEMS,
        item_popularity=pop,
    )
    for key, value in result.metrics["popularity"].items():
        assert value == pytest.approx(base[key], abs=1e-12), key
    # Hand check of one number: precision@1 = share of users whose best unseen item is held out.
    hits = []
    for r, (user, items) in enumerate(world.rows.items()):
        masked = scores[r, :N_ITEMS].copy()
        masked[[col[i] for i in train[user]]] = -np.inf
        if user != "u4":
            hits.append(labels[int(np.argmax(masked))] in items[-2:])
    assert result.metrics["network"]["precision@1"] == pytest.approx(np.mean(hits))
    json.dumps(result.to_dict())  # JSON-native


def test_evaluate_without_index_infers_the_catalogue(tmp_path: Path) -> None:
    world, tr, te, _ = _split_world(tmp_path)
    result = evaluate(world.network, train_path=tr, heldout_path=te, ks=(5,))
    assert result.n_items == N_ITEMS  # every item occurs in train or held-out data


def test_evaluate_rejects_misaligned_files(tmp_path: Path) -> None:
    world, tr, _, _ = _split_world(tmp_path)
    from lamina.data.generate import generate_netcdf

    write_text(tmp_path / "few.txt", {"x1": ["m1"], "x2": ["m2"]})
    few = tmp_path / "few.nc"
    generate_netcdf(
        tmp_path / "few.txt",
        few,
        dataset_name="gl_output",
        feature_index=world.features_output,
        sample_index=None,
    )
    with pytest.raises(DataError, match=r"expected the 12 examples .* found 2"):
        evaluate(world.network, train_path=tr, heldout_path=few)
    with pytest.raises(ConfigError, match=r"must be one of \[popularity, ease\]"):
        evaluate(world.network, train_path=tr, heldout_path=few, baselines=["als"])


def test_layer_defaults_without_an_output_named_output() -> None:
    from lamina.config import load_config
    from lamina.predict.inputs import input_layer_for, scoring_layer

    def config(outputs: list[str]) -> Any:
        layers = [{"Name": "In", "Kind": "Input", "N": 8, "DataSet": "ratings"}]
        layers += [{"Name": n, "Kind": "Output", "N": 8, "Source": "In"} for n in outputs]
        return load_config({"Version": 0.8, "Layers": layers})

    assert scoring_layer(config(["Scores"])).name == "Scores"
    assert input_layer_for(config(["Scores"]), "ratings").name == "In"  # exact DataSet name
    with pytest.raises(UsageError, match=r"2 Output layers \['A', 'B'\]: choose one with --layer"):
        scoring_layer(config(["A", "B"]))
    assert scoring_layer(config(["A", "B"]), "B").name == "B"


def _record_checksums(world: World, checksums: dict[str, str]) -> None:
    """Re-save the world's network with ``checksums`` in its training state."""
    nf = load_network(world.network)
    state = TrainingState(epoch=1, batches=1, optimizer="SGD", index_checksums=checksums)
    save_network(world.network, replace(nf, training=state))


def test_index_files_are_checked_against_the_recorded_checksums(world: World) -> None:
    good = {
        name: file_sha256(getattr(world, name)) for name in ("features_input", "features_output")
    }
    _record_checksums(world, good)
    path, _ = run(world, k=3)  # the indices it was trained with: accepted
    assert path.read_text() == reference_lines(world, world.scores(world.dense()), 3)

    _record_checksums(world, {**good, "features_output": "0" * 64})
    with pytest.raises(DataError, match=r"features_output \(-o\): expected the feature index"):
        run(world, out="other.txt", k=3)
    assert not (world.dir / "other.txt").exists()

    renamed = world.dir / "my_output_index"  # a name nothing was recorded for: not checked
    renamed.write_bytes(world.features_output.read_bytes())
    path, _ = run(world, out="renamed.txt", k=3, output_index=renamed)
    assert path.read_text() == reference_lines(world, world.scores(world.dense()), 3)
