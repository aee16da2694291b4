"""Adding a task trains only that task: through the CLI path, and through the automation."""
from __future__ import annotations

import yaml
from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions, materialize
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from assets.cli import main
from assets.definitions import build_definitions
from assets.selection import pipeline_selection
from pcl_pipeline.settings import Settings
from tests.conftest import TINY_TASK

NEW_TASK = {
    "name": "T5_age", "dataset": "movielens", "kind": "classification", "order": 5,
    "description": "User age bracket prediction. Input: the user's movie rating sequence. Output: the age "
                   "bracket of users.dat, a class label. Metric: accuracy.",
    "label": {"source": "users", "column": "age"}, "metric": "accuracy", "hyperparameters": TINY_TASK,
}
NEW_KEYS = {AssetKey(["movielens", f"{role}_T5_age"])
            for role in ("task_data", "task_text", "prompt", "eval", "predictions", "user_repr")}


def _latest(instance: DagsterInstance, keys) -> dict:
    out = {}
    for key in keys:
        event = instance.get_latest_materialization_event(key)
        out[key] = None if event is None else (event.run_id, event.timestamp)
    return out


def test_adding_a_task_materializes_only_its_assets_the_report_and_summary(tiny_env, capsys, monkeypatch):
    monkeypatch.setenv("PCL_OUTPUTS", "on")  # the new task's predictions and user_repr are its assets too
    instance = DagsterInstance.get()  # the temporary DAGSTER_HOME of tiny_env
    before_defs = build_definitions(Settings.from_env())
    assert materialize(list(before_defs.assets), resources=before_defs.resources, instance=instance,
                       selection=pipeline_selection()).success
    old_keys = set(before_defs.resolve_asset_graph().get_all_asset_keys())
    before = _latest(instance, old_keys)

    new_file = tiny_env["tasks"] / "movielens" / "T5_age.yaml"
    new_file.write_text(yaml.safe_dump(NEW_TASK, sort_keys=False), encoding="utf-8")
    assert main(["validate-task", str(new_file)]) == 0

    # The automation path (what the sensor does after the code location reloads): one tick
    # requests the new task's four assets and what they feed (the report, the summary), one run
    # in dependency order, and nothing old.
    after_defs = build_definitions(Settings.from_env())
    graph = after_defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) == old_keys | NEW_KEYS
    tick = evaluate_automation_conditions(defs=after_defs, instance=instance)
    requested = {key for key in (e.key for e in tick.results if e.true_subset.size > 0)}
    assert requested == NEW_KEYS | {AssetKey(["movielens", "report"]), AssetKey(["summary"])}

    # The documented headless path
    assert main(["add-task", str(new_file)]) == 0
    after = _latest(instance, old_keys | NEW_KEYS)
    changed = {key for key in after if after[key] != before.get(key)}
    assert changed == NEW_KEYS | {AssetKey(["movielens", "report"]), AssetKey(["summary"])}

    resolver = get_stale_status_resolver(instance, list(after_defs.assets))
    stale = {k for k in pipeline_selection().resolve(graph) if resolver.get_status(k) != StaleStatus.FRESH}
    assert stale == set()
    assert "T5_age" in (tiny_env["home"] / "reports" / "summary.md").read_text()


def test_a_task_placed_before_the_last_one_is_refused(tiny_env, capsys):
    bad = tiny_env["root"] / "T0_bad.yaml"
    bad.write_text(yaml.safe_dump({**NEW_TASK, "name": "T0_bad", "order": 3}), encoding="utf-8")
    assert main(["add-task", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "T0_bad.yaml: the task is not placed after the current last task (T4_gender, order 4)" in err
    assert not (tiny_env["tasks"] / "movielens" / "T0_bad.yaml").exists()
