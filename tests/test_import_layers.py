"""Imports flow one way (docs/architecture.md).

errors, registry, atomic <- config <- data <- nn <- train <- {search, export} <- predict <- cli.
Checked statically over every module, including imports made inside functions; imports under
``if TYPE_CHECKING:`` (type hints only) do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lamina"

# package -> the lamina packages it may import (besides itself and the foundation modules)
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "data": {"config"},
    "nn": {"config", "data"},
    "train": {"config", "data", "nn"},
    "search": {"config", "data", "nn", "train"},
    "export": {"config", "data", "nn", "train"},
    "predict": {"config", "data", "nn", "train", "export"},  # --engine onnx runs export.runtime
    "cli": {"config", "data", "nn", "train", "predict", "search", "export"},
}
FOUNDATION = {"errors", "registry", "atomic", "__init__"}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _lamina_imports(path: Path) -> set[str]:
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "lamina" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_layers_to_its_left(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        for target in _lamina_imports(path) - FOUNDATION - {package}:
            if target not in ALLOWED[package]:
                bad.append(f"{path.relative_to(SRC)} imports lamina.{target}")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_foundation_modules_import_no_other_layer() -> None:
    for name in ("errors", "registry", "atomic"):
        assert _lamina_imports(SRC / f"{name}.py") <= FOUNDATION, name
