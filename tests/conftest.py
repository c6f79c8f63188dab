"""Shared fixtures: the repository root, the optional ``../shared`` reference folder, and the
native kernels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT / ".." / "shared").resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder holding ``pyproject.toml``)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The sibling ``../shared`` reference folder; skips the test when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared not present")
    return SHARED_DIR


@pytest.fixture
def native() -> Iterator[None]:
    """Lamina's native kernels loaded (``lamina.nn.native``); skips where they cannot be built."""
    from lamina.nn.native import build

    build.reset()
    if build.load() is None:
        pytest.skip("no C compiler / native kernels on this machine")
    yield
    build.reset()
