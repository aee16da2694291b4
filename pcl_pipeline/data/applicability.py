"""Which catalog tasks this data can serve, decided before anything trains.

A task is not applicable when what its label needs is absent from the data: its source table
(ML-latest has no users table, so no gender task), or a column its label or filter reads (a
Tenrec file released without it, or with every value missing). Such a task is skipped with the
reason, visibly (asset metadata, report, summary.json `"status": "not_applicable"`); every other
failure still fails the run.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from pcl_pipeline.catalog import TaskSpec


def needed_columns(task: TaskSpec) -> list[str]:
    """The source columns a task's rows are built from, beyond the ids and order."""
    columns = [task.label.column] if task.label.column else []
    if task.label.filter is not None:
        columns.append(task.label.filter.column)
    return columns


def not_applicable_reason(con: duckdb.DuckDBPyConnection, raw_dir: Path, task: TaskSpec) -> str | None:
    """None when the standard tables in `raw_dir` hold what the task needs; else the reason."""
    source = task.label.source
    path = Path(raw_dir) / f"{source}.parquet"
    if not path.exists():
        present = sorted(p.stem for p in Path(raw_dir).glob("*.parquet"))
        return f"its source table {source!r} is not in this data (tables: {', '.join(present) or 'none'})"
    columns = {row[0] for row in con.execute("SELECT name FROM parquet_schema(?)", [str(path)]).fetchall()}
    for column in needed_columns(task):
        if column not in columns:
            return f"column {column!r} is not in table {source!r}"
        (values,) = con.execute(f'SELECT count("{column}") FROM read_parquet(?)', [str(path)]).fetchone()
        if values == 0:
            return f"column {column!r} of table {source!r} has no values in this data (all missing)"
    return None


def applicability(con: duckdb.DuckDBPyConnection, raw_dir: Path, tasks: list[TaskSpec]) -> dict[str, str | None]:
    """Task name -> None (applicable) or the reason it is not, for every task of a catalog."""
    return {task.name: not_applicable_reason(con, raw_dir, task) for task in tasks}
