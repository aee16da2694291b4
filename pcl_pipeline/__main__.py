"""Command line: `python -m pcl_pipeline run | validate-task FILE | add-task FILE`.

With definitions.py, the only module of pcl_pipeline that imports Dagster (it is an entry point
that drives the Dagster graph headlessly, recording runs in $DAGSTER_HOME like the UI does).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from pcl_pipeline.errors import InputError
from pcl_pipeline.layout import reports_dir
from pcl_pipeline.settings import Settings


def _instance():
    from dagster import DagsterInstance

    return DagsterInstance.get()  # $DAGSTER_HOME (the Makefile points it at dagster_home/)


def materialize_selection(settings: Settings, selection=None) -> bool:
    """Materialize the selected assets (all by default) of the graph built from `settings`."""
    from dagster import materialize

    from pcl_pipeline.definitions import build_definitions

    defs = build_definitions(settings)
    result = materialize(list(defs.assets), resources=defs.resources, instance=_instance(), selection=selection,
                         raise_on_error=False)
    return result.success


def cmd_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    t0 = time.perf_counter()
    ok = materialize_selection(settings)
    wall = time.perf_counter() - t0
    summary_md = reports_dir(settings.home) / "summary.md"
    if not ok:
        print(f"materialization failed after {wall:.1f} s; see the run's logs (make dev, Runs tab)", file=sys.stderr)
        return 1
    print(summary_md.read_text(encoding="utf-8"))
    print(f"whole graph materialized in {wall:.1f} s; summary: {summary_md.with_suffix('.json')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="pcl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="materialize the whole graph of both datasets and print the summary")
    args = parser.parse_args(argv)
    try:
        return {"run": cmd_run}[args.command](args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
