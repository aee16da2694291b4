"""Scheduled retraining and the new-task sensor, with Dagster's context builders; the
automation condition itself on a fresh asset, and its skipping of unchanged inputs."""
from __future__ import annotations

import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultScheduleStatus,
    asset,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)

from assets.automation import missing_or_new, new_task_files_sensor, pcl_condition, retrain_schedule
from assets.definitions import build_definitions
from pcl_pipeline.settings import Settings
from tests.conftest import REPO


def test_retrain_schedule_rebuilds_what_the_raw_logs_feed_and_is_off_by_default(monkeypatch):
    monkeypatch.setenv("PCL_RETRAIN_CRON", "15 4 * * 1")
    defs = build_definitions(Settings.from_env())  # the variable reaches the schedule through Settings
    schedule = defs.get_schedule_def("scheduled_retraining")
    assert schedule.cron_schedule == "15 4 * * 1"
    assert retrain_schedule("0 3 * * *").cron_schedule == "0 3 * * *"
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
    with DagsterInstance.ephemeral() as instance:
        requests = list(schedule.evaluate_tick(build_schedule_context(instance=instance)).run_requests)
    assert len(requests) == 1
    job = defs.resolve_job_def(schedule.job_name)
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    # the raw logs and everything they feed, in one run; never the study, never the task texts
    assert {"movielens/raw_logs", "tenrec/raw_logs", "movielens/sequences", "movielens/backbone",
            "movielens/prompt_T4_gender", "tenrec/eval_T4_age", "movielens/report", "summary"} <= selected
    assert not any(k.startswith(("study/", "movielens/task_text", "tenrec/task_text")) for k in selected)


def test_new_task_sensor_sees_new_files_and_reports_a_failed_reload(tmp_path, monkeypatch):
    for ds in ("movielens", "tenrec"):
        (tmp_path / ds).mkdir()
        for src in (REPO / "tasks" / ds).glob("*.yaml"):
            (tmp_path / ds / src.name).write_text(src.read_text())
    known = {"movielens": {"T1_next_item", "T2_rate_4plus", "T3_rate_5", "T4_gender"},
             "tenrec": {"T1_next_item", "T2_article_rec", "T3_video_like", "T4_age"}}
    # nothing listens on port 9: the reload must fail loudly
    sensor_def = new_task_files_sensor(Settings.from_env({"PCL_TASKS_DIR": str(tmp_path), "PCL_WEBSERVER_PORT": "9"}),
                                       known)
    assert sensor_def.description and "reload" in sensor_def.description
    with DagsterInstance.ephemeral() as instance:
        result = sensor_def.evaluate_tick(build_sensor_context(instance=instance))
        assert result.skip_message == "no new task files"
        spec = yaml.safe_load((tmp_path / "movielens" / "T4_gender.yaml").read_text())
        spec.update(name="T5_new", order=5)
        (tmp_path / "movielens" / "T5_new.yaml").write_text(yaml.safe_dump(spec))
        result = sensor_def.evaluate_tick(build_sensor_context(instance=instance))
    assert "new task files ['movielens/T5_new']" in result.skip_message
    assert "failed" in result.skip_message and "Reload it from the UI" in result.skip_message


def test_missing_or_new_fires_for_an_asset_missing_at_its_first_evaluation_once():
    @asset(automation_condition=missing_or_new())
    def fresh() -> int:
        return 1

    with DagsterInstance.ephemeral() as instance:
        first = evaluate_automation_conditions(defs=[fresh], instance=instance)
        assert first.total_requested == 1
        second = evaluate_automation_conditions(defs=[fresh], instance=instance, cursor=first.cursor)
        assert second.total_requested == 0  # requested once: handled until it is missing anew


def test_unchanged_inputs_are_skipped_and_changed_ones_retrain():
    payload = {"value": 1}

    @asset(automation_condition=pcl_condition())
    def upstream(context):
        from dagster import DataVersion, Output

        return Output(payload["value"], data_version=DataVersion(str(payload["value"])))

    @asset(deps=[upstream], automation_condition=pcl_condition())
    def downstream() -> None:
        return None

    with DagsterInstance.ephemeral() as instance:
        assert materialize([upstream, downstream], instance=instance).success
        tick = evaluate_automation_conditions(defs=[upstream, downstream], instance=instance)
        assert tick.total_requested == 0
        assert materialize([upstream, downstream], instance=instance, selection=[upstream]).success  # same bytes
        tick = evaluate_automation_conditions(defs=[upstream, downstream], instance=instance, cursor=tick.cursor)
        assert tick.total_requested == 0  # same data version: downstream skipped
        payload["value"] = 2
        assert materialize([upstream, downstream], instance=instance, selection=[upstream]).success
        tick = evaluate_automation_conditions(defs=[upstream, downstream], instance=instance, cursor=tick.cursor)
        requested = {r.key for r in tick.results if r.true_subset.size > 0}
        assert requested == {downstream.key}


def test_a_code_change_rebuilds_everything_downstream_in_one_tick():
    """A new code version of the first asset of a chain: one evaluation requests the whole chain
    (stale status alone would take one level per tick)."""
    def chain(version: str):
        @asset(code_version=version, automation_condition=pcl_condition())
        def first() -> None:
            return None

        @asset(deps=[first], code_version="1", automation_condition=pcl_condition())
        def second() -> None:
            return None

        @asset(deps=[second], code_version="1", automation_condition=pcl_condition())
        def third() -> None:
            return None

        return [first, second, third]

    with DagsterInstance.ephemeral() as instance:
        assert materialize(chain("1"), instance=instance).success
        tick = evaluate_automation_conditions(defs=chain("1"), instance=instance)
        assert tick.total_requested == 0
        tick = evaluate_automation_conditions(defs=chain("2"), instance=instance, cursor=tick.cursor)
        assert {r.key.to_user_string() for r in tick.results if r.true_subset.size > 0} == {"first", "second", "third"}


def test_new_task_sensor_requests_the_run_plan_once_the_reloaded_code_knows_the_task(tiny_env):
    """The tick after the reload runs in code that knows the task: it requests the run plan
    (here a fresh home: every pipeline asset, the new task's among them) and clears its cursor."""
    spec = yaml.safe_load((tiny_env["tasks"] / "movielens" / "T4_gender.yaml").read_text())
    spec.update(name="T5_new", order=5)
    (tiny_env["tasks"] / "movielens" / "T5_new.yaml").write_text(yaml.safe_dump(spec))
    defs = build_definitions(Settings.from_env())
    sensor_def = defs.get_sensor_def("new_task_files")
    with DagsterInstance.ephemeral() as instance:
        idle = sensor_def.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        assert idle.skip_message == "no new task files" and not idle.run_requests
        context = build_sensor_context(instance=instance, definitions=defs, cursor='["movielens/T5_new"]')
        result = sensor_def.evaluate_tick(context)
    (request,) = result.run_requests
    selected = {k.to_user_string() for k in request.asset_selection}
    assert {"movielens/prompt_T5_new", "movielens/eval_T5_new", "movielens/report", "summary"} <= selected
    assert not any(k.startswith("study/") for k in selected)
    assert request.tags["pcl/new_tasks"] == "movielens/T5_new"
    assert result.cursor == "[]"
