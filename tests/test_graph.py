"""The whole graph on tiny data, through Dagster: lineage, artifacts, summary, no forgetting."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assets.definitions import build_definitions
from assets.selection import pipeline_selection
from pcl_pipeline.settings import DATASETS, Settings
from tests.conftest import REPO


def test_whole_graph_end_to_end(tiny_env, monkeypatch):
    monkeypatch.setenv("PCL_OUTPUTS", "on")
    settings = Settings.from_env()
    defs = build_definitions(settings)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(list(defs.assets), resources=defs.resources, instance=instance,
                             selection=pipeline_selection())
        assert result.success
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert failed == []
        init = instance.get_latest_materialization_event(AssetKey(["movielens", "prompt_T3_rate_5"]))
        prev = instance.get_latest_materialization_event(AssetKey(["movielens", "prompt_T2_rate_4plus"]))
        metadata = init.asset_materialization.metadata
        assert metadata["init_from"].value == AssetKey(["movielens", "prompt_T2_rate_4plus"])  # a link in the UI
        assert metadata["init_from_run"].value == prev.run_id
        assert metadata["backbone"].value == AssetKey(["movielens", "backbone"])
        recipe = metadata["recipe"].value  # on the CPU the catalog's own settings (PCL_ACCELERATION=auto)
        assert recipe["batch_factor"] == 1 and recipe["batch_size"] == settings_task_batch(settings)

    summary = json.loads((tiny_env["home"] / "reports" / "summary.json").read_text())
    assert set(summary["datasets"]) == set(DATASETS)
    for ds in DATASETS:
        part = summary["datasets"][ds]
        assert part["source"] == "embedded"
        assert [t["order"] for t in part["tasks"]] == [1, 2, 3, 4]
        assert part["forgetting"]["max_abs_change"] == 0.0
        for task in part["tasks"]:
            assert set(task["metrics"]) <= set(task["baselines"]) | {"majority_accuracy"}
            assert task["trainable_params"] > 0
        prompt_params = [t["trainable_params"] for t in part["tasks"][1:]]
        assert max(prompt_params) < part["tasks"][0]["trainable_params"] * 2
    assert (tiny_env["home"] / "reports" / "summary.md").read_text().startswith("# PCL results")
    _assert_outputs(tiny_env["home"], tiny_env["tasks"], settings.predictions_k)


def _assert_outputs(home, tasks_dir, k: int) -> None:
    """Every task's predictions and user representations: every user once (all splits), original
    ids, k items per user (item tasks), probabilities summing to 1 (classification)."""
    import duckdb

    from pcl_pipeline.catalog import load_catalog
    from pcl_pipeline.store.artifact_store import ArtifactStore

    for ds in DATASETS:
        store = ArtifactStore(home).dataset(ds)
        users = duckdb.execute(f"SELECT count(*), count(DISTINCT split) FROM '{store.sequences}'").fetchone()
        original = {r[0] for r in duckdb.execute(f"SELECT DISTINCT user_id FROM '{store.sequences}'").fetchall()}
        for task in load_catalog(tasks_dir, ds):
            pred, repr_ = store.predictions_path(task.name), store.user_repr_output_path(task.name)
            assert duckdb.execute(f"SELECT count(*), count(DISTINCT split) FROM '{repr_}'").fetchone() == users
            assert {r[0] for r in duckdb.execute(f"SELECT DISTINCT user_id FROM '{pred}'").fetchall()} == original
            columns = [c[0] for c in duckdb.execute(f"DESCRIBE SELECT * FROM '{pred}'").fetchall()]
            if task.kind == "classification":
                assert columns[:3] == ["user_id", "split", "label"] and columns[-1] == "fallback"
                probs = " + ".join(f'"{c}"' for c in columns if c.startswith("prob_"))
                assert duckdb.execute(f"SELECT max(abs({probs} - 1)) FROM '{pred}'").fetchone()[0] < 1e-5
            else:
                assert columns == ["user_id", "split", "rank", "item_id", "score", "fallback"]
                per_user = duckdb.execute(f"SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM '{pred}' "
                                      "GROUP BY user_id)").fetchone()
                assert per_user == (k, k)


@pytest.mark.slow  # a code server process (~15 s); test_ui loads the same workspace: make test-slow, CI
def test_definitions_load_from_workspace(tiny_env, monkeypatch):
    """What `dagster dev -w workspace.yaml` loads: the code location and its asset keys."""
    monkeypatch.setenv("PCL_OUTPUTS", "on")
    code = (
        "from dagster._core.workspace.load_target import WorkspaceFileTarget\n"
        "from dagster._core.instance import DagsterInstance\n"
        "from dagster._core.workspace.context import WorkspaceProcessContext\n"
        "with DagsterInstance.get() as inst:\n"
        "    with WorkspaceProcessContext(inst, WorkspaceFileTarget(paths=['workspace.yaml'])) as ctx:\n"
        "        ws = ctx.create_request_context()\n"
        "        entries = ws.get_code_location_entries()\n"
        "        for name, entry in entries.items():\n"
        "            assert entry.load_error is None, entry.load_error\n"
        "            repo = next(iter(entry.code_location.get_repositories().values()))\n"
        "            keys = sorted(n.asset_key.to_user_string() for n in repo.get_asset_node_snaps())\n"
        "            print(name, len(keys), keys[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "assets.definitions 84 movielens/backbone" in out.stdout  # 57 pipeline assets + 27 of the study


def test_another_task_order_trains_its_own_chain(tiny_env, monkeypatch):
    """Task order is data: the same tasks in another order, with their own artifacts and lineage."""
    monkeypatch.setenv("PCL_TASK_ORDER_TENREC", "T4_age,T3_video_like,T2_article_rec")
    defs = build_definitions(Settings.from_env())
    graph = defs.resolve_asset_graph()
    assert AssetKey(["tenrec", "prompt_T4_age"]) in graph.get(AssetKey(["tenrec", "prompt_T3_video_like"])).parent_keys
    with DagsterInstance.ephemeral() as instance:
        assert materialize(list(defs.assets), resources=defs.resources, instance=instance,
                           selection=[k for k in graph.get_all_asset_keys() if k.path[0] == "tenrec"]).success
    variant = tiny_env["home"] / "tenrec" / "variants" / "order-T4_age-T3_video_like-T2_article_rec"
    report = json.loads((variant / "report.json").read_text())
    assert [t["name"] for t in report["tasks"]] == ["T1_next_item", "T4_age", "T3_video_like", "T2_article_rec"]
    assert report["lineage"][2]["init_from"]["asset"] == "tenrec/prompt_T4_age"
    assert report["forgetting"]["max_abs_change"] == 0.0
    assert not (tiny_env["home"] / "tenrec" / "variants" / "default").exists()


def settings_task_batch(settings: Settings) -> int:
    from pcl_pipeline.catalog import load_catalog

    return load_catalog(settings.tasks_dir, "movielens")[2].task_params.batch_size


def test_device_and_acceleration_settings_reach_the_torch_resource():
    import torch

    defs = build_definitions(Settings.from_env({"PCL_DEVICE": "cpu", "PCL_ACCELERATION": "on",
                                                "PCL_TORCH_COMPILE": "on"}))
    resource = defs.resources["torch_device"]
    device = resource.get_device()
    assert device == torch.device("cpu")
    acceleration = resource.get_acceleration(device)
    assert acceleration.enabled and acceleration.compile
    auto = build_definitions(Settings.from_env({})).resources["torch_device"]
    assert not auto.get_acceleration(torch.device("cpu")).enabled
