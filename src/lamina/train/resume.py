"""Where a resumed run continues from, and the housekeeping around network files.

Candidates are the newest loadable checkpoint ``<network><epoch>.nc`` and the network file itself
(written at the end of a run, or by Ctrl-C in the middle of an epoch). The one with the most
progress ``(epoch, examples into the next epoch)`` wins; files that fail to load are skipped
and reported.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lamina.data.index import file_sha256
from lamina.errors import CheckpointError
from lamina.train.network_file import NetworkFile, find_latest_checkpoint, load_network

__all__ = [
    "ResumePoint",
    "existing_checkpoints",
    "find_resume_point",
    "remove_stale_temp_files",
]


@dataclass(frozen=True)
class ResumePoint:
    """A network file to continue from.

    Attributes:
        path: the file.
        network: its content (with a training state).
        epoch: epochs completed.
        position: examples of epoch ``epoch + 1`` already trained (0 at an epoch boundary).
    """

    path: Path
    network: NetworkFile
    epoch: int
    position: int


def _point(path: Path, nf: NetworkFile) -> ResumePoint:
    if nf.training is None:  # a plain model (e.g. written by DSSTNE): its weights, epoch 0
        return ResumePoint(path, nf, 0, 0)
    position = int(nf.training.optimizer_meta.get("position", 0))
    return ResumePoint(path, nf, nf.training.epoch, position)


def find_resume_point(
    network_path: Path, *, report: Callable[[str], None] | None = None
) -> ResumePoint | None:
    """The most advanced loadable training state among ``network_path`` and its checkpoints.

    Args:
        network_path: the ``-n`` file.
        report: receives one line per skipped (corrupt or state-less) file.

    Returns:
        The resume point (a network file without training state, such as a DSSTNE model, counts
        as epoch 0 with fresh optimizer state), or None when there is nothing to resume.

    Raises:
        CheckpointError: ``network_path`` exists but cannot be loaded, and no checkpoint can.
    """

    def skipped(path: Path, exc: CheckpointError) -> None:
        if report is not None:
            report(f"skipping {path}: {exc.message}")

    points: list[ResumePoint] = []
    latest = find_latest_checkpoint(network_path, on_corrupt=skipped)
    if latest is not None:
        points.append(_point(latest[0], load_network(latest[0])))
    if network_path.is_file():
        try:
            points.append(_point(network_path, load_network(network_path)))
        except CheckpointError as exc:
            if not points:
                raise CheckpointError(
                    f"cannot resume: {exc.message}", hint="start afresh with --overwrite"
                ) from None
            skipped(network_path, exc)
    if not points:
        return None
    return max(points, key=lambda p: (p.epoch, p.position))


def existing_checkpoints(network_path: Path) -> list[Path]:
    """The checkpoint files ``<network><epoch>.nc`` beside ``network_path``, by epoch."""
    folder = network_path.parent if str(network_path.parent) else Path(".")
    pattern = re.compile(re.escape(network_path.name) + r"(\d+)\.nc")
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def remove_stale_temp_files(network_path: Path) -> list[Path]:
    """Delete temporary files a killed writer left beside ``network_path`` (``.<name>*.tmp``:
    the network file's and its checkpoints'). Returns what was removed."""
    removed: list[Path] = []
    folder = network_path.parent if str(network_path.parent) else Path(".")
    if not folder.is_dir():
        return removed
    for entry in folder.glob(f".{network_path.name}*.tmp"):
        with contextlib.suppress(OSError):
            entry.unlink()
            removed.append(entry)
    return removed


def index_checksums(indices: Mapping[str, str | os.PathLike[str]]) -> dict[str, str]:
    """Index name -> SHA-256 of its file."""
    return {name: file_sha256(path) for name, path in sorted(indices.items())}
