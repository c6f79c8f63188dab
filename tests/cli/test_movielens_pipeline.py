"""DSSTNE's MovieLens pipeline (spec section 5) with Lamina's commands on real data.

ml-1m-implicit imported with `lamina data import`, generate-netcdf twice with one samples index,
train with DSSTNE's sample config, predict with the ratings as filter. Needs ../shared; slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina.cli.main import cli

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def _run(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_dsstne_movielens_pipeline_on_ml_1m(shared_dir: Path, tmp_path: Path) -> None:
    data = shared_dir / "data" / "ml-1m-implicit" / "train.txt"
    config = shared_dir / "dsstne-examples" / "configs" / "movielens_config_v0.7.json"
    ratings, t = tmp_path / "ratings.txt", str(tmp_path)
    _run(["data", "import", "movielens", str(data), "-o", str(ratings)])
    for name in ("gl_input", "gl_output"):
        kind = name.split("_")[1]
        _run(["generate-netcdf", "-d", name, "-i", str(ratings), "-o", f"{t}/{name}.nc",
              "-f", f"{t}/features_{kind}", "-s", f"{t}/samples_input", "-c"])  # fmt: skip
    _run(["train", "-c", str(config), "-i", f"{t}/gl_input.nc", "-o", f"{t}/gl_output.nc",
          "-n", f"{t}/gl.nc", "-b", "256", "-e", "1", "--threads", "2", "--no-progress",
          "--no-tensorboard"])  # fmt: skip
    _run(["predict", "-b", "256", "-d", "gl", "-i", f"{t}/features_input", "-o",
          f"{t}/features_output", "-k", "10", "-n", f"{t}/gl.nc", "-f", str(ratings),
          "-s", f"{t}/recs", "-r", str(ratings)])  # fmt: skip

    seen = {}
    for line in ratings.read_text().splitlines():
        user, items = line.split("\t")
        seen[user] = {e.split(",")[0] for e in items.split(":") if e}
    lines = (tmp_path / "recs").read_text().splitlines()
    assert len(lines) == len(seen) == 6040
    for line in lines:
        user, recs = line.split("\t")
        assert recs.endswith(":")  # DSSTNE's trailing colon
        entries = [e.split(",") for e in recs[:-1].split(":")]
        assert len(entries) == 10
        assert all(len(score.split(".")[1]) == 3 for _, score in entries)  # -p 4.3f
        assert not {item for item, _ in entries} & seen[user]  # no filtered item is recommended
