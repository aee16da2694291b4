"""T1 behaviour events: typed, validated, deduplicated, ordered, with ids remapped from 1."""
from __future__ import annotations

from pathlib import Path

import duckdb

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.data.parquet import copy_query_to_parquet
from pcl_pipeline.errors import InputError


def parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    return [row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]


def order_columns(columns: list[str], seed: int) -> str:
    """Behaviour order of a source table: time where there is one, else file order.

    MovieLens ties on timestamp are broken by a seeded hash of (user, item), never by item id:
    on ML-100K half of the test items share their predecessor's timestamp, and id order would
    make "a larger id comes next" learnable (PAPER.md). md5 is stable across DuckDB versions and
    machines. Tenrec has no timestamp and its rows are in click order, so the file line is the order.
    """
    if "timestamp" not in columns:
        return "line"
    # The seed is an int rendered by us, not user text: safe to inline into the SQL.
    tie = f"md5('{int(seed)}:' || CAST(user_id AS VARCHAR) || ':' || CAST(item_id AS VARCHAR))"
    return f"timestamp, {tie}, line"


def filter_sql(task: TaskSpec, columns: list[str]) -> tuple[str, list[object]]:
    """SQL predicate and its bound parameters for a task's label filter (column checked first)."""
    flt = task.label.filter
    if flt is None:
        return "TRUE", []
    if flt.column not in columns:
        raise InputError(task.file, "label.filter names a column the source table does not have",
                         field="label.filter.column", value=flt.column, expected=f"one of {columns}")
    op = "=" if flt.op == "==" else flt.op
    return f"\"{flt.column}\" {op} ?", [flt.value]


def build_interactions(con: duckdb.DuckDBPyConnection, t1: TaskSpec, source: Path, out: Path, *, seed: int) -> int:
    """Write the T1 events of `source` that pass T1's filter to `out`; return the row count.

    Output columns: user_idx, item_idx (dense, from 1; 0 is padding), pos (0-based position in
    the user's ordered history), n_events, hist_len (events that form the T1 behaviour sequence:
    all of them, or the first `history_cut` fraction), then every column of the source table.
    A user's repeated (user, item) events are reduced to the first one; users with fewer than
    `min_events` events are dropped. `seed` breaks timestamp ties (order_columns).
    """
    columns = parquet_columns(con, source)
    order = order_columns(columns, seed)
    where, params = filter_sql(t1, columns)
    cut = t1.label.history_cut
    hist = "n_events" if cut is None else "CAST(floor(? * n_events) AS BIGINT)"
    query = f"""
        WITH src AS (
            SELECT * FROM read_parquet(?) WHERE {where}
            QUALIFY row_number() OVER (PARTITION BY user_id, item_id ORDER BY {order}) = 1
        ), ordered AS (
            SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY {order}) - 1 AS pos,
                   count(*) OVER (PARTITION BY user_id) AS n_events
            FROM src
        ), kept AS (
            SELECT *, {hist} AS hist_len FROM ordered WHERE n_events >= ?
        )
        SELECT dense_rank() OVER (ORDER BY user_id) AS user_idx,
               dense_rank() OVER (ORDER BY item_id) AS item_idx,
               * EXCLUDE (pos, n_events, hist_len), pos, n_events, hist_len
        FROM kept
        ORDER BY user_idx, pos
    """
    all_params: list[object] = [str(source), *params] + ([cut] if cut is not None else []) + [t1.label.min_events]
    return copy_query_to_parquet(con, query, all_params, out)
