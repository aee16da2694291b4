"""Import rules: the library never imports Dagster or the app on top of it (assets/, resources/:
the composition root and the CLI live in assets/); stage modules never import each other;
training may use evaluation but not the reverse; the core (everything but pcl_pipeline/study)
never imports the study or its methods, which plug in through pcl_pipeline/recipe.py; only the
settings module reads the environment."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

APP = {"dagster", "dagster_duckdb", "dagster_graphql", "dagster_dask", "assets", "resources"}
PRODUCT = ("pcl_pipeline", "assets", "resources")


def _modules(path: Path) -> set[str]:
    """Every module name an import statement in `path` names (absolute, dotted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _modules(path)}


def _python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((REPO / folder).rglob("*.py"))]


def library_offenders(root: Path) -> list[str]:
    """Library modules that import Dagster or the app (no exceptions: the app's entry points live in assets/)."""
    return [f"{path.relative_to(root)}: {sorted(bad)}" for path in sorted((root / "pcl_pipeline").rglob("*.py"))
            if (bad := _imports(path) & APP)]


def test_library_does_not_import_dagster_or_the_outer_layers():
    assert library_offenders(REPO) == []
    assert (REPO / "assets" / "definitions.py").exists()  # the composition root sits on the app side
    assert "assets.definitions" in (REPO / "workspace.yaml").read_text(encoding="utf-8")


def test_resources_do_not_import_assets():
    for path in _python_files("resources"):
        assert "assets" not in _imports(path), path


def stage_offenders(root: Path) -> list[str]:
    """Stage modules that import another stage module (they share through the store instead)."""
    offenders = []
    for path in sorted((root / "pcl_pipeline" / "stages").glob("*.py")):
        own = f"pcl_pipeline.stages.{path.stem}"
        for name in sorted(_modules(path)):
            if name.startswith("pcl_pipeline.stages.") and not name.startswith(own) and name != "pcl_pipeline.stages":
                offenders.append(f"{path.relative_to(root)} imports {name}")
    return offenders


def evaluation_offenders(root: Path) -> list[str]:
    """evaluation/ must not import training/ (training imports evaluation for validation, so the
    reverse would be a cycle); shared split and batch code lives in pcl_pipeline.data below both."""
    return [f"{path.relative_to(root)} imports {name}"
            for path in sorted((root / "pcl_pipeline" / "evaluation").glob("*.py"))
            for name in sorted(_modules(path)) if name.startswith("pcl_pipeline.training")]


def core_offenders(root: Path) -> list[str]:
    """Core modules (store, stages, model, training, data, evaluation, serving, ...: all of
    pcl_pipeline but pcl_pipeline/study) that import the study or a method: a method is a plug-in
    (pcl_pipeline/recipe.py's TaskRecipe), so adding one touches only the study's methods package."""
    study = root / "pcl_pipeline" / "study"
    return [f"{path.relative_to(root)} imports {name}"
            for path in sorted((root / "pcl_pipeline").rglob("*.py")) if study not in path.parents
            for name in sorted(_modules(path)) if name.startswith("pcl_pipeline.study")]


def environ_offenders(root: Path) -> list[str]:
    """Product modules other than pcl_pipeline/settings.py that read or write the environment."""
    offenders = []
    for folder in PRODUCT:
        for path in sorted((root / folder).rglob("*.py")):
            if path == root / "pcl_pipeline" / "settings.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                hit = (isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv"}) or \
                      (isinstance(node, ast.ImportFrom) and node.module == "os" and
                       any(a.name in {"environ", "getenv"} for a in node.names))
                if hit:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    return offenders


def test_stage_modules_do_not_import_each_other():
    assert stage_offenders(REPO) == []


def test_evaluation_does_not_import_training():
    assert evaluation_offenders(REPO) == []


def test_the_core_never_imports_the_study_or_a_method():
    assert core_offenders(REPO) == []


def test_only_the_settings_module_reads_the_environment():
    assert environ_offenders(REPO) == []


def test_the_rules_catch_violations(tmp_path):
    """Each rule fails on a planted violation (a check that cannot fail proves nothing)."""
    for folder in ("pcl_pipeline/stages", "pcl_pipeline/evaluation", "pcl_pipeline/store", "pcl_pipeline/study",
                   "assets", "resources"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "pcl_pipeline" / "stages" / "report.py").write_text("from pcl_pipeline.stages.evaluate import x\n")
    (tmp_path / "pcl_pipeline" / "evaluation" / "protocol.py").write_text("from pcl_pipeline.training import loop\n")
    (tmp_path / "assets" / "automation.py").write_text("import os\nport = os.environ.get('PCL_PORT')\n")
    (tmp_path / "resources" / "x.py").write_text("from os import getenv\n")
    (tmp_path / "pcl_pipeline" / "__main__.py").write_text("from assets.cli import main\n")
    (tmp_path / "pcl_pipeline" / "definitions.py").write_text("import dagster\n")
    (tmp_path / "pcl_pipeline" / "store" / "artifact_store.py").write_text(
        "from pcl_pipeline.study.methods.registry import get_method\n")
    (tmp_path / "pcl_pipeline" / "study" / "run.py").write_text("from pcl_pipeline.study.methods import base\n")
    assert stage_offenders(tmp_path) == ["pcl_pipeline/stages/report.py imports pcl_pipeline.stages.evaluate",
                                         "pcl_pipeline/stages/report.py imports pcl_pipeline.stages.evaluate.x"]
    assert evaluation_offenders(tmp_path) == ["pcl_pipeline/evaluation/protocol.py imports pcl_pipeline.training",
                                              "pcl_pipeline/evaluation/protocol.py imports pcl_pipeline.training.loop"]
    assert environ_offenders(tmp_path) == ["assets/automation.py:2", "resources/x.py:1"]
    assert core_offenders(tmp_path) == [
        "pcl_pipeline/store/artifact_store.py imports pcl_pipeline.study.methods.registry",
        "pcl_pipeline/store/artifact_store.py imports pcl_pipeline.study.methods.registry.get_method"]
    assert library_offenders(tmp_path) == ["pcl_pipeline/__main__.py: ['assets']",
                                           "pcl_pipeline/definitions.py: ['dagster']"]


# What the definitions must load without: a code location reload (dagster dev, a new task file)
# imports assets.definitions in a fresh process, and these cost ~1.2 s there (torch 0.9 s); the
# steps import them when they run.
HEAVY = ("torch", "pyarrow.dataset", "pandas", "sentence_transformers", "sklearn", "matplotlib")


def test_the_definitions_load_without_torch_or_the_other_heavy_libraries():
    import subprocess
    import sys

    probe = ("import sys, assets.definitions, assets.study; "
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
    # and the rule can fail: the study's method code does import torch
    probe = probe.replace("assets.study", "pcl_pipeline.study.methods.registry")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert "torch" in done.stdout

