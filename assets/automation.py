"""Automation: what materializes by itself, the scheduled retraining, and the new-task sensor.

- Every asset carries `pcl_condition()`: materialize when missing (including an asset that is
  new in this code version, such as a newly added task's assets), or when one of its
  dependencies produced a new data version, or when its own code version changed. Data versions
  are content hashes, so a re-run that produces identical bytes stops the propagation there:
  unchanged assets are skipped.
- The report additionally re-runs whenever one of its evals is updated (a new task's eval).
- Every asset also joins a tick in which one of its dependencies is requested, so a change and
  everything downstream of it are rebuilt in one run.
- `retrain_schedule` re-reads the raw logs and rebuilds everything downstream of them in one run,
  on a cron (off by default).
- `new_task_files_sensor` notices task files that the loaded code does not know yet and asks
  the webserver to reload the code location; its next tick, in the reloaded code, requests
  the new task's run (the run plan `add-task` uses). The automation sensor would materialize
  the missing assets too, up to its 30-s interval later; an asset already in a queued or
  running run is left to that run by both, so one run does the work.
"""
import json
from collections.abc import Callable
from pathlib import Path

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from assets import keys
from assets.selection import pipeline_selection, plan_run
from pcl_pipeline.settings import DATASETS, Settings


def missing_or_new() -> AutomationCondition:
    """Like AutomationCondition.on_missing(), but also true for an asset that is missing at its
    very first evaluation (on_missing() treats the first evaluation as "handled", so a newly
    added asset would never run; dagster issue #25721)."""
    handled = (AutomationCondition.newly_requested() | AutomationCondition.newly_updated()).with_label("handled")
    return (
        AutomationCondition.in_latest_time_window()
        & AutomationCondition.missing().newly_true().since(handled).with_label("missing_since_last_handled")
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.in_progress()  # a run (e.g. the new-task sensor's) is making it
    ).with_label("missing_or_new")


def inputs_changed() -> AutomationCondition:
    """A dependency has a new data version, or this asset's code version changed."""
    return (
        (AutomationCondition.any_deps_match(AutomationCondition.data_version_changed())
         | AutomationCondition.code_version_changed()).since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("inputs_changed")


def upstream_requested() -> AutomationCondition:
    """A dependency is requested in this same evaluation: the asset joins the run, so one tick
    rebuilds a change and everything downstream of it (Dagster's stale status alone would let
    it advance one level per tick: a child is not stale until its parent is re-materialized)."""
    return (AutomationCondition.any_deps_match(AutomationCondition.will_be_requested())
            & ~AutomationCondition.in_progress()).with_label("upstream_requested")


def pcl_condition() -> AutomationCondition:
    return (missing_or_new() | inputs_changed() | upstream_requested()).with_label("pcl")


def report_condition() -> AutomationCondition:
    return (pcl_condition() | AutomationCondition.eager()).with_label("pcl_report")


def automation_sensor(running: bool) -> AutomationConditionSensorDefinition:
    # Dagster's generated default sensor starts STOPPED under `dagster dev`; this one runs unless
    # PCL_AUTOMATION=off (tests that drive the UI turn it off to launch runs themselves).
    return AutomationConditionSensorDefinition(
        "pcl_automation", target=AssetSelection.all(), minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        description="Materializes what is missing (a newly added task's assets included) and what an input "
                    "changed under; identical re-runs stop there because data versions are content hashes.",
    )


# the raw logs and everything they feed, in one run: a re-ingest never leaves models of the old data
retrain_job = define_asset_job(
    "retrain", selection=AssetSelection.assets(*[keys.raw_logs(ds) for ds in DATASETS]).downstream()
    - AssetSelection.groups(keys.STUDY_GROUP),
    description="Re-reads the raw logs and rebuilds everything downstream of them (not the study).")


def retrain_schedule(cron: str) -> ScheduleDefinition:
    """Re-read the raw logs and retrain what they feed on PCL_RETRAIN_CRON (default 03:00 daily);
    off until turned on."""
    return ScheduleDefinition(
        name="scheduled_retraining", job=retrain_job, cron_schedule=cron,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Re-reads the raw logs and retrains everything downstream of them in the same run.",
    )


_UNFINISHED = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
               DagsterRunStatus.STARTED]
