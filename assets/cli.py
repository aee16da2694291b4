"""Command line: `pcl run | validate-task FILE | add-task FILE | study | predict` (or `python -m assets.cli ...`).

It drives the Dagster graph headlessly, recording runs in the Dagster instance at $DAGSTER_HOME
(the checkout's dagster_home/ when unset) like the UI does.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import threading
import time
from pathlib import Path

from pcl_pipeline.errors import InputError, SettingsError
from pcl_pipeline.commands import add_predict_arguments, run_predict
from pcl_pipeline.settings import Settings, default_dagster_home
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.store.lock import LockHeld, home_lock

_COUNT = re.compile(r"^\[\d+/\d+\] ")  # a finished asset's line: "[k/n] key seconds headline"


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


def run_config(total: int, verbose: bool, done: int = 0) -> dict:
    """Loggers of a CLI run: one line per finished asset (`done` of `total` finished before this
    run); Dagster's own events only with -v (the run's full event log is stored either way)."""
    loggers = {"progress": {"config": {"total": total, "done": done}}}
    if verbose:
        loggers["console"] = {"config": {"log_level": "DEBUG"}}
    return {"loggers": loggers}


def materialize_selection(settings: Settings, selection=None, verbose: bool = False, defs=None, done: int = 0) -> bool:
    """Materialize the selected assets (the pipeline, without the study, by default) of the graph
    built from `settings` (or `defs`, already built from them), in this process, recorded in
    $DAGSTER_HOME like a UI run; `done` assets of the same command finished before (the count)."""
    from assets.definitions import build_definitions
    from assets.selection import pipeline_selection

    defs = defs or build_definitions(settings)
    keys = list(selection) if selection is not None else sorted(pipeline_selection().resolve(defs.resolve_asset_graph()))
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=_instance(settings), asset_selection=keys, raise_on_error=False,
                                    run_config=run_config(len(keys) + done, verbose, done))
    return result.success


def split_by_dataset(keys: list) -> tuple[dict[str, list], list]:
    """The asset keys of each dataset's chain ({dataset: keys}, in the order given) and the rest
    (what reads several datasets: the summary)."""
    from pcl_pipeline.settings import DATASETS

    parts = {ds: [k for k in keys if k.path[0] == ds] for ds in DATASETS}
    parts = {ds: part for ds, part in parts.items() if part}
    return parts, [k for k in keys if k.path[0] not in parts]


def materialize_by_dataset(settings: Settings, keys: list, verbose: bool = False, defs=None) -> bool:
    """Materialize `keys`: each dataset's chain in a process of its own, at once (the two chains
    share nothing until the summary); then the rest (the summary) in this process. One process
    for everything when PCL_RUN_PROCESSES is 1, the run holds one dataset, or the machine has one
    core. Every part is a run in the instance. Torch's threads are Settings.pipeline_threads in
    every process and in every run, whatever it selects: the thread count changes the float
    sums, so an artifact's bytes depend on it, and a partial run must give a fresh run's bytes."""
    import subprocess

    from pcl_pipeline.settings import cpu_cores

    parts, rest = split_by_dataset(keys)
    processes = min(len(parts), settings.run_processes or cpu_cores())
    if processes < 2:
        return materialize_selection(settings, keys, verbose=verbose, defs=defs)
    print(f"{len(parts)} processes, {settings.pipeline_threads} torch thread(s) each: "
          + ", ".join(f"{ds} {len(part)} assets" for ds, part in parts.items())
          + (f"; then {', '.join(k.to_user_string() for k in rest)}" if rest else ""), flush=True)
    children = [subprocess.Popen([sys.executable, "-u", "-m", "assets.cli", "run-part",
                                  *(["-v"] if verbose else []), *(k.to_user_string() for k in part)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for part in parts.values()]
    relay = _Relay(len(keys))
    readers = [threading.Thread(target=relay.lines_of, args=(child.stdout,), daemon=True) for child in children]
    for reader in readers:
        reader.start()
    ok = all([child.wait() == 0 for child in children])  # wait for every child, even after one failed
    for reader in readers:
        reader.join()
    if ok and rest:
        ok = materialize_selection(settings, rest, verbose=verbose, defs=defs, done=relay.done)
    return ok


class _Relay:
    """Prints the children's lines as they come, a finished asset's `[k/n]` renumbered over the
    whole run (each child counts its own part)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.lock = total, 0, threading.Lock()

    def lines_of(self, stream) -> None:
        for line in stream:
            with self.lock:
                counted = _COUNT.match(line)
                if counted:
                    self.done += 1
                    line = f"[{self.done}/{self.total}] " + line[counted.end():]
                print(line, end="", flush=True)


