"""Fixtures of the lamina.nn tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def shared_dir() -> Path:
    """The repo's sibling ``../shared`` (DSSTNE example configs); skips the test when absent."""
    path = Path(__file__).resolve().parents[2] / ".." / "shared"
    if not path.is_dir():
        pytest.skip("../shared not present")
    return path.resolve()