NEW_TASK_POLL_SECONDS = 5  # a glob of tasks_dir/<ds>/ per tick: cheap enough to look often


def new_task_files_sensor(settings: Settings, known: dict[str, set[str]],
                          definitions: Callable[[], Definitions] | None = None):
    """Sensor: YAML files under tasks_dir/<ds>/ that the loaded definitions do not contain yet
    trigger a reload of the code location through the webserver's GraphQL API
    (PCL_WEBSERVER_HOST / PCL_WEBSERVER_PORT, default 127.0.0.1:3000). Its next tick runs in the
    reloaded code: once it knows the tasks, it requests the run `add-task` would make (the run
    plan of assets/selection.py: on an up-to-date home, the new task's assets, the report and the
    summary), unless a run of those assets is already queued or running (the automation sensor
    may have been first; either way one run). `definitions` returns the loaded Definitions."""
    tasks_dir: Path = settings.tasks_dir
    host, port, location = settings.webserver_host, settings.webserver_port, settings.code_location

    @sensor(name="new_task_files", minimum_interval_seconds=NEW_TASK_POLL_SECONDS,
            default_status=DefaultSensorStatus.RUNNING, target=pipeline_selection(),
            description=f"Watches {tasks_dir}/<dataset>/*.yaml every {NEW_TASK_POLL_SECONDS} s; a valid task file the "
                        f"loaded code does not know makes it reload the code location {location!r} through the "
                        f"webserver at {host}:{port}, and the next tick requests the new task's run (its assets, the "
                        "report and the summary).")
    def new_task_files(context: SensorEvaluationContext):
        from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

        from pcl_pipeline.catalog import load_task_file
        from pcl_pipeline.errors import InputError

        pending: list[str] = json.loads(context.cursor) if context.cursor else []
        loaded = [t for t in pending if t.split("/", 1)[1] in known.get(t.split("/", 1)[0], set())]
        if loaded and definitions is not None:
            context.update_cursor(json.dumps([t for t in pending if t not in loaded]))
            request = _new_task_run(context, definitions(), settings, loaded)
            if request is not None:
                return request
        new: list[str] = []
        for ds in DATASETS:
            for path in sorted((tasks_dir / ds).glob("*.y*ml")):
                try:
                    name = load_task_file(path).name
                except InputError as exc:
                    context.log.warning(f"ignoring invalid task file: {exc}")
                    continue
                if name not in known.get(ds, set()):
                    new.append(f"{ds}/{name}")
        if not new:
            return SkipReason("no new task files" + (f" (loaded: {loaded}, nothing left to run)" if loaded else ""))
        try:
            DagsterGraphQLClient(host, port_number=port).reload_repository_location(location)
        except (DagsterGraphQLClientError, OSError) as exc:
            return SkipReason(f"new task files {new}, but reloading code location {location!r} at {host}:{port} "
                              f"failed: {exc}. Reload it from the UI (Deployment > Reload) instead.")
        context.update_cursor(json.dumps(sorted(set(pending) - set(loaded) | set(new))))
        return SkipReason(f"new task files {new}: reloaded code location {location!r}; "
                          "the next tick requests their run")

    return new_task_files


def _new_task_run(context: SensorEvaluationContext, defs: Definitions, settings: Settings,
                  tasks: list[str]) -> RunRequest | None:
    """The run plan's RunRequest for newly loaded tasks, or None when there is nothing to run or
    a queued or running run already covers the plan."""
    plan = plan_run(defs, context.instance, settings.home)
    if not plan.selection:
        return None
    busy = context.instance.get_runs(filters=RunsFilter(statuses=_UNFINISHED))
    if any(set(plan.selection) & set(run.asset_selection or ()) for run in busy):
        context.log.info(f"{tasks}: a run of their assets is already queued or running")
        return None
    return RunRequest(run_key=None, asset_selection=plan.selection,
                      tags={"pcl/new_tasks": ",".join(tasks)})
