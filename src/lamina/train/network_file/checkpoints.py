"""Checkpoints named as DSSTNE's ``train`` names them: ``<network><epoch>.nc`` (``gl.nc10.nc``)."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

from lamina.errors import CheckpointError
from lamina.train.network_file.io import load_network

__all__ = ["checkpoint_path", "find_latest_checkpoint"]


def checkpoint_path(network_path: str | os.PathLike[str], epoch: int) -> Path:
    """The checkpoint file of ``network_path`` after ``epoch`` epochs.

    Example:
        >>> checkpoint_path("out/gl.nc", 10).as_posix()
        'out/gl.nc10.nc'
    """
    network_path = Path(network_path)
    return network_path.with_name(f"{network_path.name}{int(epoch)}.nc")


def find_latest_checkpoint(
    network_path: str | os.PathLike[str],
    *,
    on_corrupt: Callable[[Path, CheckpointError], None] | None = None,
) -> tuple[Path, int] | None:
    """Find the checkpoint of ``network_path`` with the highest epoch that loads.

    Scans ``network_path``'s folder for ``<name><digits>.nc``; temporary files of an interrupted
    write (``.<name>...tmp``) never match. Newer files that fail to load are skipped and reported.

    Args:
        network_path: the network file the checkpoints belong to (``-n`` of ``train``).
        on_corrupt: called with each skipped file and its error; by default a ``RuntimeWarning``.

    Returns:
        ``(path, epoch)`` of the newest loadable checkpoint, or ``None`` if there is none.
    """
    network_path = Path(network_path)
    folder = network_path.parent
    pattern = re.compile(re.escape(network_path.name) + r"(\d+)\.nc")
    found: list[tuple[int, Path]] = []
    if folder.is_dir():
        for entry in folder.iterdir():
            match = pattern.fullmatch(entry.name)
            if match and entry.is_file():
                found.append((int(match.group(1)), entry))
    for epoch, path in sorted(found, reverse=True):
        try:
            load_network(path)
        except CheckpointError as exc:
            if on_corrupt is None:
                warnings.warn(f"skipping checkpoint: {exc}", RuntimeWarning, stacklevel=2)
            else:
                on_corrupt(path, exc)
            continue
        return path, epoch
    return None
