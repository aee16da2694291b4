"""The forgetting matrix is measured, not copied: a stored prompt changed after its task was
learned shows up in the next task's row, and an untouched chain shows exactly zero change."""
from __future__ import annotations

import pytest
import torch

from pcl_pipeline.stages.evaluate import evaluate_task
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.stages.report import build_report
from pcl_pipeline.store.artifacts import load_artifact, save_artifact
from pcl_pipeline.training.context import TrainContext
from tests.conftest import trained_tiny_store

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """T1, T2 and T3 of the tiny movielens catalog learned in order, each evaluated right after."""
    store, tasks = trained_tiny_store(tmp_path_factory.mktemp("forgetting"), 3)
    records = [evaluate_task(store, tasks[:1], CPU)]
    for k in (1, 2):
        trained = train_prompt(store, tasks[:k + 1], TrainContext(seed=0, device=CPU), init_from=None)
        store.save_task_parts(tasks[k].name, trained.model, trained.manifest)
        records.append(evaluate_task(store, tasks[:k + 1], CPU))
    return store, tasks, records


def test_an_untouched_chain_forgets_nothing(learned):
    store, tasks, records = learned
    report = build_report(tasks, records, "embedded", store.variant)
    matrix = report["forgetting"]["matrix"]
    assert matrix[2][1] == matrix[1][1] and matrix[2][0] == matrix[1][0] == matrix[0][0]
    assert report["forgetting"]["max_abs_change"] == 0.0


def test_a_changed_stored_prompt_shows_in_the_next_row(learned):
    store, tasks, records = learned
    t2 = tasks[1].name
    paths = store.task_parts_paths(t2)
    tensors, manifest = load_artifact(paths)
    original = {k: v.clone() for k, v in tensors.items()}
    try:
        # Someone overwrites T2's artifact after T2 was learned (a consistent file: hash and shapes fit).
        tensors["adapter.bias"] = tensors["adapter.bias"] + torch.randn_like(tensors["adapter.bias"]) * 5.0
        kept = {k: v for k, v in manifest.items() if k not in ("versions", "tensors", "sha256")}
        save_artifact(paths, tensors, kept)
        remeasured = evaluate_task(store, tasks, CPU)  # T3's eval re-scores T1 and T2 from what is stored now
        report = build_report(tasks, records[:2] + [remeasured], "embedded", store.variant)
        assert report["forgetting"]["max_abs_change"] > 0.0
        assert report["forgetting"]["matrix"][2][0] == records[0]["metrics"][tasks[0].metric]  # T1 untouched
    finally:
        kept = {k: v for k, v in manifest.items() if k not in ("versions", "tensors", "sha256")}
        save_artifact(paths, original, kept)
