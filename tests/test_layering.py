"""The layer rule: the library never imports Dagster (only its two entry points do)."""
from __future__ import annotations

import ast

from tests.conftest import REPO

ENTRY_POINTS = {"definitions.py", "__main__.py"}


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_library_does_not_import_dagster_or_the_outer_layers():
    offenders = []
    for path in sorted((REPO / "pcl_pipeline").rglob("*.py")):
        if path.parent == REPO / "pcl_pipeline" and path.name in ENTRY_POINTS:
            continue
        bad = _imports(path) & {"dagster", "dagster_duckdb", "dagster_graphql", "assets", "resources"}
        if bad:
            offenders.append(f"{path.relative_to(REPO)}: {sorted(bad)}")
    assert offenders == []


def test_resources_do_not_import_assets():
    for path in sorted((REPO / "resources").rglob("*.py")):
        assert "assets" not in _imports(path), path
