"""The recommender recipe pipeline (``examples/recommender/run.py``) on synthetic data with planted
structure: a small Mult-DAE recipe must beat the popularity ranking by a wide margin."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lamina.config import load_config
from lamina.data.synth import synthesize, write_synthetic
from lamina.predict.evaluation import evaluate

RECIPES = Path(__file__).resolve().parents[2] / "examples" / "recommender"


def _run_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("recipes_run", RECIPES / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(p.name for p in (RECIPES / "configs").glob("*.json")))
def test_every_recipe_config_loads(name: str) -> None:
    config = load_config(RECIPES / "configs" / name)
    assert config.training is not None and config.training.epochs is not None


def test_small_recipe_beats_popularity_on_planted_clusters(tmp_path: Path) -> None:
    run = _run_module()
    # 300 users in 6 clusters, each preferring its own 1/6 of 90 items; 10% popularity noise.
    data = synthesize(samples=300, features=90, nnz=14, clusters=6, noise=0.1, zipf=0.5, seed=3)
    all_txt = tmp_path / "all.txt"
    write_synthetic(data, all_txt)
    files = run.split_seed(all_txt, 1, tmp_path)
    # The shipped Mult-DAE recipe, scaled down: a 32-unit hidden layer, 12 epochs.
    config = json.loads((RECIPES / "configs" / "mult_dae.json").read_text())
    config["Layers"][1]["N"] = 32
    config["TrainingParameters"].update({"Epochs": 12, "Batch": 32, "Alpha": 0.01})
    (tmp_path / "small.json").write_text(json.dumps(config))
    seconds = run.train_recipe(
        tmp_path / "small.json", files, seed=1, threads=1, epochs=None, out=tmp_path / "net.nc"
    )
    assert seconds > 0
    result = evaluate(
        tmp_path / "net.nc",
        train_path=files.train_in,
        heldout_path=files.test,
        ks=(10,),
        baselines=["popularity"],
        output_index=files.features,
        progress=False,
    )
    net, pop = result.metrics["network"], result.metrics["popularity"]
    assert result.n_items == 90
    assert net["ndcg@10"] > pop["ndcg@10"] + 0.15, (net, pop)
    assert net["recall@10"] > pop["recall@10"] + 0.15
    assert net["coverage@10"] > pop["coverage@10"]


def test_summary_gives_mean_and_spread_per_metric() -> None:
    run = _run_module()
    per_seed = [
        {"ease": {"ndcg@10": 0.4, "lambda": 500.0, "validation_ndcg@10": {"500.0": 0.3}}},
        {"ease": {"ndcg@10": 0.5, "lambda": 200.0, "validation_ndcg@10": {"200.0": 0.3}}},
    ]
    summary = run.summarize(per_seed)
    assert summary["ease"]["ndcg@10"]["mean"] == pytest.approx(0.45)
    assert summary["ease"]["ndcg@10"]["std"] == pytest.approx(0.0707107, rel=1e-5)
    assert summary["ease"]["lambda"]["values"] == [500.0, 200.0]
    assert "validation_ndcg@10" not in summary["ease"]
    assert "ease" in run.render(summary).splitlines()[1]