def cmd_run_part(args: argparse.Namespace) -> int:
    """`make run`'s child process: materialize the given asset keys in this process."""
    from dagster import AssetKey

    keys = [AssetKey.from_user_string(key) for key in args.keys]
    return 0 if materialize_selection(Settings.from_env(), keys, verbose=args.verbose) else 1


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize what is missing, stale or unvouched and everything downstream of it
    (everything with --force), then print the summary and the tasks this data could not serve."""
    from assets.definitions import build_definitions
    from assets.selection import pipeline_selection, plan_run

    settings = Settings.from_env()
    root = ArtifactStore(settings.home)
    with home_lock(settings.home, "make run", wait=args.wait):
        t0 = time.perf_counter()
        defs = build_definitions(settings)
        if args.force:
            selection = sorted(pipeline_selection().resolve(defs.resolve_asset_graph()))
        else:
            plan = plan_run(defs, _instance(settings), settings.home)
            if not plan.selection:
                print("every asset is up to date (make run --force recomputes all); summary:")
                print(root.summary_md.read_text(encoding="utf-8"))
                _print_skipped(root)
                return 0
            selection = plan.selection
            print(f"materializing {len(selection)} assets:")
            for line in plan.explain():
                print(f"  {line}")
        ok = materialize_by_dataset(settings, list(selection), verbose=args.verbose, defs=defs)
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


def study_selection(job, select: str) -> list | None:
    """The study assets `select` names (comma-separated keys such as study/movielens_TERACON) and
    study/report, which reads every part; None (the whole group) when `select` is empty. An unknown
    key is refused with the study's keys listed."""
    from dagster import AssetKey

    if not select:
        return None
    known = {key.to_user_string(): key for key in job.asset_layer.executable_asset_keys}
    names = [name.strip() for name in select.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError("--select", "not a study asset", value=", ".join(unknown),
                         expected=f"comma-separated keys among {', '.join(sorted(known))}")
    return [known[name] for name in names] + [AssetKey(["study", "report"])] * ("study/report" not in names)


def cmd_study(args: argparse.Namespace) -> int:
    """The reproduction study: the Dagster job `study` (the asset group of the same name), its
    steps PCL_STUDY_WORKERS at once; then study.json and the Markdown report (PCL_STUDY_MARKDOWN)."""
    from dagster import execute_job, reconstructable

    from assets import definitions

    settings = Settings.from_env()
    selection = study_selection(definitions.defs.resolve_job_def(definitions.STUDY_JOB), args.select)
    t0 = time.perf_counter()
    with home_lock(settings.home, "study", wait=args.wait), \
            execute_job(reconstructable(definitions.study_job), instance=_instance(settings),
                        run_config=run_config(0, False),  # steps in processes: no shared count
                        asset_selection=selection) as result:
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
    predict = sub.add_parser("predict", help="score users with a stored task (as python -m pcl_pipeline predict)")
    add_predict_arguments(predict)
    part = sub.add_parser("run-part", help=argparse.SUPPRESS)  # make run's child: one dataset's chain
    part.add_argument("keys", nargs="+")
    part.add_argument("-v", "--verbose", action="store_true")
    add = sub.add_parser("add-task", help="add a task file to the catalog and materialize only its assets")
    add.add_argument("file")
    add.add_argument("--no-materialize", action="store_true", help="only validate and copy the file")
    study = sub.add_parser("study", help="the reproduction study (the Dagster job `study`): every method over "
                   "PCL_STUDY_SEEDS, the task-order study, transfer, study.json and the Markdown report")
    study.add_argument("--select", default="", metavar="KEYS",
                       help="only these comma-separated study assets (e.g. study/movielens_TERACON after adding a "
                       "method) and study/report, which reads every part; the others must be materialized already")
    for command in (run, add, study):
        command.add_argument("--wait", action="store_true",
                             help="wait for another run on the same PCL_HOME to finish instead of stopping")
    args = parser.parse_args(argv)
    commands = {"run": cmd_run, "run-part": cmd_run_part, "predict": run_predict, "validate-task": cmd_validate_task, "add-task": cmd_add_task, "study": cmd_study}
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
