"""Shared fixtures: the repository root and the optional ``../shared`` reference folder."""

from __future__ import annotations

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
