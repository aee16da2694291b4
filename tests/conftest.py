"""Shared fixtures: a tiny catalog (few epochs) and a temporary PCL_HOME / DAGSTER_HOME."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TINY_BACKBONE = {"epochs": 3, "batch_size": 64, "hidden": 32, "blocks": 1}  # plumbing, not quality: a small SASRec
TINY_TASK = {"epochs": 2, "batch_size": 64}

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def write_tiny_catalog(dest: Path) -> Path:
    """Copy the shipped catalog with epochs cut down, so the whole graph trains in seconds."""
    for src in sorted((REPO / "tasks").glob("*/*.yaml")):
        spec = yaml.safe_load(src.read_text(encoding="utf-8"))
        spec["hyperparameters"] = dict(TINY_BACKBONE if spec["kind"] == "next_item" else TINY_TASK)
        target = dest / src.parent.name / src.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return dest


@pytest.fixture
def tiny_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Environment of a whole tiny project: catalog, PCL_HOME and DAGSTER_HOME under tmp_path."""
    tasks = write_tiny_catalog(tmp_path / "tasks")
    home = tmp_path / "pcl_home"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", dagster_home / "dagster.yaml")
    # PCL_RUN_PROCESSES=1: a tiny run in one process (make run's process per dataset costs a
    # start-up that tiny data never pays back; tests/test_run_sequences.py runs both ways).
    # PCL_OUTPUTS=off: no predictions/user_repr assets unless a test is about them (test_graph,
    # test_add_task and test_run_sequences turn them on)
    env = {"PCL_HOME": str(home), "PCL_TASKS_DIR": str(tasks), "DAGSTER_HOME": str(dagster_home),
           "PCL_SYNTHETIC_SCALE": "0.5", "PCL_RUN_PROCESSES": "1", "PCL_OUTPUTS": "off"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("PCL_MOVIELENS_PATH", "PCL_TENREC_PATH", "PCL_TASK_ORDER_MOVIELENS", "PCL_TASK_ORDER_TENREC"):
        monkeypatch.delenv(key, raising=False)
    return {"tasks": tasks, "home": home, "dagster_home": dagster_home, "root": tmp_path}


def trained_tiny_store(root: Path, n_tasks: int | None = None):
    """The tiny movielens catalog (its first n_tasks) under root: tables at scale 0.3, random task
    texts, the backbone pretrained and stored (seed 0). Returns (store, tasks)."""
    import duckdb
    import torch

    from pcl_pipeline.catalog import load_catalog
    from pcl_pipeline.stages import data as stages
    from pcl_pipeline.stages.backbone import train_backbone
    from pcl_pipeline.training.context import TrainContext
    from pcl_pipeline.stages.text import embed_task
    from pcl_pipeline.store.artifact_store import ArtifactStore
    from pcl_pipeline.text_encoder import RandomTextEncoder

    tasks = load_catalog(write_tiny_catalog(root / "tasks"), "movielens")[:n_tasks]
    store = ArtifactStore(root / "home").dataset("movielens")
    stages.prepare_tables(duckdb.connect(), store, tasks, None, seed=0, scale=0.3)
    for task in tasks:
        store.save_task_text(embed_task(task, RandomTextEncoder(), "random"))
    backbone = train_backbone(store, tasks[0], TrainContext(seed=0, device=torch.device("cpu")))
    store.save_backbone(backbone.model, backbone.manifest)
    return store, tasks
