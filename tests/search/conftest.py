"""Tiny search fixtures: an annotated autoencoder config and sparse data with held-out items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.data.nc_write import DatasetArrays, write_datasets

WIDTH = 24

# the annotated config of every search test: hidden width and learning rate searched, 2 epochs
SEARCH_CONFIG: dict[str, Any] = json.loads(
    (Path(__file__).parent / "search_config.json").read_text()
)


def _write(path: Path, name: str, rows: list[np.ndarray]) -> None:
    write_datasets(path, [DatasetArrays.sparse_rows(name, rows, WIDTH)])


def write_search_data(folder: Path, n: int = 80) -> tuple[Path, Path]:
    """``in.nc`` (gl_input: 3 items per user) and ``out.nc`` (gl_output: those + 2 more), with
    two item clusters so that a network can learn which held-out items go together."""
    rng = np.random.default_rng(0)
    full = []
    for i in range(n):
        block = np.arange(WIDTH // 2) + (WIDTH // 2) * (i % 2)
        full.append(rng.choice(block, size=5, replace=False))
    _write(folder / "in.nc", "gl_input", [np.sort(r[:3]) for r in full])
    _write(folder / "out.nc", "gl_output", [np.sort(r) for r in full])
    return folder / "in.nc", folder / "out.nc"


@pytest.fixture
def search_config() -> dict[str, Any]:
    """A copy of the annotated config: hidden width and learning rate searched."""
    return json.loads(json.dumps(SEARCH_CONFIG))


@pytest.fixture
def search_files(tmp_path: Path) -> dict[str, Path]:
    """``{"config", "inputs", "outputs"}`` in ``tmp_path``."""
    inputs, outputs = write_search_data(tmp_path)
    config = tmp_path / "search.json"
    config.write_text(json.dumps(SEARCH_CONFIG, indent=2))
    return {"config": config, "inputs": inputs, "outputs": outputs}


@pytest.fixture(scope="session")
def local_ray() -> None:
    """A local Ray (2 CPUs) shared by every search test: starting Ray takes 10-30 s here.
    ``run_search`` reuses an initialized Ray and leaves it running; Ray's exit hook stops it."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",
        )
