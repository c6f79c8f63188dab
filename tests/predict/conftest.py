"""Fixtures of the predict tests: the optional ``../shared`` folder with DSSTNE's example files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def shared_dir() -> Path:
    """The repository's sibling ``../shared`` folder; skips the test when it is absent."""
    path = (Path(__file__).parents[2] / ".." / "shared").resolve()
    if not path.is_dir():
        pytest.skip("../shared not present")
    return path
