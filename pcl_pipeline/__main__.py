"""Command line: `python -m pcl_pipeline run | validate-task FILE | add-task FILE | study`.

With definitions.py, the only module of pcl_pipeline that imports Dagster (it is an entry point
that drives the Dagster graph headlessly, recording runs in $DAGSTER_HOME like the UI does).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from pcl_pipeline.errors import InputError, SettingsError
from pcl_pipeline.settings import Settings
from pcl_pipeline.store.artifact_store import ArtifactStore


def _instance():
    from dagster import DagsterInstance

    return DagsterInstance.get()  # $DAGSTER_HOME (the Makefile points it at dagster_home/)


def materialize_selection(settings: Settings, selection=None) -> bool:
    """Materialize the selected assets (the pipeline, without the study, by default) of the graph
    built from `settings`."""
    from dagster import materialize

    from pcl_pipeline.definitions import build_definitions, pipeline_selection

    defs = build_definitions(settings)
    result = materialize(list(defs.assets), resources=defs.resources, instance=_instance(),
                         selection=selection if selection is not None else pipeline_selection(), raise_on_error=False)
    return result.success


def cmd_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    t0 = time.perf_counter()
    ok = materialize_selection(settings)
    wall = time.perf_counter() - t0
    summary_md = ArtifactStore(settings.home).summary_md
    if not ok:
        print(f"materialization failed after {wall:.1f} s; see the run's logs (make dev, Runs tab)", file=sys.stderr)
        return 1
    print(summary_md.read_text(encoding="utf-8"))
    print(f"whole graph materialized in {wall:.1f} s; summary: {summary_md.with_suffix('.json')}")
    return 0


def cmd_validate_task(args: argparse.Namespace) -> int:
    from pcl_pipeline.catalog import check_new_task

    settings = Settings.from_env()
    task = check_new_task(settings.tasks_dir, Path(args.file))
    print(f"ok: {task.dataset}/{task.name} ({task.kind}, order {task.order}) can be added to {settings.tasks_dir}")
    return 0


def cmd_add_task(args: argparse.Namespace) -> int:
    """Validate, copy into the catalog, then materialize only what is missing (the new task's
    task_data, task_text, prompt and eval) and the dataset's report."""
    import shutil

    from assets import keys
    from pcl_pipeline.catalog import check_new_task
    from pcl_pipeline.definitions import build_definitions

    settings = Settings.from_env()
    source = Path(args.file)
    task = check_new_task(settings.tasks_dir, source)
    target = settings.tasks_dir / task.dataset / source.name
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
        print(f"added {target}")
    if args.no_materialize:
        return 0
    defs = build_definitions(settings)
    instance = _instance()
    missing = [key for key in defs.resolve_asset_graph().get_all_asset_keys()
               if key.path[0] == task.dataset and instance.get_latest_materialization_event(key) is None]
    selection = sorted(set(missing) | {keys.report(task.dataset), keys.summary()}, key=lambda k: k.to_user_string())
    print("materializing: " + ", ".join(k.to_user_string() for k in selection))
    t0 = time.perf_counter()
    if not materialize_selection(settings, selection):
        print("materialization failed; see the run's logs", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - t0:.1f} s; summary: {ArtifactStore(settings.home).summary_md}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    """The reproduction study: the Dagster job `study` (the asset group of the same name), its
    steps PCL_STUDY_WORKERS at once; then study.json and the Markdown report (PCL_STUDY_MARKDOWN)."""
    from dagster import execute_job, reconstructable

    from pcl_pipeline import definitions

    settings = Settings.from_env()
    t0 = time.perf_counter()
    with execute_job(reconstructable(definitions.study_job), instance=_instance()) as result:
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
    sub.add_parser("run", help="materialize the whole graph of both datasets and print the summary")
    validate = sub.add_parser("validate-task", help="check a task file against the catalog it would join")
    validate.add_argument("file")
    add = sub.add_parser("add-task", help="add a task file to the catalog and materialize only its assets")
    add.add_argument("file")
    add.add_argument("--no-materialize", action="store_true", help="only validate and copy the file")
    sub.add_parser("study", help="the reproduction study (the Dagster job `study`): every method over "
                   "PCL_STUDY_SEEDS, the task-order study, transfer, study.json and the Markdown report")
    args = parser.parse_args(argv)
    commands = {"run": cmd_run, "validate-task": cmd_validate_task, "add-task": cmd_add_task, "study": cmd_study}
    try:
        return commands[args.command](args)
    except (InputError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
