"""UI smoke test: `dagster dev` serves the whole graph with its edges and runs a launched selection.

Starts the real server (tests/ui_server.py) on a free port with all state under tmp_path, reads
the asset graph through GraphQL as the UI does, launches a materialization of the three data
assets of movielens through GraphQL, waits for SUCCESS, drops a new task file and finds the run
the new-task sensor launched in the tick that reloaded the code location, and stops the server
by its PID.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.settings import DATASETS
from ui_server import REPO_ROOT, free_port, group_members, start_ui

ASSET_NODES = "query { assetNodes { assetKey { path } dependencyKeys { path } } }"
RUN_MATERIALIZATIONS = """
query ($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { assetMaterializations { assetKey { path } } } }
}
"""
RUNS = """
query { runsOrError { ... on Runs { results { runId tags { key value } assetSelection { path } } } } }
"""
SELECTION = [["movielens", "raw_logs"], ["movielens", "interactions"], ["movielens", "sequences"]]
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def expected_graph(tasks_dir: Path) -> tuple[set[str], dict[str, set[str]], dict[str, list[str]]]:
    """Every asset key of both datasets (as 'a/b/c') and the edges the design promises."""
    keys: set[str] = {"summary"}  # the one asset over every dataset
    must_depend: dict[str, set[str]] = {}
    orders: dict[str, list[str]] = {}
    for ds in DATASETS:
        names = [t.name for t in load_catalog(tasks_dir, ds)]
        orders[ds] = names
        keys |= {f"{ds}/raw_logs", f"{ds}/interactions", f"{ds}/sequences", f"{ds}/backbone", f"{ds}/report"}
        keys |= {f"{ds}/{role}_{n}" for n in names
                 for role in ("task_data", "task_text", "eval", "predictions", "user_repr")}
        keys |= {f"{ds}/prompt_{n}" for n in names[1:]}
        for k, name in enumerate(names[1:], start=2):  # task order k = position in the catalog
            deps = {f"{ds}/backbone", f"{ds}/task_data_{name}"} | {f"{ds}/task_text_{n}" for n in names[:k]}
            if k >= 3:  # knowledge inheritance: p_k starts from the trained p_{k-1}
                deps.add(f"{ds}/prompt_{names[k - 2]}")
            must_depend[f"{ds}/prompt_{name}"] = deps
        for k, name in enumerate(names):  # a task's outputs read its model (T1: the backbone)
            model = f"{ds}/backbone" if k == 0 else f"{ds}/prompt_{name}"
            for role in ("predictions", "user_repr"):
                must_depend[f"{ds}/{role}_{name}"] = {model, f"{ds}/task_data_{name}", f"{ds}/sequences"}
    return keys, must_depend, orders


NEW_TASK = """name: T5_age
dataset: movielens
kind: classification
order: 5
description: User age bracket prediction from the rating sequence. Metric accuracy.
label: {source: users, column: age}
metric: accuracy
"""


@pytest.mark.slow  # a real dagster dev server (~45 s): make test-slow, CI
def test_ui_serves_graph_and_runs_a_selection(tmp_path: Path) -> None:
    tasks_dir = tmp_path / "tasks"
    shutil.copytree(REPO_ROOT / "tasks", tasks_dir)  # the shipped catalog, in a copy the test may extend
    keys, must_depend, orders = expected_graph(tasks_dir)
    assert all(len(names) >= 3 for names in orders.values()), orders  # inheritance edges are exercised

    port = free_port()  # the new-task sensor reloads the code location through this webserver
    with start_ui(tmp_path, env={"PCL_TASKS_DIR": str(tasks_dir), "PCL_SYNTHETIC_SCALE": "0.5",
                                 "PCL_WEBSERVER_PORT": str(port)}, port=port) as ui:
        pid, pgid = ui.pid, ui.pgid

        # -- the graph, as the UI's asset lineage reads it -------------------------------------
        nodes = ui.graphql(ASSET_NODES)["assetNodes"]
        deps = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
        study = {k for k in deps if k.startswith("study/")}  # the study group: its lineage is shown too
        assert set(deps) - study == keys, f"missing: {sorted(keys - set(deps))}, unexpected: {sorted(set(deps) - keys - study)}"
        for ds in orders:
            assert deps[f"study/{ds}_SeqFT"] == {f"study/{ds}_setup"}
            assert deps[f"study/{ds}_transfer"] == {f"study/{ds}_PCL"}
        assert deps["study/report"] == study - {"study/report"} - {f"study/{ds}_setup" for ds in orders}
        for asset, needed in must_depend.items():
            assert needed <= deps[asset], f"{asset} lacks upstream {sorted(needed - deps[asset])}"
        for ds, names in orders.items():  # p_2 starts random: no prompt upstream of the first prompt
            assert not any(d.startswith(f"{ds}/prompt_") for d in deps[f"{ds}/prompt_{names[1]}"])
            assert deps[f"{ds}/interactions"] == {f"{ds}/raw_logs"}
            assert deps[f"{ds}/sequences"] == {f"{ds}/interactions"}

        # -- a launched run of a small selection (data assets only, no training) --------------
        client = ui.client()
        run_id = client.submit_job_execution("__ASSET_JOB", asset_selection=SELECTION)
        deadline = time.monotonic() + 120
        status = client.get_run_status(run_id)
        while status not in FINISHED and time.monotonic() < deadline:
            time.sleep(1)
            status = client.get_run_status(run_id)
        assert status == DagsterRunStatus.SUCCESS, f"run {run_id} ended {status}\n{ui.log_tail()}"

        run = ui.graphql(RUN_MATERIALIZATIONS, {"runId": run_id})["runOrError"]
        assert sorted(m["assetKey"]["path"] for m in run["assetMaterializations"]) == sorted(SELECTION)
        assert any((tmp_path / "pcl_home").rglob("*.parquet")), "the run wrote nothing under PCL_HOME"

        # -- a new task file: the sensor reloads the code location and launches the task's run --
        (tasks_dir / "movielens" / "T5_age.yaml").write_text(NEW_TASK, encoding="utf-8")
        deadline, launched = time.monotonic() + 60, []
        while not launched and time.monotonic() < deadline:
            time.sleep(1)
            launched = [r for r in ui.graphql(RUNS)["runsOrError"]["results"]
                        if {"key": "pcl/new_tasks", "value": "movielens/T5_age"} in r["tags"]]
        assert len(launched) == 1, f"no run of the new task 60 s after the drop\n{ui.log_tail()}"
        (run,) = launched
        assert {"key": "pcl/requested_by", "value": "sensor:new_task_files"} in run["tags"]  # the same tick
        selected = {"/".join(a["path"]) for a in run["assetSelection"]}
        # this home holds only the data assets above: the run plan is every missing pipeline asset
        assert {"movielens/prompt_T5_age", "movielens/eval_T5_age", "movielens/report", "summary"} <= selected
        assert not any(k.startswith("study/") for k in selected)
        # its training is not this test's subject: stopping the server below ends the run too
        nodes = ui.graphql(ASSET_NODES)["assetNodes"]
        deps = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
        new = {f"movielens/{role}_T5_age"
               for role in ("task_data", "task_text", "prompt", "eval", "predictions", "user_repr")}
        assert {k for k in deps if not k.startswith("study/")} == keys | new
        assert f"movielens/prompt_{orders['movielens'][-1]}" in deps["movielens/prompt_T5_age"]
        assert "movielens/eval_T5_age" in deps["movielens/report"]

        ui.stop()
        # The server and every process it spawned (webserver, daemon, code server, run) are gone.
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert group_members(pgid) == []
