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
- `new_task_files_sensor` notices task files that the loaded code does not know yet, asks the
  webserver to reload the code location and, in the same tick, launches the new task's run
  through the webserver (the run plan `add-task` uses, computed on definitions built from the
  files on disk: what the reload loads). Should the launch fail, its next tick, in the reloaded
  code, requests the run instead. The automation sensor would materialize the missing assets
  too, up to its 30-s interval later; an asset already in a queued or running run is left to
  that run by both, so one run does the work.
"""
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dagster import (
    AssetKey,
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
# A glob of tasks_dir/<ds>/ per tick: cheap enough to look at every pass of Dagster's sensor
# daemon, which evaluates sensors at most every 5 s (MIN_INTERVAL_LOOP_TIME). The interval is
# measured from the previous tick's start, a little after its pass began, so an interval of 5 s
# would skip every other pass (a tick every 10 s); 1 s lets every pass tick.
NEW_TASK_POLL_SECONDS = 1
SENSOR_DAEMON_PASS_SECONDS = 5  # what a user waits at most before the sensor looks


def new_task_files_sensor(settings: Settings, known: dict[str, set[str]],
                          definitions: Callable[[], Definitions] | None = None,
                          rebuild: Callable[[], Definitions] | None = None):
    """Sensor: YAML files under tasks_dir/<ds>/ that the loaded definitions do not contain yet
    trigger a reload of the code location through the webserver's GraphQL API
    (PCL_WEBSERVER_HOST / PCL_WEBSERVER_PORT, default 127.0.0.1:3000) and, in the same tick, the
    launch of the run `add-task` would make (the run plan of assets/selection.py: on an
    up-to-date home, the new task's assets, the report and the summary) through the same API,
    unless a run of those assets is already queued or running (the automation sensor may have
    been first; either way one run). `definitions` returns the loaded Definitions; `rebuild`
    builds them anew from the task files on disk, as the reload does, so that this tick plans the
    run while the webserver reloads and launches it once the webserver knows the new assets.
    Without `rebuild`, or when the launch fails, the next tick, in the reloaded code, requests the
    run instead."""
    tasks_dir: Path = settings.tasks_dir
    host, port, location = settings.webserver_host, settings.webserver_port, settings.code_location

    @sensor(name="new_task_files", minimum_interval_seconds=NEW_TASK_POLL_SECONDS,
            default_status=DefaultSensorStatus.RUNNING, target=pipeline_selection(),
            description=f"Watches {tasks_dir}/<dataset>/*.yaml every {SENSOR_DAEMON_PASS_SECONDS} s (each pass of the "
                        "sensor daemon); a valid task file the "
                        f"loaded code does not know makes it reload the code location {location!r} through the "
                        f"webserver at {host}:{port} and launch the new task's run there (its assets, the report and "
                        "the summary) in the same tick.")
    def new_task_files(context: SensorEvaluationContext):
        from dagster_graphql import DagsterGraphQLClient

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
        fresh = _rebuilt(context, rebuild)
        client = DagsterGraphQLClient(host, port_number=port)
        with ThreadPoolExecutor(max_workers=1) as pool:  # the webserver reloads while this process plans the run
            reloading = pool.submit(_reload, client, location)
            selection = _planned(context, fresh, settings, new)
            failure = reloading.result()
        if failure is not None:
            return SkipReason(f"new task files {new}, but reloading code location {location!r} at {host}:{port} "
                              f"failed: {failure}. Reload it from the UI (Deployment > Reload) instead.")
        launched = _launch(context, client, fresh, settings, new, selection) if selection is not None else None
        if launched is not None:
            context.update_cursor(json.dumps(sorted(set(pending) - set(loaded))))
            return SkipReason(f"new task files {new}: reloaded code location {location!r}; {launched}")
        context.update_cursor(json.dumps(sorted(set(pending) - set(loaded) | set(new))))
        return SkipReason(f"new task files {new}: reloaded code location {location!r}; "
                          "the next tick requests their run")

    return new_task_files


REQUESTED_BY_TAG = "pcl/requested_by"  # a run the sensor launched through the webserver carries no sensor tag


def _rebuilt(context: SensorEvaluationContext, rebuild: Callable[[], Definitions] | None) -> Definitions | None:
    """The definitions the reload will load, or None (no `rebuild`, or they fail to build: the
    reload will then report why)."""
    if rebuild is None:
        return None
    try:
        return rebuild()
    except Exception as exc:  # noqa: BLE001 - the reload reports the same failure to the UI
        context.log.warning(f"building the definitions of the new task files failed: {exc}")
        return None


def _reload(client, location: str) -> str | None:
    """Reload the code location through the webserver; why it failed, or None."""
    from dagster_graphql import DagsterGraphQLClientError, ReloadRepositoryLocationStatus

    try:
        info = client.reload_repository_location(location)
    except (DagsterGraphQLClientError, OSError) as exc:
        return str(exc)
    return None if info.status == ReloadRepositoryLocationStatus.SUCCESS else f"{info.failure_type}: {info.message}"


def _planned(context: SensorEvaluationContext, defs: Definitions | None, settings: Settings,
             tasks: list[str]) -> list[AssetKey] | None:
    """The run plan's assets on the rebuilt definitions (empty: nothing to run); None without
    rebuilt definitions or when planning failed (the next tick, in the reloaded code, plans again
    and shows the error)."""
    if defs is None:
        return None
    try:
        return _run_plan(context, defs, settings, tasks)
    except Exception as exc:  # noqa: BLE001 - logged; the next tick's plan raises it in the UI
        context.log.warning(f"new task files {tasks}: planning their run failed ({exc}); the next tick plans again")
        return None


def _launch(context: SensorEvaluationContext, client, defs: Definitions, settings: Settings,
            tasks: list[str], selection: list[AssetKey]) -> str | None:
    """Launch the planned run of `defs` through the webserver (which has reloaded them); what was
    done, or None when the launch failed (the next tick then requests the run)."""
    from dagster_graphql import DagsterGraphQLClientError

    if not selection or _covered(context, selection, tasks):  # checked again: the reload took seconds
        return "no run needed (nothing is missing, or a queued or running run covers it)"
    try:
        run_id = client.submit_job_execution(
            defs.resolve_implicit_global_asset_job_def().name, repository_location_name=settings.code_location,
            repository_name=defs.get_repository_def().name, asset_selection=selection,
            tags=_run_tags(tasks) | {REQUESTED_BY_TAG: "sensor:new_task_files"})
    except (DagsterGraphQLClientError, OSError) as exc:
        context.log.warning(f"new task files {tasks}: launching their run through the webserver failed ({exc}); "
                            "the next tick requests it")
        return None
    return f"launched their run {run_id} ({len(selection)} assets)"


def _run_tags(tasks: list[str]) -> dict[str, str]:
    return {"pcl/new_tasks": ",".join(tasks)}


def _run_plan(context: SensorEvaluationContext, defs: Definitions, settings: Settings,
              tasks: list[str]) -> list[AssetKey]:
    """The run plan's assets for newly loaded tasks: empty when there is nothing to run or a
    queued or running run already covers the plan."""
    plan = plan_run(defs, context.instance, settings.home)
    return [] if not plan.selection or _covered(context, plan.selection, tasks) else plan.selection


def _covered(context: SensorEvaluationContext, selection: list[AssetKey], tasks: list[str]) -> bool:
    """Whether a queued or running run already materializes some of `selection`."""
    busy = context.instance.get_runs(filters=RunsFilter(statuses=_UNFINISHED))
    if any(set(selection) & set(run.asset_selection or ()) for run in busy):
        context.log.info(f"{tasks}: a run of their assets is already queued or running")
        return True
    return False


def _new_task_run(context: SensorEvaluationContext, defs: Definitions, settings: Settings,
                  tasks: list[str]) -> RunRequest | None:
    """The run plan's RunRequest for newly loaded tasks, or None when there is nothing to run."""
    selection = _run_plan(context, defs, settings, tasks)
    if not selection:
        return None
    return RunRequest(run_key=None, asset_selection=selection, tags=_run_tags(tasks))
