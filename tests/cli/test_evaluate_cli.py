"""``lamina evaluate``, driven in-process through the real ``lamina`` group."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lamina.cli.main import cli
from lamina.data.generate import generate_netcdf
from lamina.predict.pipeline import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))
from tiny_world import N_ITEMS, World, build_world, write_text


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)])


@pytest.fixture
def split(tmp_path: Path) -> tuple[World, Path, Path]:
    """The tiny world with each user's last two items held out (same sample index)."""
    world = build_world(tmp_path)
    train = {u: items[:-2] for u, items in world.rows.items()}
    held = {u: items[-2:] for u, items in world.rows.items()}
    tr, te = tmp_path / "train.nc", tmp_path / "held.nc"
    for rows, name, path, index in (
        (train, "gl_input", tr, world.features_input),
        (held, "gl_output", te, world.features_output),
    ):
        text = write_text(tmp_path / f"{name}.txt", rows)
        generate_netcdf(
            text, path, dataset_name=name, feature_index=index, sample_index=world.samples
        )
    return world, tr, te


def test_table_matches_the_api(split: tuple[World, Path, Path]) -> None:
    world, tr, te = split
    result = run("-n", world.network, "-i", tr, "-t", te, "-k", "1,5", "--baselines", "popularity")
    assert result.exit_code == 0, result.output
    api = evaluate(
        world.network, train_path=tr, heldout_path=te, ks=(1, 5), baselines=["popularity"]
    )
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{len(world.rows)} of {len(world.rows)} users")
    assert f"{N_ITEMS} items ranked" in lines[0]
    assert lines[1].split() == ["metric", "network", "popularity"]
    table = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(table) == [
        f"{m}@{k}" for k in (1, 5) for m in ("precision", "recall", "ndcg", "coverage", "pop1%")
    ]
    for key, (net, pop) in table.items():
        assert net == f"{api.metrics['network'][key]:.4f}"
        assert pop == f"{api.metrics['popularity'][key]:.4f}"


def test_json_schema(split: tuple[World, Path, Path]) -> None:
    world, tr, te = split
    result = run(
        "-n", world.network, "-i", tr, "-t", te, "-k", "2,10", "--json", "--baselines", "pop"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {
        "ks",
        "n_items",
        "examples",
        "users",
        "users_skipped",
        "input_dataset",
        "heldout_dataset",
        "layer",
        "metrics",
    }
    assert data["ks"] == [2, 10] and data["n_items"] == N_ITEMS
    assert (data["input_dataset"], data["heldout_dataset"]) == ("gl_input", "gl_output")
    assert data["users"] + data["users_skipped"] == data["examples"] == len(world.rows)
    assert list(data["metrics"]) == ["network", "popularity"]
    for values in data["metrics"].values():
        assert set(values) == {
            f"{m}@{k}"
            for k in (2, 10)
            for m in ("precision", "recall", "ndcg", "coverage", "pop1%")
        }
        assert all(0.0 <= v <= 1.0 for v in values.values())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("-k", "1,x"), "-k must be positive integers"),
        (("--baselines", "als"), "--baselines must be one of [popularity, ease]"),
    ],
)
def test_bad_options_exit_2(
    split: tuple[World, Path, Path], extra: tuple[str, str], message: str
) -> None:
    world, tr, te = split
    result = run("-n", world.network, "-i", tr, "-t", te, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_misaligned_heldout_exits_2(split: tuple[World, Path, Path]) -> None:
    world, tr, _ = split
    text = write_text(world.dir / "few.txt", {"x1": ["m1"], "x2": ["m2"]})
    few = world.dir / "few.nc"
    generate_netcdf(
        text, few, dataset_name="gl_output", feature_index=world.features_output, sample_index=None
    )
    result = run("-n", world.network, "-i", tr, "-t", few)
    assert result.exit_code == 2
    assert f"expected the {len(world.rows)} examples" in result.output
    assert "same -s samples index" in result.output


def test_missing_network_exits_2(split: tuple[World, Path, Path]) -> None:
    _, tr, te = split
    result = run("-n", "nope.nc", "-i", tr, "-t", te)
    assert result.exit_code == 2 and "'nope.nc' does not exist" in result.output
