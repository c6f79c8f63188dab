"""A tiny recommendation world for predict/evaluate tests, with a numpy reference forward pass.

Text data in DSSTNE's MovieLens form (``user<TAB>item,timestamp:...``), converted with
``generate_netcdf`` (same sample index for input and output), and a 20 -> 8 -> 20 sigmoid
autoencoder whose weights are drawn here (scale 1, so scores are well separated) and saved with
``save_network``. ``scores()`` recomputes any layer in float64 numpy, independently of torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.config import load_config
from lamina.data.generate import generate_netcdf
from lamina.data.index import load_index
from lamina.train.network_file import NetworkFile, WeightRecord, save_network

N_ITEMS, N_USERS, HIDDEN, WIDTH = 20, 12, 8, 128

CONFIG = {
    "Version": 0.8,
    "Name": "AE",
    "Layers": [
        {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": True},
        {
            "Name": "Hidden",
            "Kind": "Hidden",
            "Type": "FullyConnected",
            "N": HIDDEN,
            "Activation": "Sigmoid",
            "Sparse": True,
        },
        {
            "Name": "Output",
            "Kind": "Output",
            "Type": "FullyConnected",
            "N": "auto",
            "DataSet": "gl_output",
            "Activation": "Sigmoid",
            "Sparse": True,
        },
    ],
    "ErrorFunction": "ScaledMarginalCrossEntropy",
}


def user_rows(seed: int = 7) -> dict[str, list[str]]:
    """user label -> item labels (3 to 9 distinct items each, all N_ITEMS used), deterministic."""
    rng = np.random.default_rng(seed)
    rows = {
        f"u{u}": [f"m{i}" for i in rng.choice(N_ITEMS, size=int(rng.integers(3, 9)), replace=False)]
        for u in range(1, N_USERS + 1)
    }
    seen = {item for items in rows.values() for item in items}
    for i in range(N_ITEMS):  # every item occurs: the catalogue is exactly N_ITEMS
        if f"m{i}" not in seen:
            rows[f"u{1 + i % N_USERS}"].append(f"m{i}")
    return rows


def write_text(path: Path, rows: dict[str, list[str]], *, values: bool = True) -> Path:
    """DSSTNE text lines; values are MovieLens-like timestamps (> 10) when ``values``."""
    lines = []
    for n, (user, items) in enumerate(rows.items()):
        elements = [
            f"{item},{1112486000 + 37 * n + j}" if values else item for j, item in enumerate(items)
        ]
        lines.append(f"{user}\t{':'.join(elements)}\n")
    path.write_text("".join(lines))
    return path


@dataclass
class World:
    """Paths of the tiny world plus its weights (numpy, DSSTNE layout ``W[n_in][n_out]``)."""

    dir: Path
    text: Path
    network: Path
    input_nc: Path
    output_nc: Path
    features_input: Path
    features_output: Path
    samples: Path
    rows: dict[str, list[str]]
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def dense(self, rows: dict[str, list[str]] | None = None) -> np.ndarray:
        """(U, WIDTH) float64 indicator input of ``rows`` (default: the world's), in dict order."""
        index = load_index(self.features_input)
        rows = self.rows if rows is None else rows
        x = np.zeros((len(rows), WIDTH))
        for r, items in enumerate(rows.values()):
            for item in items:
                if item in index:
                    x[r, index[item]] += 1.0
        return x

    def scores(self, x: np.ndarray, layer: str = "Output") -> np.ndarray:
        """float64 activations of ``Hidden`` or ``Output`` for dense input ``x``."""
        hidden = 1.0 / (1.0 + np.exp(-(x @ self.w1 + self.b1)))
        if layer == "Hidden":
            return hidden
        return 1.0 / (1.0 + np.exp(-(hidden @ self.w2 + self.b2)))

    def output_labels(self) -> list[str]:
        """Column -> label of the output feature index."""
        index = load_index(self.features_output)
        labels = [""] * len(index)
        for label, col in index.items():
            labels[col] = label
        return labels


def build_world(
    tmp: Path, *, seed: int = 3, padding_bias: float = 0.0, rows: dict[str, list[str]] | None = None
) -> World:
    """Write the text, the two datasets, the indices and a network file into ``tmp``.

    Args:
        tmp: an empty folder.
        seed: weight seed.
        padding_bias: output bias of the padding units (columns >= N_ITEMS); a large value makes
            them the best-scoring units, so a test can prove they are never recommended.
        rows: the users' items (default ``user_rows()``).
    """
    rows = user_rows() if rows is None else rows
    text = write_text(tmp / "ratings.txt", rows)
    paths = {name: tmp / name for name in ("features_input", "features_output", "samples_input")}
    for name, features in (("gl_input", "features_input"), ("gl_output", "features_output")):
        generate_netcdf(
            text,
            tmp / f"{name}.nc",
            dataset_name=name,
            feature_index=paths[features],
            sample_index=paths["samples_input"],
            mode="create",
        )
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, 1.0, (WIDTH, HIDDEN)).astype(np.float32)
    b1 = rng.normal(0.0, 0.5, HIDDEN).astype(np.float32)
    w2 = rng.normal(0.0, 1.5, (HIDDEN, WIDTH)).astype(np.float32)
    b2 = rng.normal(0.0, 0.5, WIDTH).astype(np.float32)
    b2[N_ITEMS:] = padding_bias
    config = load_config(CONFIG).resolve({"gl_input": (WIDTH,), "gl_output": (WIDTH,)})
    records = [
        WeightRecord("Input", "Hidden", w1, b1),
        WeightRecord("Hidden", "Output", w2, b2),
    ]
    network = tmp / "gl.nc"
    save_network(network, NetworkFile(config, records))
    return World(
        dir=tmp,
        text=text,
        network=network,
        input_nc=tmp / "gl_input.nc",
        output_nc=tmp / "gl_output.nc",
        features_input=paths["features_input"],
        features_output=paths["features_output"],
        samples=paths["samples_input"],
        rows=rows,
        w1=w1.astype(np.float64),
        b1=b1.astype(np.float64),
        w2=w2.astype(np.float64),
        b2=b2.astype(np.float64),
    )


def reference_lines(
    world: World,
    scores: np.ndarray,
    k: int,
    *,
    removed: dict[str, set[str]] | None = None,
    fmt: str = "%4.3f",
    labels: list[str] | None = None,
) -> str:
    """DSSTNE's recommendation lines computed with plain Python sorting (not ``top_k``); scores are
    printed as float32, as the engine computes them."""
    labels = world.output_labels() if labels is None else labels
    out = []
    for user, row in zip(world.rows, scores, strict=True):
        gone = (removed or {}).get(user, set())
        ranked = sorted(
            (c for c in range(len(labels)) if labels[c] not in gone), key=lambda c: (-row[c], c)
        )[:k]
        out.append(
            user + "\t" + "".join(f"{labels[c]},{fmt % np.float32(row[c])}:" for c in ranked) + "\n"
        )
    return "".join(out)
