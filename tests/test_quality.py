"""Quality gate on the full embedded default (slow: about a minute on 2 cores; `make test-slow`).

The acceptance bar of the PCL model: T1 HR@10 more than twice popularity's; every item task
above popularity on HR@10 and NDCG@10; every classification task above the majority class;
zero forgetting.
"""
from __future__ import annotations

import json
import shutil

import pytest
from dagster import DagsterInstance, materialize

from assets.definitions import build_definitions
from assets.selection import pipeline_selection
from pcl_pipeline.settings import Settings
from tests.conftest import REPO


@pytest.mark.slow
def test_default_graph_beats_its_baselines_and_forgets_nothing(tiny_env, monkeypatch):
    shutil.rmtree(tiny_env["tasks"])
    shutil.copytree(REPO / "tasks", tiny_env["tasks"])  # the shipped catalog, full epochs
    monkeypatch.setenv("PCL_SYNTHETIC_SCALE", "1.0")
    defs = build_definitions(Settings.from_env())
    with DagsterInstance.ephemeral() as instance:
        assert materialize(list(defs.assets), resources=defs.resources, instance=instance,
                           selection=pipeline_selection()).success
    summary = json.loads((tiny_env["home"] / "reports" / "summary.json").read_text())
    for ds, part in summary["datasets"].items():
        assert part["forgetting"]["max_abs_change"] == 0.0
        for task in part["tasks"]:
            m, b = task["metrics"], task["baselines"]
            if task["kind"] == "next_item":
                assert m["hr@10"] > 2 * b["hr@10"], (ds, task["name"], m, b)
            if task["kind"] != "classification":
                assert m["hr@10"] > b["hr@10"] and m["ndcg@10"] > b["ndcg@10"], (ds, task["name"], m, b)
            else:
                assert m["accuracy"] > b["majority_accuracy"], (ds, task["name"], m, b)
