"""Tiny search fixtures: an annotated autoencoder config and sparse data with held-out items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.data.nc_write import DatasetArrays, write_datasets
from lamina.data.schema import DatasetAttributes as A
from lamina.data.schema import DataType

WIDTH = 24

SEARCH_CONFIG: dict[str, Any] = {
    "Version": 0.8,
    "Kind": "FeedForward",
    "ErrorFunction": "CrossEntropy",
    "Layers": [
        {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": True},
        {
            "Name": "Hidden",
            "Kind": "Hidden",
            "N": {"$search": "int", "low": 4, "high": 16},
            "Activation": "Sigmoid",
        },
        {
            "Name": "Output",
            "Kind": "Output",
            "N": "auto",
            "DataSet": "gl_output",
            "Activation": "Sigmoid",
            "Sparse": True,
        },
    ],
    "TrainingParameters": {
        "Optimizer": "Adam",
        "Alpha": {"$search": "float", "low": 1e-3, "high": 0.1, "log": True},
        "Batch": 16,
        "Epochs": 2,
    },
}


def _write(path: Path, name: str, rows: list[np.ndarray]) -> None:
    counts = np.array([r.size for r in rows])
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    write_datasets(
        path,
        [
            DatasetArrays(
                name,
                A.SPARSE | A.BOOLEAN,
                DataType.UINT,
                WIDTH,
                sparse_start=start,
                sparse_end=start + counts,
                sparse_index=np.concatenate(rows),
            )
        ],
    )


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
def search_files(tmp_path: Path) -> dict[str, Path]:
    """``{"config", "inputs", "outputs"}`` in ``tmp_path``."""
    inputs, outputs = write_search_data(tmp_path)
    config = tmp_path / "search.json"
    config.write_text(json.dumps(SEARCH_CONFIG, indent=2))
    return {"config": config, "inputs": inputs, "outputs": outputs}
