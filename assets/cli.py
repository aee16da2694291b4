"""Command line: `pcl run | validate-task FILE | add-task FILE | study` (or `python -m assets.cli ...`).

It drives the Dagster graph headlessly, recording runs in the Dagster instance at $DAGSTER_HOME
(the checkout's dagster_home/ when unset) like the UI does.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from pcl_pipeline.errors import InputError, SettingsError
from pcl_pipeline.settings import Settings, default_dagster_home
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.store.lock import LockHeld, home_lock


def _instance(settings: Settings):
    """The Dagster instance of $DAGSTER_HOME (Settings.dagster_home: the checkout's dagster_home/
    when the variable is unset), as `dagster dev` would open it."""
    import shutil

    from dagster import DagsterInstance

    home = settings.dagster_home
    if not home.exists() or not any(home.iterdir()):  # a new instance starts with the project's config
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(default_dagster_home() / "dagster.yaml", home / "dagster.yaml")
    return DagsterInstance.from_config(str(home))


def run_config(total: int, verbose: bool) -> dict:
    """Loggers of a CLI run: one line per finished asset; Dagster's own events only with -v
    (the run's full event log is stored either way)."""
    loggers = {"progress": {"config": {"total": total}}}
    if verbose:
        loggers["console"] = {"config": {"log_level": "DEBUG"}}
    return {"loggers": loggers}


def materialize_selection(settings: Settings, selection=None, verbose: bool = False, defs=None) -> bool:
    """Materialize the selected assets (the pipeline, without the study, by default) of the graph
    built from `settings` (or `defs`, already built from them), in this process, recorded in
    $DAGSTER_HOME like a UI run."""
    from assets.definitions import build_definitions
    from assets.selection import pipeline_selection

    defs = defs or build_definitions(settings)
    keys = list(selection) if selection is not None else sorted(pipeline_selection().resolve(defs.resolve_asset_graph()))
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=_instance(settings), asset_selection=keys, raise_on_error=False,
                                    run_config=run_config(len(keys), verbose))
    return result.success


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize what is missing, stale or unvouched and everything downstream of it
    (everything with --force), then print the summary and the tasks this data could not serve."""
    from assets.definitions import build_definitions
    from assets.selection import plan_run

    settings = Settings.from_env()
    root = ArtifactStore(settings.home)
    with home_lock(settings.home, "make run", wait=args.wait):
        t0 = time.perf_counter()
        defs = build_definitions(settings)
        selection = None
        if not args.force:
            plan = plan_run(defs, _instance(settings), settings.home)
            if not plan.selection:
                print("every asset is up to date (make run --force recomputes all); summary:")
                print(root.summary_md.read_text(encoding="utf-8"))
                _print_skipped(root)
                return 0
            selection = plan.selection
            print(f"materializing {len(selection)} assets (--force: all):")
            for line in plan.explain():
                print(f"  {line}")
        ok = materialize_selection(settings, selection, verbose=args.verbose, defs=defs)
        wall = time.perf_counter() - t0
    if not ok:
        print(f"materialization failed after {wall:.1f} s; see the run's logs (make dev, Runs tab)", file=sys.stderr)
        return 1
    print(root.summary_md.read_text(encoding="utf-8"))
    print(f"materialized in {wall:.1f} s; summary: {root.summary_json}")
    _print_skipped(root)
    return 0


def _print_skipped(root: ArtifactStore) -> None:
    """The tasks the data could not serve, and why (they are in summary.json too)."""
    import json

    from pcl_pipeline.stages.report import not_applicable_tasks

    summary = json.loads(root.summary_json.read_text(encoding="utf-8"))
    for ds, report in summary["datasets"].items():
        for name, reason in not_applicable_tasks(report).items():
            print(f"skipped {ds}/{name}: not applicable to this data: {reason}")


def cmd_validate_task(args: argparse.Namespace) -> int:
    from pcl_pipeline.catalog import check_new_task

    settings = Settings.from_env()
    task = check_new_task(settings.tasks_dir, Path(args.file))
    print(f"ok: {task.dataset}/{task.name} ({task.kind}, order {task.order}) can be added to {settings.tasks_dir}")
    return 0


def cmd_add_task(args: argparse.Namespace) -> int:
    """Validate, copy into the catalog, then materialize what the run plan names: on a store that
    is up to date, the new task's task_data, task_text, prompt and eval, the report and the summary."""
    import shutil

    from assets.definitions import build_definitions
    from assets.selection import plan_run
    from pcl_pipeline.catalog import check_new_task

    settings = Settings.from_env()
    source = Path(args.file)
    task = check_new_task(settings.tasks_dir, source)
    target = settings.tasks_dir / task.dataset / source.name
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
        print(f"added {target}")
    if args.no_materialize:
        return 0
    t0 = time.perf_counter()
    with home_lock(settings.home, "add-task", wait=args.wait):
        defs = build_definitions(settings)
        plan = plan_run(defs, _instance(settings), settings.home)
        print("materializing: " + ", ".join(k.to_user_string() for k in plan.selection))
        for line in plan.explain():
            print(f"  {line}")
        ok = materialize_selection(settings, plan.selection, defs=defs)
    if not ok:
        print("materialization failed; see the run's logs", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - t0:.1f} s; summary: {ArtifactStore(settings.home).summary_md}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    """The reproduction study: the Dagster job `study` (the asset group of the same name), its
    steps PCL_STUDY_WORKERS at once; then study.json and the Markdown report (PCL_STUDY_MARKDOWN)."""
    from dagster import execute_job, reconstructable

    from assets import definitions

    settings = Settings.from_env()
    t0 = time.perf_counter()
    with home_lock(settings.home, "study", wait=args.wait), \
            execute_job(reconstructable(definitions.study_job), instance=_instance(settings),
                        run_config=run_config(0, False)) as result:  # steps in processes: no shared count
        ok = result.success
    wall = time.perf_counter() - t0
    if not ok:
        print(f"study failed after {wall:.0f} s; see the run's logs (make dev, Runs tab)", file=sys.stderr)
        return 1
    markdown = settings.study_markdown or ArtifactStore(settings.home).reports_dir / "study.md"
    print(f"study done in {wall:.0f} s: {ArtifactStore(settings.home).study_json}, {markdown}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="pcl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize what is missing or stale in the graph of both datasets, print "
                         "the summary")
    run.add_argument("--force", action="store_true", help="recompute every asset, not only the missing or stale")
    run.add_argument("-v", "--verbose", action="store_true", help="also print Dagster's DEBUG events")
    validate = sub.add_parser("validate-task", help="check a task file against the catalog it would join")
    validate.add_argument("file")
    add = sub.add_parser("add-task", help="add a task file to the catalog and materialize only its assets")
    add.add_argument("file")
    add.add_argument("--no-materialize", action="store_true", help="only validate and copy the file")
    study = sub.add_parser("study", help="the reproduction study (the Dagster job `study`): every method over "
                   "PCL_STUDY_SEEDS, the task-order study, transfer, study.json and the Markdown report")
    for command in (run, add, study):
        command.add_argument("--wait", action="store_true",
                             help="wait for another run on the same PCL_HOME to finish instead of stopping")
    args = parser.parse_args(argv)
    commands = {"run": cmd_run, "validate-task": cmd_validate_task, "add-task": cmd_add_task, "study": cmd_study}
    try:
        return commands[args.command](args)
    except (InputError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LockHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
